package harness

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/consumer"
	"github.com/earshot/earshot/sink/schema"
)

// Fidelity window: the audio compared with the source clip is the first
// fidelityLength of contiguous audio from fidelitySkip after a stream's
// first audio (decoder start-up).
const (
	clipRate       = 16000 // of loadtest.Server.Clip
	fidelitySkip   = 500 * time.Millisecond
	fidelityLength = 2 * time.Second
)

// maxSeqErrors bounds the sequence errors kept per stream for the report.
const maxSeqErrors = 5

// Hole tolerances: audio whose capture time is later than where the
// timeline had got to by more than this left a hole no record reports
// (schema.ReasonUnreported). Capture times from sender reports (clock ntp) are
// exact; from the arrival clock (the first second of an epoch, before a
// sender report) they jitter with the scheduling of the receiving host.
const (
	holeTolerance        = 300 * time.Millisecond
	arrivalHoleTolerance = time.Second
)

// verifier consumes one topic as an ASR consumer would (sink/consumer:
// decode, deduplicate, reassemble) and checks every stream: records in
// order, seq continuous within each epoch, the timeline of audio and gaps,
// and a window of audio for the fidelity check. It keeps running totals
// for the progress line. run consumes until its context ends; the other
// methods may be called meanwhile.
type verifier struct {
	brokers []string
	topic   string
	// want reports whether a stream is one of the run's; nil: every stream.
	want func(stream string) bool
	// notBefore drops records captured earlier (black-box: an existing
	// topic's history).
	notBefore time.Time
	// fidelity names the streams whose audio window is kept.
	fidelity map[string]bool

	mu       sync.Mutex
	dedup    consumer.Deduplicator
	asm      consumer.Reassembler
	streams  map[string]*streamCheck
	records  uint64
	skipped  uint64 // messages that are not schema-1 records
	audio    time.Duration
	gaps     map[string]time.Duration // by reason
	consumed Histogram                // capture → consumed, audio records
	last     time.Time                // when the last record was consumed
	next     map[int]int64            // next offset to consume, by partition
}

func newVerifier(brokers []string, topic string) *verifier {
	return &verifier{
		brokers:  brokers,
		topic:    topic,
		fidelity: make(map[string]bool),
		streams:  make(map[string]*streamCheck),
		gaps:     make(map[string]time.Duration),
		next:     make(map[int]int64),
	}
}

// run consumes the topic until ctx ends; it returns nil then, or the error
// that stopped reading.
func (v *verifier) run(ctx context.Context) error {
	err := sink.ReadMessages(ctx, sink.ReadConfig{Brokers: v.brokers, Topic: v.topic}, func(m kafka.Message) error {
		v.add(m, time.Now())
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// add checks one message, consumed at now.
func (v *verifier) add(m kafka.Message, now time.Time) {
	e, err := consumer.Decode(consumer.Message{Key: m.Key, Value: m.Value, Headers: consumer.Headers(m.Headers), Time: m.Time, Partition: m.Partition, Offset: m.Offset})
	v.mu.Lock()
	defer v.mu.Unlock()
	v.next[m.Partition] = m.Offset + 1
	v.last = now
	if err != nil {
		v.skipped++
		return
	}
	r := e.Fields()
	if v.want != nil && !v.want(r.Stream) || r.CaptureTime.Before(v.notBefore) {
		return
	}
	if !v.dedup.Fresh(e.Key()) {
		return
	}
	v.records++
	sc := v.stream(r.Stream)
	sc.record(r)
	if r.Kind == schema.KindAudio {
		v.consumed.Add(now.Sub(r.CaptureTime))
	}
	v.asm.Add(e, v.place)
}

// stream returns the check of the stream id, creating it.
func (v *verifier) stream(id string) *streamCheck {
	sc := v.streams[id]
	if sc == nil {
		sc = &streamCheck{name: id, keepWindow: v.fidelity[id]}
		v.streams[id] = sc
	}
	return sc
}

// place takes a piece of a stream's timeline from the reassembler.
func (v *verifier) place(p consumer.Piece) {
	sc := v.stream(p.Stream)
	switch p.Kind {
	case consumer.PieceAudio:
		v.audio += p.Duration()
	case consumer.PieceGap:
		v.gaps[p.Reason] += p.Duration()
	}
	if hole := sc.place(p); hole > 0 {
		v.gaps[schema.ReasonUnreported] += hole
	}
}

// offsets returns, by partition, the next offset the verifier will
// consume: the trimmer deletes the records before it.
func (v *verifier) offsets() map[int]int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.next)
}

// flush yields the gaps the reassembler still holds: at the end of the run.
func (v *verifier) flush() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.asm.Flush(v.place)
}

