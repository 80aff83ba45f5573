package consumer

import (
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// PieceKind says what a Piece is.
type PieceKind string

const (
	// PieceAudio carries samples.
	PieceAudio PieceKind = "audio"
	// PieceGap is a stretch without audio; Reason says why.
	PieceGap PieceKind = "gap"
	// PieceEnd says the epoch ended; Reason says why (e.g. schema.ReasonShutdown).
	PieceEnd PieceKind = "end"
)

// Piece is a part of a stream's timeline. Each piece of a stream starts
// where the previous one ended: within an epoch at the previous piece's
// Offset+Samples, and after a schema.ReasonBetweenEpochs gap (which extends the
// old epoch) at the new epoch's first sample.
type Piece struct {
	Kind   PieceKind
	Stream string
	Epoch  uint64
	// Offset is the sample offset of the first sample in the epoch;
	// Samples the length in samples per channel (0 for PieceEnd).
	Offset  int64
	Samples int64
	// SampleRate and Channels are the format of the stream.
	SampleRate int
	Channels   int
	// CaptureTime is the capture time of the first sample.
	CaptureTime time.Time
	// PCM holds the audio of a PieceAudio (s16le, channels interleaved).
	PCM []byte
	// Reason says why a gap or an end happened.
	Reason string
}

// Duration is the length of the piece.
func (p Piece) Duration() time.Duration {
	return time.Duration(p.Samples) * time.Second / time.Duration(p.SampleRate)
}

// Reassembler turns the records of each stream into a continuous timeline
// of Pieces: audio placed by its offset, earshot's gap records, gaps for
// holes no record explains, and the time between epochs. Feed it
// deduplicated events in each stream's order. The zero value is ready to
// use; it is not safe for concurrent use.
type Reassembler struct {
	streams map[string]*timeline
	// Overlaps counts records that overlapped audio already yielded
	// (possible only after a crash of earshot during a spool drop); their
	// overlapping part is dropped. Stale counts records of an epoch older
	// than the stream's current one, which are dropped.
	Overlaps uint64
	Stale    uint64
}

// timeline is the state of one stream.
type timeline struct {
	epoch      uint64
	next       int64     // offset where the next piece starts
	endCapture time.Time // capture time at next
	rate       int
	channels   int
	// gap is a gap record's piece, held until the next record gives its
	// exact length (gap records carry whole milliseconds).
	gap *Piece
}

// Add adds e and calls yield for every piece it completes, in order.
func (r *Reassembler) Add(e Event, yield func(Piece)) {
	rec := e.Fields()
	if r.streams == nil {
		r.streams = make(map[string]*timeline)
	}
	t := r.streams[rec.Stream]
	switch {
	case t == nil:
		// The first record seen: the timeline starts here, wherever in the
		// stream the consumer began.
		t = &timeline{epoch: rec.Epoch, next: rec.Offset}
		r.streams[rec.Stream] = t
	case rec.Epoch < t.epoch:
		r.Stale++
		return
	case rec.Epoch > t.epoch:
		r.newEpoch(t, rec, yield)
	}
	t.rate, t.channels = rec.SampleRate, rec.Channels
	piece := func(kind PieceKind, offset, samples int64, capture time.Time) Piece {
		return Piece{Kind: kind, Stream: rec.Stream, Epoch: t.epoch, Offset: offset, Samples: samples,
			SampleRate: t.rate, Channels: t.channels, CaptureTime: capture}
	}
	slack := int64(t.rate / 1000) // a gap record's length is rounded down to the millisecond
	o := rec.Offset
	if g := t.gap; g != nil {
		t.gap = nil
		switch exact := o - g.Offset; {
		case exact > g.Samples+slack:
			yield(*g) // and the rest is missing, below
		case exact > 0:
			g.Samples = exact
			yield(*g)
			t.next = o
		default:
			yield(*g)
		}
	}
	if o > t.next {
		m := piece(PieceGap, t.next, o-t.next, t.endCapture)
		m.Reason = schema.ReasonMissing
		yield(m)
		t.next = o
	}
	switch rec.Kind {
	case schema.KindAudio:
		n := int64(len(rec.PCM) / (2 * rec.Channels))
		pcm := rec.PCM
		if o < t.next {
			skip := t.next - o
			if skip >= n {
				r.Overlaps++
				return
			}
			r.Overlaps++
			pcm, o, n = pcm[skip*int64(2*rec.Channels):], t.next, n-skip
		}
		p := piece(PieceAudio, o, n, rec.CaptureTime.Add(sampleTime(o-rec.Offset, t.rate)))
		p.PCM = pcm
		yield(p)
		t.next, t.endCapture = o+n, p.CaptureTime.Add(sampleTime(n, t.rate))
	case schema.KindGap:
		n := rec.GapMS * int64(t.rate) / 1000
		end := o + n
		if end <= t.next {
			r.Overlaps++
			return
		}
		start := max(o, t.next)
		g := piece(PieceGap, start, end-start, rec.CaptureTime.Add(sampleTime(start-o, t.rate)))
		g.Reason = rec.Reason
		t.gap = &g
		t.next, t.endCapture = end, rec.CaptureTime.Add(time.Duration(rec.GapMS)*time.Millisecond)
	case schema.KindStart:
		if t.endCapture.IsZero() {
			t.endCapture = rec.CaptureTime
		}
	case schema.KindEnd:
		p := piece(PieceEnd, max(o, t.next), 0, rec.CaptureTime)
		p.Reason = rec.Reason
		yield(p)
	}
}

// newEpoch closes t's epoch and starts rec's: the time between them, on
// the capture clock, is a schema.ReasonBetweenEpochs gap that extends the old
// epoch.
func (r *Reassembler) newEpoch(t *timeline, rec *schema.Record, yield func(Piece)) {
	if g := t.gap; g != nil {
		yield(*g)
		t.gap = nil
	}
	start := rec.CaptureTime.Add(-sampleTime(rec.Offset, rec.SampleRate)) // of the epoch's sample 0
	if between := start.Sub(t.endCapture); !t.endCapture.IsZero() && between > 0 && t.rate > 0 {
		yield(Piece{Kind: PieceGap, Stream: rec.Stream, Epoch: t.epoch, Offset: t.next,
			Samples: int64(between) * int64(t.rate) / int64(time.Second), SampleRate: t.rate, Channels: t.channels,
			CaptureTime: t.endCapture, Reason: schema.ReasonBetweenEpochs})
	}
	t.epoch, t.next, t.endCapture = rec.Epoch, 0, start
}

// Flush yields the gaps still held, for every stream: at the end of what
// there is to read.
func (r *Reassembler) Flush(yield func(Piece)) {
	for _, t := range r.streams {
		if t.gap != nil {
			yield(*t.gap)
			t.gap = nil
		}
	}
}

func sampleTime(n int64, rate int) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(rate)
}
