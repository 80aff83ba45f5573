package ingest

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/audio/decoder"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/sink/schema"
)

// driftMinWindow is how much arrival time a timeline needs before its clock
// drift estimate is published, and before its clock rate is judged: over
// shorter windows network jitter dominates.
const driftMinWindow = 10 * time.Second

// The protections against a source that sends more audio than real time.
const (
	// maxClockAhead is how far a source's RTP clock may run ahead of the
	// arrival clock, since the timeline began, before the source is
	// declared too fast.
	maxClockAhead = 2 * time.Second
	// maxClockRate is how much faster than real time a source's RTP clock
	// may run over driftMinWindow or more.
	maxClockRate = 1.05
	// outputCeiling is the most audio a stream produces per second of wall
	// clock, across its sessions, after a burst of ceilingBurst.
	outputCeiling = 1.1
	// ceilingBurst is the audio a stream may produce beyond outputCeiling:
	// the catch-up after a network stall, which a live source cannot make
	// longer than the liveness timeout.
	ceilingBurst = 5 * time.Second
	// maxPacketDuration is the most audio one packet yields; the rest of
	// a longer payload is trimmed. It covers 120 ms Opus packets and two
	// AAC access units at 8 kHz.
	maxPacketDuration = 300 * time.Millisecond
	// reorderWindow is the largest RTP sequence step, either way, still
	// taken as loss or reordering; a larger one is a discontinuity.
	reorderWindow = 100
)

// ErrClockTooFast ends a session whose source's RTP clock runs ahead of
// real time beyond the timeline's bounds.
var ErrClockTooFast = errors.New("source RTP clock runs faster than real time")

// clockTooFastError is the ErrClockTooFast of one timeline: media of RTP
// time arrived in wall of arrival time.
type clockTooFastError struct {
	media, wall time.Duration
}

func (e *clockTooFastError) Error() string {
	return fmt.Sprintf("%v: %s of RTP time in %s", ErrClockTooFast, e.media.Round(time.Millisecond), e.wall.Round(time.Millisecond))
}

func (e *clockTooFastError) Unwrap() error { return ErrClockTooFast }

// ahead is how far the source's clock got ahead of real time: waiting as
// long before reconnecting keeps the stream's output at real time.
func (e *clockTooFastError) ahead() time.Duration { return e.media - e.wall }

// timelineConfig is what a timeline needs to know of its stream.
type timelineConfig struct {
	stream     string
	instance   string // fleet instance named in every record; "" for none
	sampleRate int
	chunk      time.Duration
	// arrivalJitter is how late, beyond the network's jitter, a packet
	// may arrive because reads are coalesced (Config.ReadCoalesce): a
	// discontinuity's hole, measured on the arrival clock, counts only
	// beyond it.
	arrivalJitter time.Duration
	// now is the wall clock; it defaults to time.Now.
	now func() time.Time
	// emit writes a record; it is called on the timeline's goroutine and
	// may block (the sink is slow).
	emit func(schema.Record)
	// allocPCM returns an empty buffer for the n bytes of PCM of an audio
	// record, which emit then owns (see pcmAllocator); it is called on the
	// timeline's goroutine. Nil allocates one.
	allocPCM func(n int) []byte
	// hear, if set, gets every block of samples written to the chunker, and
	// the arrival of the packet they were decoded from; it is called on the
	// timeline's goroutine, must not block and must not keep samples.
	hear func(samples []int16, arrival time.Time)
}

