// Package testkit holds the helpers every earshot test package shares:
// a log destination safe to read while goroutines write to it, and a wait on
// a condition with a deadline. It imports only the standard library, so
// that any package's tests (sink's, which build without cgo, included) can
// use it.
package testkit

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer safe for the concurrent writes of a logger
// and the reads of the test. Its zero value is ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pollInterval is how often WaitFor evaluates its condition.
const pollInterval = 10 * time.Millisecond

// WaitFor evaluates cond every 10 ms until it returns true, and fails the
// test with "timed out after <timeout> waiting for <what>" if it has not
// by timeout. cond runs on the test's goroutine.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Poll evaluates cond every 10 ms until it returns true or timeout has
// passed, and reports whether it returned true. Use it where a timeout is
// an outcome to report rather than a test failure (in a helper that
// returns an error, or off the test's goroutine).
func Poll(timeout time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if cond() {
				return true
			}
		case <-deadline.C:
			return cond()
		}
	}
}
