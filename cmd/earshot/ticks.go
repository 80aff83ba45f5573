package main

import "runtime"

// The Go runtime converts CPU ticks (the TSC) to time with a rate it
// computes once, on first use, from the TSC and the monotonic clock read
// at process start: it waits, sleeping a millisecond at a time, until the
// TSC has passed its start value (Go 1.26, runtime.ticksPerSecond). On a
// VM restored onto a host whose TSC is behind the one it was paused on (a
// Firecracker snapshot, as on the machine these docs measure on), that
// can take forever: the first SetBlockProfileRate above 1 ns, or the
// first block or mutex profile written, never returns. A CI run on
// 2026-12-03 hung so for 6 minutes in profiler.Start, under
// TestProfilesCarryStreamAndStageLabels, until it was killed.
//
// So earshot makes the runtime compute the rate at start, before a pause
// and restore are likely: it sets a block-profile rate, which needs the
// rate, and unsets it. This costs at most the runtime's 5 ms
// minimum since the process started.
func init() {
	runtime.SetBlockProfileRate(2)
	runtime.SetBlockProfileRate(0)
}