// timeline is a stream's decoding state: packets in, audio and gap
// records out. For each epoch it maps RTP packets onto a continuous sample
// offset, turns holes into concealment or gap records, trims payloads
// longer than their slot, bounds how far the source's clock may run ahead
// of the arrival clock, and cuts the audio into chunks. Across epochs it
// caps the stream's output (outputCeiling). It touches no socket; it is
// owned by the stream's run goroutine, and its counters and progress may
// be read by anyone.
type timeline struct {
	cfg timelineConfig
	c   *counters

	// Progress for the watchdog and stats, written by the owner.
	lastAdvance atomic.Int64 // Unix ns: the timeline last moved forward
	driftPPM    atomic.Int64 // clock drift estimate, in millionths of ppm

	codec   sdk.Codec
	dec     *decoder.Decoder
	chunker *audio.Chunker
	epoch   uint64
	seq     uint64
	ended   bool // the epoch's end record is written

	started     bool // a packet has been seen this epoch
	nextTS      uint32
	lastTS      uint32 // timestamp of the last packet decoded
	lastSeq     uint16 // of the last packet decoded
	highSeq     uint16 // the highest sequence number seen
	ssrc        uint32
	lastArrival time.Time
	lastDur     time.Duration // of the last packet decoded
	lastTicks   int64         // its duration in RTP clock units
	nextCapture time.Time     // capture time of the next expected sample
	arrivalLag  time.Duration // arrival minus capture time of the last packet
	clock       string
	// chunkClock is the clock of the first sample the chunker buffers:
	// an audio record is labelled with the clock its capture time came
	// from, though the clock may change within the chunk. chunked is the
	// offset where the last chunk or gap ended; the chunker buffers
	// nothing while its offset is there.
	chunkClock string
	chunked    int64
	pending    string // reason for the next hole, when known

	// lateReason names why the worker fell behind (a step or a sink write
	// over StallTimeout); the handoff drops it causes are attributed to
	// it for lateLeft more packets.
	lateReason string
	lateLeft   int

	// RTP clock units and arrival time elapsed since driftT0: the clock
	// drift estimate, and the clock_too_fast bound.
	driftT0    time.Time
	driftMedia int64

	// The output ceiling, across epochs: tokens are the output samples the
	// stream may still produce, refilled at ceiling times real time up to
	// the burst; held are samples refused, not yet written as a gap.
	tokens   float64
	refilled time.Time
	held     int64
	at       time.Time // arrival of the packet being processed
}

func newTimeline(cfg timelineConfig, c *counters) *timeline {
	if cfg.now == nil {
		cfg.now = time.Now
	}
	return &timeline{cfg: cfg, c: c}
}

// begin starts epoch for a freshly connected source of codec and writes its
// start record.
func (tl *timeline) begin(codec sdk.Codec, epoch uint64) error {
	dec, err := decoderFor(tl.dec, codec, tl.cfg.sampleRate)
	if err != nil {
		// Only a change at the source fixes a configuration the decoder
		// refuses: a permanent failure.
		return fmt.Errorf("decoder for %s: %w: %w", codec.Name, sdk.ErrBadFormat, err)
	}
	tl.dec = dec
	if tl.chunker == nil {
		ch, err := audio.NewChunker(tl.cfg.sampleRate, tl.cfg.chunk)
		if err != nil {
			return fmt.Errorf("chunker: %w", err)
		}
		tl.chunker = ch
	}
	tl.chunker.Reset()
	tl.codec = codec
	tl.epoch = epoch
	tl.seq = 0
	tl.ended = false
	tl.started = false
	tl.pending, tl.lateReason, tl.lateLeft = "", "", 0
	tl.clock, tl.chunkClock, tl.chunked = schema.ClockArrival, schema.ClockArrival, 0
	tl.nextCapture = tl.cfg.now()
	tl.lastArrival, tl.lastTicks = time.Time{}, 0
	tl.driftT0 = time.Time{}
	tl.held = 0
	tl.control(schema.KindStart, "", 0)
	return nil
}

// late records that the worker spent over StallTimeout on one step, so the
// handoff drops of the next window packets are attributed to reason.
func (tl *timeline) late(reason string, window int) {
	if tl.lateReason == "" {
		tl.lateReason = reason
	}
	tl.lateLeft = window
}

