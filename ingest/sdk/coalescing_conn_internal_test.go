package sdk

import (
	"testing"
	"time"
)

// TestReadCoalescingGridShortensWaitsByLessThanAStep: a wait ends on
// a line of the grid (a step of delay): it is shortened by less than a
// step, never lengthened.
func TestReadCoalescingGridShortensWaitsByLessThanAStep(t *testing.T) {
	for _, delay := range []time.Duration{time.Millisecond, 40 * time.Millisecond, maxReadCoalesce} {
		rc := newReadCoalescer(delay, nil)
		step := delay
		for _, d := range []time.Duration{time.Nanosecond, step / 2, step, delay / 2, delay} {
			got := rc.onGrid(d)
			if got > d || got <= d-step {
				t.Errorf("delay %v: a wait of %v became %v, want within (%v, %v]", delay, d, got, d-step, d)
			}
		}
	}
}
