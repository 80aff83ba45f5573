// Package testkit holds the helpers every earshot test package shares:
// a log destination safe to read while goroutines write to it, a wait on
// a condition with a deadline, a test run in a child process and what the
// dynamic loader did in it. It imports only the standard library, so
// that any package's tests (sink's, which build without cgo, included) can
// use it.
package testkit

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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

// childEnv holds, in a child process of InChild, the name of the test it
// runs.
const childEnv = "EARSHOT_TESTKIT_CHILD"

// InChild runs the top-level test t alone in a child process of the test
// binary, with env added to its environment, fails t unless the child
// passed it, and returns false; in that child it returns true, and the
// test goes on with its child half. It is for what holds only from a
// process's start: an environment the dynamic loader reads
// (LD_LIBRARY_PATH), or which libraries a process has mapped.
func InChild(t *testing.T, env ...string) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), childEnv+"="+t.Name()), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()+" ") {
		t.Fatalf("child did not run the test:\n%s", out)
	}
	return false
}

// UnloadableLibrary returns a new directory holding an empty file named
// soname, which the dynamic loader of a process started with the directory
// on LD_LIBRARY_PATH finds first and refuses ("file too short").
func UnloadableLibrary(t testing.TB, soname string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, soname), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// MappedFiles returns the base names of the files mapped into the process
// (/proc/self/maps) for which match is true, sorted, each once.
func MappedFiles(t testing.TB, match func(name string) bool) []string {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for l := range strings.Lines(string(maps)) {
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		if name := filepath.Base(f[5]); match(name) && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// DocSection checks that the file at path holds want between the lines
// begin and end (each ending in a newline), as generated documentation
// does. With update it rewrites the section instead of failing.
func DocSection(t testing.TB, path, begin, end, want string, update bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(b), begin)
	section, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no section between %q and %q", path, begin, end)
	}
	if section == want {
		return
	}
	if update {
		if err := os.WriteFile(path, []byte(before+begin+want+end+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the section of %s between %q and %q is out of date; run the test with its update flag. Want:\n%s", path, begin, end, want)
}