// process decodes one packet into the chunker, first accounting for any
// hole between it and the previous packet. It returns an error wrapping
// ErrClockTooFast when the source's RTP clock runs ahead of the arrival
// clock beyond the limits; the packet is then not written, and the epoch
// should end.
func (tl *timeline) process(p *packet) error {
	tl.c.packets.Add(1)
	tl.at = p.arrival
	tl.noteDrops(p)
	capture := p.arrival
	if !p.ntp.IsZero() {
		capture, tl.clock = p.ntp, schema.ClockNTP
	}
	tl.arrivalLag = p.arrival.Sub(capture)
	if !tl.started {
		tl.started, tl.ssrc, tl.nextTS, tl.lastTS, tl.lastSeq, tl.highSeq = true, p.ssrc, p.ts, p.ts, p.seq-1, p.seq-1
		tl.nextCapture = capture
		tl.resetDrift(p)
	}
	if step := int16(p.seq - tl.highSeq); p.ssrc != tl.ssrc || tl.seqJump(p, step) {
		tl.discontinuity(p, capture)
	} else if step > 0 {
		tl.highSeq = p.seq
	}
	delta := int64(int32(p.ts - tl.nextTS))
	// A sender that rounds each packet's timestamp on a clock its frames
	// do not divide (GStreamer's rtpmpapay: 2351.02 ticks of 90 kHz a
	// frame at 44.1 kHz) is a tick early or late; within 1 ms is on time.
	if delta != 0 && delta >= -int64(tl.codec.ClockRate/1000) && delta <= int64(tl.codec.ClockRate/1000) {
		delta = 0
	}
	var overlap int64 // clock units of p already covered by the previous packet
	switch {
	case delta < 0 && p.seq == tl.lastSeq+1 && int32(p.ts-tl.lastTS) > 0:
		// The next packet begins inside the previous one: that payload was
		// longer than its slot. What overlaps is cut from this one.
		overlap, delta = -delta, 0
	case delta > int64(maxTimestampJump*tl.codec.ClockRate) || delta < -int64(tl.codec.ClockRate),
		delta > 0 && tl.clockDuration(delta)-p.arrival.Sub(tl.lastArrival) > maxClockAhead:
		// A jump of the source clock, not time that passed: the hole is
		// longer than the arrival clock says by more than maxClockAhead.
		tl.discontinuity(p, capture)
		delta = 0
	case delta < 0:
		tl.c.late.Add(1) // late or duplicate: its place has been filled
		return nil
	}
	// The RTP clock advanced from the previous packet's start to p's.
	advance := int64(int32(p.ts - tl.lastTS))
	if err := tl.checkClock(p, advance); err != nil {
		return err
	}
	if delta > 0 {
		tl.hole(p, delta)
	}
	tl.lastSeq, tl.lastArrival, tl.lastTS = p.seq, p.arrival, p.ts
	tl.driftMedia += advance
	tl.publishDrift(p)

	samples, err := tl.dec.Decode(p.data, p.marker)
	if err != nil {
		tl.c.decodeErrors.Add(1)
		tl.pending = schema.ReasonDecodeError // its duration shows as a hole later
		return nil
	}
	// p's audio is [overlap, end) of its ticks: what the previous packet
	// overran is cut from its head, what exceeds maxPacketDuration from
	// its tail.
	ticks := int64(tl.dec.Ticks())
	end := min(ticks, int64(maxPacketDuration.Seconds()*float64(tl.codec.ClockRate)))
	lo, hi := int64(0), int64(len(samples))
	if end < ticks {
		hi = min(hi, tl.outSamples(end))
	}
	if overlap > 0 {
		lo = min(hi, tl.outSamples(overlap))
	}
	if lo > 0 || hi < int64(len(samples)) {
		tl.c.trimmed.Add(1)
		tl.c.trimmedSamples.Add(uint64(int64(len(samples)) - (hi - lo)))
	}
	if overlap >= end {
		return nil // wholly inside the previous packet's overrun
	}
	samples = samples[lo:hi]
	tl.write(samples, capture.Add(tl.outDuration(lo)))
	tl.lastDur = tl.outDuration(int64(len(samples)))
	tl.nextTS = p.ts + uint32(end)
	tl.lastTicks = end
	tl.lastAdvance.Store(p.arrival.UnixNano())
	return nil
}

// seqJump reports whether p, step sequence numbers after the highest seen,
// jumped beyond the reorder window without its timestamp saying that the
// packets between were lost: at least half a packet's duration each.
func (tl *timeline) seqJump(p *packet, step int16) bool {
	if step >= -reorderWindow && step <= reorderWindow {
		return false
	}
	lost := int64(step) - 1
	return step < 0 || tl.lastTicks == 0 || int64(int32(p.ts-tl.nextTS)) < lost*tl.lastTicks/2
}

// checkClock reports ErrClockTooFast when p, advance clock units after the
// previous packet, puts the RTP clock more than maxClockAhead ahead of the
// arrival clock since the timeline began, or, over driftMinWindow or more,
// makes it run faster than maxClockRate.
func (tl *timeline) checkClock(p *packet, advance int64) error {
	media := tl.clockDuration(tl.driftMedia + advance)
	wall := p.arrival.Sub(tl.driftT0)
	tooFast := media-wall > maxClockAhead
	if wall >= driftMinWindow && float64(media) > maxClockRate*float64(wall) {
		tooFast = true
	}
	if !tooFast {
		return nil
	}
	return &clockTooFastError{media: media, wall: wall}
}

