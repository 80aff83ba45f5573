package ingest

import (
	"fmt"
	"math"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/sink/schema"
)

// driftMinWindow is how much arrival time a timeline needs before its clock
// drift estimate is published: over shorter windows network jitter
// dominates.
const driftMinWindow = 10 * time.Second

// timeline is a stream's decoding state for one epoch: it maps RTP packets
// onto a continuous sample offset, turns holes into concealment or gap
// records, and cuts the audio into chunks. It is owned by the stream's run
// goroutine.
type timeline struct {
	st *stream

	codec   sdk.Codec
	dec     *audio.Decoder
	chunker *audio.Chunker
	epoch   uint64
	seq     uint64
	ended   bool // the epoch's end record is written

	started     bool // a packet has been seen this epoch
	nextTS      uint32
	lastSeq     uint16
	ssrc        uint32
	lastArrival time.Time
	lastDur     time.Duration // of the last packet decoded
	nextCapture time.Time     // capture time of the next expected sample
	arrivalLag  time.Duration // arrival minus capture time of the last packet
	clock       string
	pending     string // reason for the next hole, when known

	// lateReason names why the worker fell behind (a step or a sink write
	// over StallTimeout); the handoff drops it causes are attributed to
	// it for lateLeft more packets.
	lateReason string
	lateLeft   int

	// Clock drift: RTP clock units and arrival time elapsed since driftT0.
	driftT0    time.Time
	driftMedia int64
}

// begin starts a new epoch for a freshly connected handle and writes its
// start record.
func (tl *timeline) begin(codec sdk.Codec) error {
	cfg := &tl.st.sup.cfg
	dec, err := decoderFor(tl.dec, codec, cfg.SampleRate)
	if err != nil {
		// Only a change at the source fixes a configuration the decoder
		// refuses: a permanent failure.
		return fmt.Errorf("decoder for %s: %w: %w", codec.Name, sdk.ErrBadFormat, err)
	}
	tl.dec = dec
	if tl.chunker == nil {
		ch, err := audio.NewChunker(cfg.SampleRate, cfg.Chunk)
		if err != nil {
			return fmt.Errorf("chunker: %w", err)
		}
		tl.chunker = ch
	}
	tl.chunker.Reset()
	tl.codec = codec
	tl.epoch = tl.st.sup.epochs.Add(1)
	tl.st.c.epoch.Store(tl.epoch)
	tl.st.c.epochs.Add(1)
	tl.seq = 0
	tl.ended = false
	tl.started = false
	tl.pending, tl.lateReason, tl.lateLeft = "", "", 0
	tl.clock = schema.ClockArrival
	tl.nextCapture = time.Now()
	tl.lastArrival = time.Time{}
	tl.driftT0 = time.Time{}
	tl.control(schema.KindStart, "", 0)
	return nil
}

// late records that the worker spent over StallTimeout on one step, so the
// handoff drops that follow are attributed to reason.
func (tl *timeline) late(reason string) {
	if tl.lateReason == "" {
		tl.lateReason = reason
	}
	tl.lateLeft = cap(tl.st.hand.frames) + 1
}

// process decodes one packet into the chunker, first accounting for any
// hole between it and the previous packet.
func (tl *timeline) process(p *packet) {
	st := tl.st
	st.c.packets.Add(1)
	tl.noteDrops(p)
	capture := p.arrival
	if !p.ntp.IsZero() {
		capture, tl.clock = p.ntp, schema.ClockNTP
	}
	tl.arrivalLag = p.arrival.Sub(capture)
	if !tl.started {
		tl.started, tl.ssrc, tl.nextTS, tl.lastSeq = true, p.ssrc, p.ts, p.seq-1
		tl.nextCapture = capture
		tl.resetDrift(p)
	}
	if p.ssrc != tl.ssrc {
		tl.discontinuity(p, capture)
	}
	delta := int64(int32(p.ts - tl.nextTS))
	switch {
	case delta > int64(maxTimestampJump*tl.codec.ClockRate) || delta < -int64(tl.codec.ClockRate):
		tl.discontinuity(p, capture)
		delta = 0
	case delta < 0:
		st.c.late.Add(1) // late or duplicate: its place has been filled
		return
	case delta > 0:
		tl.hole(p, delta)
	}
	tl.lastSeq, tl.lastArrival = p.seq, p.arrival

	samples, err := tl.dec.Decode(p.data, p.marker)
	if err != nil {
		st.c.decodeErrors.Add(1)
		tl.pending = schema.ReasonDecodeError // its duration shows as a hole later
		return
	}
	tl.write(samples, capture)
	tl.lastDur = tl.outDuration(int64(len(samples)))
	step := uint32(tl.dec.Ticks())
	tl.nextTS = p.ts + step
	if step > 0 {
		st.lastAdvance.Store(p.arrival.UnixNano())
	}
	tl.drift(p, delta)
	tl.driftMedia += int64(step)
}

