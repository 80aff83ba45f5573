package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// These make the test binary run earshot instead of the tests, so that
// tests can run earshot as a child process, signal it and kill it without
// building a binary: envRunMain runs the command line given as arguments,
// childConfigEnv runs `earshot run --config $EARSHOT_TEST_RUN_CONFIG`.
const (
	envRunMain     = "EARSHOT_TEST_RUN_MAIN"
	childConfigEnv = "EARSHOT_TEST_RUN_CONFIG"
)

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
	}
	if cfg := os.Getenv(childConfigEnv); cfg != "" {
		os.Exit(cli([]string{"run", "--config", cfg}, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}