// noteDrops names the reason of the hole frames dropped before p leave:
// dropped by the SDK, its callbacks were behind (or its queue reached its
// frame bound first: sdk_queue_full); dropped at the handoff, this worker
// was.
func (tl *timeline) noteDrops(p *packet) {
	reason := ""
	switch {
	case p.sdkDropped > 0:
		tl.c.sdkDropped.Add(p.sdkDropped)
		reason = schema.ReasonCallbackBlocked
		if p.sdkDropReason != sdk.DropCallbacksBehind {
			reason = schema.ReasonSDKQueueFull
		}
	case p.dropped > 0:
		reason = schema.ReasonHandoffDrop
		if tl.lateReason != "" {
			reason = tl.lateReason
		}
	}
	if tl.lateLeft > 0 {
		if tl.lateLeft--; tl.lateLeft == 0 {
			tl.lateReason = ""
		}
	}
	if reason != "" && tl.pending == "" {
		tl.pending = reason
	}
}

// hole accounts for delta missing RTP clock units before p: one lost packet
// is concealed when the codec can, anything else becomes a gap record.
func (tl *timeline) hole(p *packet, delta int64) {
	if p.seq-tl.lastSeq == 2 && tl.pending == "" {
		if samples, ok := tl.dec.Conceal(p.data, int(delta)); ok {
			tl.c.concealed.Add(1)
			tl.write(samples, tl.nextCapture)
			return
		}
	}
	reason := tl.pending
	if reason == "" {
		reason = schema.ReasonRTPLoss
	}
	tl.gap(reason, tl.outSamples(delta))
}

// discontinuity restarts the timeline at p after an SSRC change, a
// timestamp jump or a sequence jump beyond the reorder window. The RTP
// clock cannot measure the hole, nor can capture times derived from a
// sender report that predates the jump: the arrival clock does, beyond the
// jitter of a packet or so and what coalesced reads add to it.
func (tl *timeline) discontinuity(p *packet, capture time.Time) {
	tl.c.discontinuities.Add(1)
	var lost time.Duration
	if !tl.lastArrival.IsZero() {
		if silent := p.arrival.Sub(tl.lastArrival) - tl.lastDur; silent > tl.lastDur/2+tl.cfg.arrivalJitter {
			lost = silent
		}
	}
	tl.gap(schema.ReasonDiscontinuity, tl.samples(lost))
	tl.ssrc, tl.nextTS, tl.lastTS, tl.lastSeq, tl.highSeq = p.ssrc, p.ts, p.ts, p.seq-1, p.seq
	tl.nextCapture = capture
	tl.resetDrift(p)
}

// gap writes a gap record for n output samples (see skip) and resets the
// decoder, whose state the hole invalidates.
func (tl *timeline) gap(reason string, n int64) {
	tl.skip(reason, n)
	tl.dec.Reset()
}

// skip flushes the partial chunk, writes a gap record for n output samples
// and moves the offset past them. n is rounded to whole milliseconds, the
// unit of earshot.gap_ms, so that offsets stay continuous for consumers; a
// hole under half a millisecond is no gap.
func (tl *timeline) skip(reason string, n int64) {
	tl.settle()
	perMS := int64(tl.cfg.sampleRate / 1000)
	ms := (n + perMS/2) / perMS
	tl.pending = ""
	if ms <= 0 {
		return
	}
	n = ms * perMS
	tl.flush()
	tl.control(schema.KindGap, reason, ms)
	tl.chunker.Skip(n)
	tl.chunked = tl.chunker.Offset()
	tl.nextCapture = tl.nextCapture.Add(tl.outDuration(n))
}

// write chunks samples captured at capture, or, beyond the output ceiling,
// holds their duration back for an output_ceiling gap.
func (tl *timeline) write(samples []int16, capture time.Time) {
	n := int64(len(samples))
	if !tl.admit(n) {
		tl.c.ceilingSamples.Add(uint64(n))
		tl.held += n
		tl.nextCapture = capture.Add(tl.outDuration(n))
		return
	}
	tl.settle()
	if tl.cfg.hear != nil {
		tl.cfg.hear(samples, tl.at)
	}
	if tl.chunker.Offset() == tl.chunked {
		tl.chunkClock = tl.clock // samples begins a chunk
	}
	tl.chunker.Write(samples, capture, tl.emitChunk)
	tl.nextCapture = capture.Add(tl.outDuration(n))
}

// admit takes n output samples from the ceiling's tokens, refilled for
// the arrival time elapsed, if there are enough.
func (tl *timeline) admit(n int64) bool {
	rate := outputCeiling * float64(tl.cfg.sampleRate)
	capacity := ceilingBurst.Seconds() * float64(tl.cfg.sampleRate)
	switch {
	case tl.refilled.IsZero():
		tl.tokens, tl.refilled = capacity, tl.at
	case tl.at.After(tl.refilled):
		tl.tokens = min(capacity, tl.tokens+tl.at.Sub(tl.refilled).Seconds()*rate)
		tl.refilled = tl.at
	}
	if float64(n) > tl.tokens {
		return false
	}
	tl.tokens -= float64(n)
	return true
}

