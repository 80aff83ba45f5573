package harness

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if urls, ok := os.LookupEnv(floorReadersEnv); ok {
		os.Exit(floorReadersChild(strings.Fields(urls)))
	}
	goleak.VerifyTestMain(m)
}

// floorReadersEnv, in a child process of the test binary, holds the URLs
// it reads as Floor's readers (floorReadersCommand).
const floorReadersEnv = "EARSHOT_FLOOR_READERS"

// floorReadersChild is the test binary as Floor's readers, as command
// loadtest/floor's -readers.
func floorReadersChild(urls []string) int {
	decode, _ := strconv.ParseBool(os.Getenv(floorReadersEnv + "_DECODE"))
	coalesce, _ := time.ParseDuration(os.Getenv(floorReadersEnv + "_COALESCE"))
	if err := FloorReadersMain(urls, decode, coalesce); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	return 0
}
