package loadtest

import "time"

// maxCatchUp bounds how much late audio the pacer sends in one burst after
// it fell behind (GC pause, overloaded host). Older rounds are skipped. A
// second of burst is what a camera behind a congested link delivers too;
// skipping sooner would turn every scheduling hiccup of a loaded test host
// into loss.
const maxCatchUp = time.Second

// pacer maps wall-clock time to packet rounds. Round r is due at
// start + r*period; every stream sends one packet per round. It is pure
// arithmetic, owned by the server's pacer goroutine.
type pacer struct {
	start  time.Time
	period time.Duration
	// maxBurst is the most rounds sent in one call to due.
	maxBurst int64
	// next is the first round not yet sent or skipped.
	next int64
}

func newPacer(start time.Time, period time.Duration) *pacer {
	return &pacer{
		start:    start,
		period:   period,
		maxBurst: max(1, int64(maxCatchUp/period)),
	}
}

// due returns the rounds to send at now, [first, end), and how many rounds
// before first were skipped because they were owed beyond maxBurst. Skipped
// rounds are never sent, but keep their place in time: the next round sent
// carries its real-time RTP timestamp.
func (p *pacer) due(now time.Time) (first, end, skipped int64) {
	end = int64(now.Sub(p.start)/p.period) + 1
	if end <= p.next {
		return p.next, p.next, 0
	}
	if owed := end - p.next; owed > p.maxBurst {
		skipped = owed - p.maxBurst
		p.next += skipped
	}
	first = p.next
	p.next = end
	return first, end, skipped
}

// roundTime returns when round r is due.
func (p *pacer) roundTime(r int64) time.Time {
	return p.start.Add(time.Duration(r) * p.period)
}
