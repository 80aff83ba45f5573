//go:build gstreamer

package gst

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest/loadtesttest"
)

// cpuTime is the process's user+system CPU time so far.
func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCostPerStreamAgainstGortsplib pulls the same cameras through each
// backend in turn and reports CPU and resident memory per stream. It runs
// only with EARSHOT_GST_PERF=<streams> (for example 50): it takes 25 s and
// its figures mean something only on a quiet machine.
func TestCostPerStreamAgainstGortsplib(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("EARSHOT_GST_PERF"))
	if n <= 0 {
		t.Skip("set EARSHOT_GST_PERF=<streams> to measure")
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("pcmu-%d", i)
	}
	cams := loadtesttest.Cameras(t, names...)
	const window = 10 * time.Second
	for _, bname := range []string{"gortsplib", "gstreamer"} {
		var b backend
		if bname == "gstreamer" {
			b = newGst(t, Options{})
		} else {
			b = newGortsplib(t)
		}
		runtime.GC()
		base := measure(t)
		var frames atomic.Int64
		var hs []sdk.Handle
		for _, name := range names {
			h, err := b.OpenContext(context.Background(), cams.URL(name), sdk.OpenOptions{Transport: sdk.TransportTCP,
				OnData: func(sdk.Handle, *sdk.Frame) { frames.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, h)
		}
		time.Sleep(time.Second) // settle: the measurement's own window, not a synchronisation
		c0, f0 := cpuTime(t), frames.Load()
		time.Sleep(window)
		c1, f1 := cpuTime(t), frames.Load()
		now := measure(t)
		for _, h := range hs {
			b.Close(h)
		}
		// The cameras run in this process too; their share is the same
		// for both backends.
		t.Logf("%s: %d streams, %d frames in %v: CPU %.2f%% of a core per stream (cameras included), RSS +%d KiB per stream, %d threads (+%d)",
			bname, n, f1-f0, window, 100*float64(c1-c0)/float64(window)/float64(n),
			(now.rssKiB-base.rssKiB)/n, now.threads, now.threads-base.threads)
		if f1-f0 < int64(n)*int64(window/(20*time.Millisecond))*9/10 {
			t.Errorf("%s delivered %d frames, want about %d", bname, f1-f0, int64(n)*int64(window/(20*time.Millisecond)))
		}
	}
}
