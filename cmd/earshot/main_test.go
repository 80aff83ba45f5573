package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// childConfigEnv, when set, makes the test binary run `earshot run
// --config $EARSHOT_TEST_RUN_CONFIG` instead of the tests: the restart and
// signal tests run earshot as a child process they can kill.
const childConfigEnv = "EARSHOT_TEST_RUN_CONFIG"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childConfigEnv); cfg != "" {
		os.Exit(cli([]string{"run", "--config", cfg}, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}
