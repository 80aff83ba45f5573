//go:build race

package handoff

// raceEnabled says the race detector is on.
const raceEnabled = true
