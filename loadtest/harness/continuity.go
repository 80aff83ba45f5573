package harness

import (
	"fmt"
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// MaxEpochOverlap is how long two epochs of one stream may both hold audio
// of the same capture time: beyond it two instances of a fleet pulled the
// stream at once (issue 11's bound).
const MaxEpochOverlap = 500 * time.Millisecond

// EpochSpan is one epoch of a stream as the topic holds it.
type EpochSpan struct {
	Epoch uint64
	// Instance is the fleet instance that pulled it (the earshot.instance
	// header), "" outside a fleet.
	Instance string
	// First and Last are the capture time of the epoch's first audio
	// sample and of the end of its last; zero without audio.
	First, Last time.Time
	// End is the reason of its end record; "" when it has none (still
	// open, or its instance was killed).
	End string
	// Gaps counts its gap records.
	Gaps int
}

// AddRecord adds r to the epochs of its stream, spans (in the order the
// topic holds them), and returns them.
func AddRecord(spans []EpochSpan, r *schema.Record) []EpochSpan {
	i := len(spans) - 1
	for i >= 0 && spans[i].Epoch != r.Epoch {
		i--
	}
	if i < 0 {
		spans = append(spans, EpochSpan{Epoch: r.Epoch, Instance: r.Instance})
		i = len(spans) - 1
	}
	ep := &spans[i]
	switch r.Kind {
	case schema.KindAudio:
		if ep.First.IsZero() {
			ep.First = r.CaptureTime
		}
		samples := len(r.PCM) / 2 / max(r.Channels, 1)
		if end := r.CaptureTime.Add(time.Duration(samples) * time.Second / time.Duration(max(r.SampleRate, 1))); end.After(ep.Last) {
			ep.Last = end
		}
	case schema.KindGap:
		ep.Gaps++
	case schema.KindEnd:
		ep.End = r.Reason
	}
	return spans
}

// EpochSpans returns each stream's epochs in the order of recs.
func EpochSpans(recs []schema.Record) map[string][]EpochSpan {
	out := make(map[string][]EpochSpan)
	for i := range recs {
		out[recs[i].Stream] = AddRecord(out[recs[i].Stream], &recs[i])
	}
	return out
}

// Handover is where one epoch of a stream with audio follows another.
type Handover struct {
	FromEpoch, ToEpoch uint64
	// From and To are the instances of the two epochs; they differ when
	// the owner changed.
	From, To string
	// LastOld is the capture time of the end of the old epoch's last
	// audio, FirstNew that of the new epoch's first.
	LastOld, FirstNew time.Time
	// OldEnd is the old epoch's end reason ("" without an end record).
	OldEnd string
}

// Gap is the audio missing between the two epochs; negative when they
// overlap.
func (h Handover) Gap() time.Duration { return h.FirstNew.Sub(h.LastOld) }

// OwnerChanged reports whether another instance pulled the new epoch.
func (h Handover) OwnerChanged() bool { return h.From != h.To }

func (h Handover) String() string {
	return fmt.Sprintf("epoch %d (%s, to %s, end %q) → epoch %d (%s, from %s)", h.FromEpoch, h.From,
		h.LastOld.Format(time.StampMilli), h.OldEnd, h.ToEpoch, h.To, h.FirstNew.Format(time.StampMilli))
}

// Continuity is the check of one stream's epochs across the owners that
// pulled it.
type Continuity struct {
	// Handovers are the pairs of consecutive epochs with audio where the
	// owner changed: the failovers and moves.
	Handovers []Handover
	// Restarts are the pairs where the same instance began a new epoch
	// although the old one did not end with reason removed: a gap no
	// owner change explains (a fault on the camera may).
	Restarts []Handover
	// Problems break the rules: epochs out of order, two epochs
	// overlapping by more than MaxEpochOverlap (pulled twice).
	Problems []string
}

// maxProblems bounds the problems kept per stream.
const maxProblems = 5

// CheckContinuity checks one stream's epochs, in the order the topic holds
// them: epochs increase, no two with audio overlap in capture time by more
// than MaxEpochOverlap, and the audio stops only where the owner changed,
// where the stream was removed, or at a restart the caller must explain
// (Restarts). Gaps within an epoch (EpochSpan.Gaps) are the caller's to
// judge, against the faults on the camera.
func CheckContinuity(spans []EpochSpan) Continuity {
	var c Continuity
	problem := func(format string, args ...any) {
		if len(c.Problems) < maxProblems {
			c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
		}
	}
	var prev *EpochSpan
	for i := range spans {
		ep := &spans[i]
		if i > 0 && ep.Epoch <= spans[i-1].Epoch {
			problem("epoch %d follows epoch %d", ep.Epoch, spans[i-1].Epoch)
		}
		if ep.First.IsZero() {
			continue
		}
		if prev != nil {
			h := Handover{FromEpoch: prev.Epoch, ToEpoch: ep.Epoch, From: prev.Instance, To: ep.Instance, LastOld: prev.Last, FirstNew: ep.First, OldEnd: prev.End}
			if -h.Gap() > MaxEpochOverlap {
				problem("pulled twice: %s overlap by %s", h, -h.Gap())
			}
			switch {
			case h.OwnerChanged():
				c.Handovers = append(c.Handovers, h)
			case h.OldEnd != schema.ReasonRemoved:
				c.Restarts = append(c.Restarts, h)
			}
		}
		prev = ep
	}
	return c
}
