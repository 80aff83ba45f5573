//go:build gstreamer

package gst

import (
	"slices"
	"testing"
	"time"
)

// TestCallFromACThreadIntoGoIsCheap measures the cost of entering Go from
// a C thread, as GStreamer's streaming threads do for every sample: the
// first call on a thread (the runtime binds an M to it) and the following
// ones. The figures go to docs/gstreamer.md.
func TestCallFromACThreadIntoGoIsCheap(t *testing.T) {
	const threads, calls = 20, 5000
	var firsts, rest []time.Duration
	for range threads {
		d := callCost(calls)
		if d == nil {
			t.Fatal("cannot start a C thread")
		}
		firsts = append(firsts, d[0])
		rest = append(rest, d[1:]...)
	}
	slices.Sort(firsts)
	slices.Sort(rest)
	q := func(s []time.Duration, p float64) time.Duration { return s[int(p*float64(len(s)-1))] }
	p50, p999 := q(rest, 0.5), q(rest, 0.999)
	t.Logf("C->Go call: p50 %v, p99.9 %v, max %v over %d calls; first call on a new thread: p50 %v, max %v over %d threads",
		p50, p999, rest[len(rest)-1], len(rest), q(firsts, 0.5), firsts[len(firsts)-1], threads)
	// A 20 ms packet period leaves room for far more; these bounds catch a
	// regression to a per-call thread setup (tens of microseconds).
	if p50 > 20*time.Microsecond {
		t.Errorf("p50 %v, want under 20 µs", p50)
	}
	if q(firsts, 0.5) < p50 {
		t.Errorf("first calls (p50 %v) cheaper than later ones (%v): the measurement is broken", q(firsts, 0.5), p50)
	}
}
