package testkit_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot/earshot/loadtest/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a testing.TB whose Fatalf records the message and stops the
// calling goroutine, as testing.T's does.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runFatal runs f on its own goroutine, as testing does, so that Fatalf's
// Goexit ends only f, and returns the recorded failure.
func runFatal(f func(tb testing.TB)) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.failed
}

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	start := time.Now()
	msg := runFatal(func(tb testing.TB) {
		testkit.WaitFor(tb, 10*time.Second, "three calls", func() bool { return calls.Add(1) >= 3 })
	})
	if msg != "" {
		t.Fatalf("WaitFor failed: %s", msg)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("cond called %d times, want 3 (it stops at the first true)", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("WaitFor took %v for a condition true on the third poll", d)
	}
}

func TestWaitForFailsWithWhatItWaitedFor(t *testing.T) {
	start := time.Now()
	msg := runFatal(func(tb testing.TB) {
		testkit.WaitFor(tb, 50*time.Millisecond, "the impossible", func() bool { return false })
		tb.(*recorder).failed = "WaitFor returned"
	})
	if want := "timed out after 50ms waiting for the impossible"; msg != want {
		t.Errorf("failure %q, want %q", msg, want)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("WaitFor gave up after %v, before its 50ms timeout", d)
	}
}

func TestPollReportsTheOutcome(t *testing.T) {
	if !testkit.Poll(0, func() bool { return true }) {
		t.Error("Poll(0, true) = false: a condition true at once holds")
	}
	if testkit.Poll(20*time.Millisecond, func() bool { return false }) {
		t.Error("Poll of a condition never true = true")
	}
}

func TestInChildRunsTheTestInAChildProcessWithItsEnvironment(t *testing.T) {
	parent := strconv.Itoa(os.Getpid())
	if !testkit.InChild(t, "EARSHOT_TESTKIT_PARENT="+parent) {
		return
	}
	switch got := os.Getenv("EARSHOT_TESTKIT_PARENT"); {
	case got == "":
		t.Fatal("the child has not the environment it was given")
	case got == parent:
		t.Fatal("the child half ran in the parent process")
	}
}

func TestMappedFilesListsTheTestBinaryOnce(t *testing.T) {
	self := filepath.Base(os.Args[0])
	got := testkit.MappedFiles(t, func(name string) bool { return name == self })
	if len(got) != 1 || got[0] != self {
		t.Errorf("MappedFiles = %v, want [%s]: the executable is mapped (several times)", got, self)
	}
}

func TestUnloadableLibraryIsAnEmptyFileOfThatName(t *testing.T) {
	dir := testkit.UnloadableLibrary(t, "libnothing.so.0")
	fi, err := os.Stat(filepath.Join(dir, "libnothing.so.0"))
	if err != nil || fi.Size() != 0 {
		t.Errorf("UnloadableLibrary: %v, %v; want an empty file", fi, err)
	}
}

func TestSyncBufferKeepsConcurrentWrites(t *testing.T) {
	var b testkit.SyncBuffer
	const writers, lines = 8, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range lines {
				fmt.Fprintf(&b, "w%d\n", w)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != writers*lines {
		t.Errorf("%d lines, want %d", n, writers*lines)
	}
}