// noteDrops names the reason of the hole frames dropped before p leave:
// dropped by the SDK, its callbacks were behind (or its queue reached its
// frame bound first: sdk_queue_full); dropped at the handoff, this worker
// was.
func (tl *timeline) noteDrops(p *packet) {
	reason := ""
	switch {
	case p.sdkDropped > 0:
		tl.st.c.sdkDropped.Add(p.sdkDropped)
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
			tl.st.c.concealed.Add(1)
			tl.write(samples, tl.nextCapture)
			return
		}
	}
	reason := tl.pending
	if reason == "" {
		reason = schema.ReasonRTPLoss
	}
	tl.gap(reason, delta*int64(tl.st.sup.cfg.SampleRate)/int64(tl.codec.ClockRate))
}

// discontinuity restarts the timeline at p after an SSRC change or a
// timestamp jump. The RTP clock cannot measure the hole, nor can capture
// times derived from a sender report that predates the jump: the arrival
// clock does, beyond the jitter of a packet or so.
func (tl *timeline) discontinuity(p *packet, capture time.Time) {
	var lost time.Duration
	if !tl.lastArrival.IsZero() {
		if silent := p.arrival.Sub(tl.lastArrival) - tl.lastDur; silent > tl.lastDur/2 {
			lost = silent
		}
	}
	tl.gap(schema.ReasonDiscontinuity, tl.samples(lost))
	tl.ssrc, tl.nextTS = p.ssrc, p.ts
	tl.nextCapture = capture
	tl.resetDrift(p)
}

// gap flushes the partial chunk, writes a gap record for n output samples
// and moves the offset past them. n is rounded to whole milliseconds, the
// unit of earshot.gap_ms, so that offsets stay continuous for consumers; a
// hole under half a millisecond is no gap.
func (tl *timeline) gap(reason string, n int64) {
	perMS := int64(tl.st.sup.cfg.SampleRate / 1000)
	ms := (n + perMS/2) / perMS
	tl.pending = ""
	if ms <= 0 {
		return
	}
	n = ms * perMS
	tl.flush()
	tl.control(schema.KindGap, reason, ms)
	tl.chunker.Skip(n)
	tl.nextCapture = tl.nextCapture.Add(tl.outDuration(n))
	tl.dec.Reset()
}

func (tl *timeline) write(samples []int16, capture time.Time) {
	tl.chunker.Write(samples, capture, tl.emitChunk)
	tl.nextCapture = capture.Add(tl.outDuration(int64(len(samples))))
}

// flush emits the partial chunk, if any.
func (tl *timeline) flush() {
	if tl.chunker != nil {
		tl.chunker.Flush(tl.emitChunk)
	}
}

// silence is how long the source has sent nothing, at the end of a session.
func (tl *timeline) silence() time.Duration {
	if tl.lastArrival.IsZero() {
		return 0
	}
	return time.Since(tl.lastArrival)
}

// samples is d at the output rate.
func (tl *timeline) samples(d time.Duration) int64 {
	return int64(d) * int64(tl.st.sup.cfg.SampleRate) / int64(time.Second)
}

func (tl *timeline) outDuration(n int64) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(tl.st.sup.cfg.SampleRate)
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

// drift places p on the RTP clock, delta units after the end of the
// previous packet, and publishes how fast that clock runs against the
// arrival clock, once the window is long enough to see past network jitter.
func (tl *timeline) drift(p *packet, delta int64) {
	tl.driftMedia += delta
	wall := p.arrival.Sub(tl.driftT0)
	if wall < driftMinWindow {
		return
	}
	media := float64(tl.driftMedia) / float64(tl.codec.ClockRate)
	ppm := (media/wall.Seconds() - 1) * 1e6
	if math.IsNaN(ppm) || math.IsInf(ppm, 0) {
		return
	}
	tl.st.driftPPM.Store(int64(ppm * 1e6))
}

// emitChunk writes one audio record. It is called by the chunker.
func (tl *timeline) emitChunk(c audio.Chunk) {
	tl.st.c.chunks.Add(1)
	tl.st.c.audioSamples.Add(uint64(len(c.Samples)))
	r := tl.record(schema.KindAudio, c.Offset, c.CaptureTime)
	r.Arrival = c.CaptureTime.Add(tl.arrivalLag)
	r.PCM = audio.AppendS16LE(make([]byte, 0, 2*len(c.Samples)), c.Samples)
	tl.st.send(r)
}

// control writes a start, gap or end record at the current offset.
func (tl *timeline) control(kind schema.Kind, reason string, gapMS int64) {
	switch kind {
	case schema.KindGap:
		tl.st.countGap(reason)
	case schema.KindEnd:
		tl.ended = true
	}
	r := tl.record(kind, tl.chunker.Offset(), tl.nextCapture)
	r.Reason, r.GapMS = reason, gapMS
	tl.st.send(r)
}

func (tl *timeline) record(kind schema.Kind, offset int64, capture time.Time) schema.Record {
	r := schema.Record{
		Stream:      tl.st.cfg.ID,
		Kind:        kind,
		Epoch:       tl.epoch,
		Seq:         tl.seq,
		SampleRate:  tl.st.sup.cfg.SampleRate,
		Channels:    1,
		Codec:       tl.codec.Name,
		Offset:      offset,
		CaptureTime: capture,
		Clock:       tl.clock,
	}
	tl.seq++
	return r
}