// totals is what the verifier has seen so far.
type totals struct {
	Records  uint64
	Audio    time.Duration
	Gaps     map[string]time.Duration
	Consumed *Histogram
	Last     time.Time
}

func (v *verifier) totals() totals {
	v.mu.Lock()
	defer v.mu.Unlock()
	gaps := make(map[string]time.Duration, len(v.gaps))
	for k, d := range v.gaps {
		gaps[k] = d
	}
	return totals{Records: v.records, Audio: v.audio, Gaps: gaps, Consumed: v.consumed.Clone(), Last: v.last}
}

// ended reports whether every stream of ids has an end record as its last.
func (v *verifier) ended(ids []string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, id := range ids {
		if sc := v.streams[id]; sc == nil || !sc.ended {
			return false
		}
	}
	return true
}

// drain waits, after the build under test has stopped, until every stream
// of ids has ended, or nothing new arrived for idle, or limit passed.
func (v *verifier) drain(ctx context.Context, ids []string, idle, limit time.Duration) {
	deadline := time.Now().Add(limit)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	for !v.ended(ids) && time.Now().Before(deadline) {
		if last := later(v.totals().Last, start); time.Since(last) > idle {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check returns a copy of every stream's check.
func (v *verifier) checks() map[string]*streamCheck {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]*streamCheck, len(v.streams))
	for id, sc := range v.streams {
		c := *sc
		c.spans = slices.Clone(sc.spans)
		out[id] = &c
	}
	return out
}

// duplicates is how many redelivered records were dropped, and stale how
// many records came after a later epoch of their stream.
func (v *verifier) duplicates() (duplicates, stale, skipped uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.dedup.Duplicates, v.asm.Stale, v.skipped
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// streamCheck is what the verifier learnt about one stream.
type streamCheck struct {
	name         string
	codec        string
	records      uint64
	audioRecords uint64
	epochs       []epochCheck
	spans        []EpochSpan // the epochs by owner, for the fleet's continuity
	clock        string      // of the last record
	seqErrors    uint64
	seqMessages  []string
	gaps         []gapPiece
	audio        time.Duration
	firstAudio   time.Time // capture time of the first audio
	end          time.Time // capture time where the timeline ends
	ended        bool      // the last record is an end record
	endReason    string

	keepWindow bool
	window     []int16 // contiguous audio for the fidelity check
	windowFrom time.Time
}

// epochCheck is one epoch of a stream.
type epochCheck struct {
	Epoch      uint64
	Codec      string
	Start      time.Time // capture time of its first record
	FirstAudio time.Time
	nextSeq    uint64
}

// gapPiece is a gap in a stream's timeline.
type gapPiece struct {
	Reason string
	Start  time.Time
	Length time.Duration
}

// End is when the gap ends.
func (g gapPiece) End() time.Time { return g.Start.Add(g.Length) }

// record checks a record's place: epochs in order, seq continuous.
func (sc *streamCheck) record(r *schema.Record) {
	sc.records++
	sc.spans = AddRecord(sc.spans, r)
	sc.codec, sc.clock = r.Codec, r.Clock
	sc.ended = r.Kind == schema.KindEnd
	if sc.ended {
		sc.endReason = r.Reason
	}
	var ep *epochCheck
	if n := len(sc.epochs); n > 0 && sc.epochs[n-1].Epoch == r.Epoch {
		ep = &sc.epochs[n-1]
	} else if n == 0 || sc.epochs[n-1].Epoch < r.Epoch {
		if n > 0 && r.Seq != 0 {
			sc.seqError(fmt.Sprintf("epoch %d begins at seq %d", r.Epoch, r.Seq))
		}
		sc.epochs = append(sc.epochs, epochCheck{Epoch: r.Epoch, Codec: r.Codec, Start: r.CaptureTime, nextSeq: r.Seq})
		ep = &sc.epochs[len(sc.epochs)-1]
	} else {
		sc.seqError(fmt.Sprintf("epoch %d seq %d after epoch %d", r.Epoch, r.Seq, sc.epochs[n-1].Epoch))
		return
	}
	if r.Seq != ep.nextSeq {
		sc.seqError(fmt.Sprintf("epoch %d: seq %d after %d", r.Epoch, r.Seq, ep.nextSeq-1))
	}
	ep.nextSeq = r.Seq + 1
	if r.Kind == schema.KindAudio {
		sc.audioRecords++
		if ep.FirstAudio.IsZero() {
			ep.FirstAudio = r.CaptureTime
		}
	}
}

func (sc *streamCheck) seqError(msg string) {
	sc.seqErrors++
	if len(sc.seqMessages) < maxSeqErrors {
		sc.seqMessages = append(sc.seqMessages, msg)
	}
}

// place adds a piece of the stream's timeline, and returns the length of
// the hole before it that no record reported, if any.
func (sc *streamCheck) place(p consumer.Piece) (hole time.Duration) {
	switch p.Kind {
	case consumer.PieceAudio:
		if sc.firstAudio.IsZero() {
			sc.firstAudio = p.CaptureTime
		}
		tolerance := holeTolerance
		if sc.clock != schema.ClockNTP {
			tolerance = arrivalHoleTolerance
		}
		if h := p.CaptureTime.Sub(sc.end); !sc.end.IsZero() && h > tolerance {
			hole = h
			sc.gaps = append(sc.gaps, gapPiece{Reason: schema.ReasonUnreported, Start: sc.end, Length: h})
			sc.window = sc.window[:0]
		}
		sc.audio += p.Duration()
		sc.end = p.CaptureTime.Add(p.Duration())
		sc.collect(p)
	case consumer.PieceGap:
		sc.gaps = append(sc.gaps, gapPiece{Reason: p.Reason, Start: p.CaptureTime, Length: p.Duration()})
		sc.end = p.CaptureTime.Add(p.Duration())
		if len(sc.window) < samplesIn(fidelityLength, p.SampleRate) {
			sc.window = sc.window[:0] // contiguous audio only
		}
	}
	return hole
}

// collect keeps the fidelity window.
func (sc *streamCheck) collect(p consumer.Piece) {
	want := samplesIn(fidelityLength, p.SampleRate)
	if !sc.keepWindow || p.Channels != 1 || p.SampleRate != clipRate || len(sc.window) >= want {
		return
	}
	pcm := p.PCM
	if len(sc.window) == 0 {
		skip := sc.firstAudio.Add(fidelitySkip).Sub(p.CaptureTime)
		if skip >= p.Duration() {
			return
		}
		if skip > 0 {
			pcm = pcm[2*samplesIn(skip, p.SampleRate):]
		}
		sc.windowFrom = p.CaptureTime.Add(max(skip, 0))
	}
	for i := 0; i+1 < len(pcm) && len(sc.window) < want; i += 2 {
		sc.window = append(sc.window, int16(binary.LittleEndian.Uint16(pcm[i:])))
	}
}

// samplesIn is the number of samples at rate in d.
func samplesIn(d time.Duration, rate int) int {
	return int(d * time.Duration(rate) / time.Second)
}
