package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// envRunMain makes the test binary run earshot's command line instead of
// the tests, so that tests can run earshot as a child process and signal
// it without building a binary.
const envRunMain = "EARSHOT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}
