package harness

import (
	"context"
	"io"
	"os"
	"os/signal"
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

// floorReadersChild is the test binary as Floor's readers: until its stdin
// closes, as command loadtest/floor's -readers.
func floorReadersChild(urls []string) int {
	decode, _ := strconv.ParseBool(os.Getenv(floorReadersEnv + "_DECODE"))
	coalesce, _ := time.ParseDuration(os.Getenv(floorReadersEnv + "_COALESCE"))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		io.Copy(io.Discard, os.Stdin) //nolint:errcheck // any end will do
		cancel()
	}()
	if err := FloorReaders(ctx, urls, decode, coalesce, os.Stdout); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	return 0
}
