package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdminAddrFromLogLines(t *testing.T) {
	for line, want := range map[string]string{
		`{"time":"…","level":"INFO","msg":"earshot running","streams":4,"admin":"127.0.0.1:4321"}`: "127.0.0.1:4321",
		`time=… level=INFO msg="earshot running" streams=4 topic=t admin=127.0.0.1:555`:            "127.0.0.1:555",
		`{"msg":"stream connected","admin":"127.0.0.1:1"}`:                                         "",
	} {
		if got := adminAddr(line); got != want {
			t.Errorf("%s: %q, want %q", line, got, want)
		}
	}
}

// TestRunReportsABuildThatDoesNotStart: a binary that exits at once is an
// error naming what it said, and nothing is left running.
func TestRunReportsABuildThatDoesNotStart(t *testing.T) {
	s, err := ParseScenario([]byte("duration: 1s\nstreams: 1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), Options{Scenario: s, Out: t.TempDir(), Targets: []Target{{Binary: "/bin/false"}}})
	if err == nil || !strings.Contains(err.Error(), "earshot exited before it was running (exit status 1)") {
		t.Errorf("error %v", err)
	}
	_, err = Run(context.Background(), Options{Scenario: s, Out: t.TempDir(), Targets: []Target{{Binary: "/nonexistent/earshot"}}})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/earshot") {
		t.Errorf("error %v", err)
	}
	_, err = Run(context.Background(), Options{Scenario: s, Listen: "0.0.0.0:0", Targets: []Target{{Binary: "/bin/false"}}})
	if err == nil || !strings.Contains(err.Error(), "not on loopback") {
		t.Errorf("error %v", err)
	}
	if _, err = Run(context.Background(), Options{Scenario: s, Targets: []Target{{Topic: "t"}}}); err == nil {
		t.Error("a black-box target without brokers runs")
	}
}

func TestSharesHarnessBinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !sharesHarnessBinary(self) {
		t.Errorf("the test binary %s is not seen as the harness's own executable", self)
	}
	other := filepath.Join(t.TempDir(), "earshot-measured")
	if err := os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if sharesHarnessBinary(other) || sharesHarnessBinary(filepath.Join(t.TempDir(), "missing")) {
		t.Error("another file is seen as the harness's own executable")
	}
}
