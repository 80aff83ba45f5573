//go:build gstreamer

package gst

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
)

// resources are what an open/close cycle could leak.
type resources struct {
	threads, goroutines, fds int
	rssKiB                   int
}

func measure(t testing.TB) resources {
	t.Helper()
	count := func(dir string) int {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(statm))
	pages, _ := strconv.Atoi(f[1])
	return resources{threads: count("/proc/self/task"), goroutines: runtime.NumGoroutine(),
		fds: count("/proc/self/fd"), rssKiB: pages * os.Getpagesize() / 1024}
}

// cycle opens a camera, waits for a frame and closes it.
func cycle(t testing.TB, s *SDK, url string) {
	got := make(chan struct{}, 1)
	h, err := s.OpenContext(context.Background(), url, sdk.OpenOptions{Transport: sdk.TransportTCP,
		OnData: func(sdk.Handle, *sdk.Frame) {
			select {
			case got <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no frame in 10 s")
	}
	if _, err := s.Close(h); err != nil {
		t.Fatal(err)
	}
}

// cycles is how many open/close cycles TestOpenCloseCyclesLeakNothing
// runs: 20, or EARSHOT_GST_CYCLES (200 for the full check).
func cycles() int {
	if n, err := strconv.Atoi(os.Getenv("EARSHOT_GST_CYCLES")); err == nil && n > 0 {
		return n
	}
	return 20
}

// TestOpenCloseCyclesLeakNothing opens and closes a stream many times and
// checks that OS threads, goroutines, file descriptors and memory come
// back to what one warm-up cycle left: GStreamer loads its plugins and
// keeps a few pooled threads on the first use.
func TestOpenCloseCyclesLeakNothing(t *testing.T) {
	cams := loadtesttest.Cameras(t, audio.CodecPCMU)
	s := newGst(t, Options{})
	url := cams.URL(audio.CodecPCMU)
	for range 3 { // warm-up: plugin registry, thread pools
		cycle(t, s, url)
	}
	runtime.GC()
	base := measure(t)
	n := cycles()
	start := time.Now()
	for range n {
		cycle(t, s, url)
	}
	elapsed := time.Since(start)
	var now resources
	// GStreamer's pooled threads and the Go runtime's Ms of exited C
	// threads go away on their own: wait for them, with a bound.
	ok := testkit.Poll(20*time.Second, func() bool {
		runtime.GC()
		now = measure(t)
		return now.threads <= base.threads+2 && now.goroutines <= base.goroutines && now.fds <= base.fds
	})
	t.Logf("%d cycles in %v: threads %d -> %d, goroutines %d -> %d, fds %d -> %d, RSS %d -> %d KiB",
		n, elapsed.Round(time.Millisecond), base.threads, now.threads, base.goroutines, now.goroutines,
		base.fds, now.fds, base.rssKiB, now.rssKiB)
	if !ok {
		t.Errorf("resources did not return to baseline after %d cycles", n)
	}
	// Memory: a leak of one pipeline per cycle (~100 KiB of elements,
	// pads and caps) would show as n*100 KiB.
	if grew := now.rssKiB - base.rssKiB; grew > 8*1024 {
		t.Errorf("RSS grew by %d KiB over %d cycles", grew, n)
	}
}

// TestLeaksTracerReportsNothing runs open/close cycles in a child process
// with GStreamer's leaks tracer, and checks that it reports no object
// alive at gst_deinit.
func TestLeaksTracerReportsNothing(t *testing.T) {
	if os.Getenv("EARSHOT_GST_LEAKS_CHILD") == "1" {
		cams := loadtesttest.Cameras(t, audio.CodecPCMU)
		s, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			cycle(t, s, cams.URL(audio.CodecPCMU))
		}
		s.Shutdown()
		deinit()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLeaksTracerReportsNothing$", "-test.count=1")
	cmd.Env = append(os.Environ(), "EARSHOT_GST_LEAKS_CHILD=1", "GST_TRACERS=leaks", "GST_DEBUG=GST_TRACER:7", "GST_DEBUG_NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var alive []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "object-alive, type-name=(string)") && !strings.Contains(l, "format") {
			alive = append(alive, l)
		}
	}
	if !strings.Contains(string(out), "new format string: object-alive") {
		t.Fatalf("the leaks tracer did not load:\n%s", out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("child did not pass:\n%s", out)
	}
	if len(alive) > 0 {
		t.Errorf("leaks tracer: %d objects alive at gst_deinit:\n%s", len(alive), strings.Join(alive[:min(len(alive), 20)], "\n"))
	}
}
