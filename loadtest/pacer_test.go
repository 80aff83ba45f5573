package loadtest

import (
	"testing"
	"time"
)

func TestPacerDue(t *testing.T) {
	const period = 20 * time.Millisecond
	type call struct {
		at                  time.Duration // since start
		first, end, skipped int64
	}
	cases := []struct {
		name  string
		calls []call
	}{
		{
			name:  "round 0 is due at start",
			calls: []call{{at: 0, first: 0, end: 1}},
		},
		{
			name: "on-time ticks send one round each",
			calls: []call{
				{at: 0, first: 0, end: 1},
				{at: 20 * time.Millisecond, first: 1, end: 2},
				{at: 41 * time.Millisecond, first: 2, end: 3},
			},
		},
		{
			name: "an early or repeated tick sends nothing",
			calls: []call{
				{at: 0, first: 0, end: 1},
				{at: 19 * time.Millisecond, first: 1, end: 1},
				{at: 19 * time.Millisecond, first: 1, end: 1},
			},
		},
		{
			name: "a late tick catches up with every round owed",
			calls: []call{
				{at: 0, first: 0, end: 1},
				{at: 100 * time.Millisecond, first: 1, end: 6},
			},
		},
		{
			name: "a tick later than 1 s skips the oldest rounds and keeps real time",
			calls: []call{
				{at: 0, first: 0, end: 1},
				{at: 3 * time.Second, first: 101, end: 151, skipped: 100},
				{at: 3*time.Second + 20*time.Millisecond, first: 151, end: 152},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Unix(1700000000, 0)
			p := newPacer(start, period)
			for i, c := range tc.calls {
				first, end, skipped := p.due(start.Add(c.at))
				if first != c.first || end != c.end || skipped != c.skipped {
					t.Fatalf("call %d at +%v: due = [%d, %d) skipped %d, want [%d, %d) skipped %d",
						i, c.at, first, end, skipped, c.first, c.end, c.skipped)
				}
			}
		})
	}
}

func TestPacerRoundTime(t *testing.T) {
	start := time.Unix(1700000000, 0)
	p := newPacer(start, 20*time.Millisecond)
	if got, want := p.roundTime(50), start.Add(time.Second); !got.Equal(want) {
		t.Fatalf("roundTime(50) = %v, want %v", got, want)
	}
}