// settle writes the gap of the samples the ceiling held back, if any, at
// their place: before whatever the timeline writes next.
func (tl *timeline) settle() {
	if tl.held == 0 {
		return
	}
	n := tl.held
	tl.held = 0
	at := tl.nextCapture
	tl.nextCapture = tl.nextCapture.Add(-tl.outDuration(n))
	tl.skip(schema.ReasonOutputCeiling, n)
	tl.nextCapture = at
}

// flush emits the partial chunk, if any.
func (tl *timeline) flush() {
	if tl.chunker != nil {
		tl.settle()
		tl.chunker.Flush(tl.emitChunk)
	}
}

// silence is how long the source has sent nothing, at the end of a session.
func (tl *timeline) silence() time.Duration {
	if tl.lastArrival.IsZero() {
		return 0
	}
	return tl.cfg.now().Sub(tl.lastArrival)
}

// samples is d at the output rate.
func (tl *timeline) samples(d time.Duration) int64 {
	return int64(d) * int64(tl.cfg.sampleRate) / int64(time.Second)
}

// outSamples is n RTP clock units at the output rate.
func (tl *timeline) outSamples(n int64) int64 {
	return n * int64(tl.cfg.sampleRate) / int64(tl.codec.ClockRate)
}

// clockDuration is n RTP clock units as a duration.
func (tl *timeline) clockDuration(n int64) time.Duration {
	return time.Duration(float64(n) / float64(tl.codec.ClockRate) * float64(time.Second))
}

func (tl *timeline) outDuration(n int64) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(tl.cfg.sampleRate)
}

// closeDecoder frees the decoder's C memory (libavcodec codecs).
func (tl *timeline) closeDecoder() {
	if tl.dec != nil {
		tl.dec.Close()
		tl.dec = nil
	}
}

func (tl *timeline) resetDrift(p *packet) {
	tl.driftT0, tl.driftMedia = p.arrival, 0
}

// publishDrift publishes how fast the RTP clock runs against the arrival
// clock, once the window is long enough to see past network jitter.
func (tl *timeline) publishDrift(p *packet) {
	wall := p.arrival.Sub(tl.driftT0)
	if wall < driftMinWindow {
		return
	}
	media := float64(tl.driftMedia) / float64(tl.codec.ClockRate)
	ppm := (media/wall.Seconds() - 1) * 1e6
	if math.IsNaN(ppm) || math.IsInf(ppm, 0) {
		return
	}
	tl.driftPPM.Store(int64(ppm * 1e6))
}

// emitChunk writes one audio record. It is called by the chunker.
func (tl *timeline) emitChunk(c audio.Chunk) {
	r := tl.record(schema.KindAudio, c.Offset, c.CaptureTime)
	r.Clock = tl.chunkClock
	// What the chunker buffers next is of the packet being written.
	tl.chunked, tl.chunkClock = c.Offset+int64(len(c.Samples)), tl.clock
	r.Arrival = c.CaptureTime.Add(tl.arrivalLag)
	n := 2 * len(c.Samples)
	var buf []byte
	if tl.cfg.allocPCM != nil {
		buf = tl.cfg.allocPCM(n)
	} else {
		buf = make([]byte, 0, n)
	}
	r.PCM = audio.AppendS16LE(buf, c.Samples)
	tl.cfg.emit(r)
}

// control writes a start, gap or end record at the current offset.
func (tl *timeline) control(kind schema.Kind, reason string, gapMS int64) {
	if kind == schema.KindEnd {
		tl.settle()
		tl.ended = true
	}
	r := tl.record(kind, tl.chunker.Offset(), tl.nextCapture)
	r.Reason, r.GapMS = reason, gapMS
	tl.cfg.emit(r)
}

func (tl *timeline) record(kind schema.Kind, offset int64, capture time.Time) schema.Record {
	r := schema.Record{
		Stream:      tl.cfg.stream,
		Kind:        kind,
		Epoch:       tl.epoch,
		Seq:         tl.seq,
		SampleRate:  tl.cfg.sampleRate,
		Channels:    1,
		Codec:       tl.codec.Name,
		Offset:      offset,
		CaptureTime: capture,
		Clock:       tl.clock,
		Instance:    tl.cfg.instance,
	}
	tl.seq++
	return r
}
