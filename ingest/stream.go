package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/sink"
)

// Gap and end reasons carried in earshot.reason.
const (
	ReasonRTPLoss       = "rtp_loss"
	ReasonHandoffDrop   = "handoff_drop"
	ReasonDecodeError   = "decode_error"
	ReasonDisconnected  = "disconnected"
	ReasonDiscontinuity = "discontinuity"
	ReasonShutdown      = "shutdown"
)

// maxTimestampJump is the largest forward RTP timestamp step, in seconds,
// treated as loss; a larger step is a discontinuity of the source clock.
const maxTimestampJump = 10

// stream pulls one source. Its run goroutine owns the connection loop and
// all decoding state; the adapter (onData) runs on SDK workers.
type stream struct {
	cfg  StreamConfig
	sup  *Supervisor
	log  *slog.Logger
	tr   sdk.Transport
	hand handoff

	// pendingDrops counts handoff drops not yet attached to a packet; only
	// the SDK worker serving this stream's handle touches it, but handles
	// change between epochs, so it is atomic.
	pendingDrops atomic.Uint64
	disc         chan error // disconnection reported by the status callback
	c            counters

	mu        sync.Mutex
	state     State
	lastError string

	// Owned by the run goroutine.
	codec       sdk.Codec
	dec         *audio.Decoder
	chunker     *audio.Chunker
	epoch       uint64
	seq         uint64
	started     bool // a packet has been seen this epoch
	nextTS      uint32
	lastSeq     uint16
	ssrc        uint32
	lastArrival time.Time
	nextCapture time.Time // capture time of the next expected sample
	clock       string
	pending     string // reason for the next hole, when known
	ended       bool   // the epoch's end record is written
}

func newStream(sup *Supervisor, cfg StreamConfig) *stream {
	tr, _ := sdk.ParseTransport(cfg.Transport) // validated
	return &stream{
		cfg:   cfg,
		sup:   sup,
		log:   sup.cfg.Logger.With("stream", cfg.ID),
		tr:    tr,
		hand:  newHandoff(sup.cfg.HandoffLen),
		disc:  make(chan error, 1),
		state: StateConnecting,
	}
}

// onData is the SDK data callback. It runs on an SDK callback worker and
// never blocks: it copies the frame into a pooled packet for the stream
// worker, or drops it and counts the drop when the worker is behind.
func (st *stream) onData(_ sdk.Handle, f *sdk.Frame) {
	if st.hand.put(f, st.pendingDrops.Load()) {
		st.pendingDrops.Store(0)
		return
	}
	st.pendingDrops.Add(1)
	st.c.handoffDropped.Add(1)
}

// onStatus is the SDK status callback. It runs on an SDK callback worker and
// never blocks.
func (st *stream) onStatus(_ sdk.Handle, s sdk.Status) {
	switch s.Kind {
	case sdk.StatusDisconnected:
		select {
		case st.disc <- s.Err:
		default:
		}
	case sdk.StatusCallbackOverrun:
		st.c.overruns.Add(s.Overruns)
	}
}

// run connects, streams and reconnects until ctx is done.
func (st *stream) run(ctx context.Context) {
	defer st.setState(StateStopped, nil)
	defer st.closeDecoder()
	defer st.endIdle()
	pause := st.sup.cfg.ReconnectMin
	for {
		began := time.Now()
		err := st.session(ctx)
		if ctx.Err() != nil {
			return
		}
		st.c.reconnects.Add(1)
		if time.Since(began) > 2*st.sup.cfg.ReconnectMax {
			pause = st.sup.cfg.ReconnectMin // it streamed for a while: start over
		}
		st.setState(StateBackoff, err)
		st.log.Warn("stream interrupted, reconnecting", "err", err, "pause", pause)
		// Jitter spreads reconnects of many streams after a shared outage.
		wait := pause/2 + rand.N(pause/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		pause = min(2*pause, st.sup.cfg.ReconnectMax)
	}
}

// session runs one connection: one epoch of records.
func (st *stream) session(ctx context.Context) error {
	st.setState(StateConnecting, nil)
	select { // a disconnection of the previous handle is stale
	case <-st.disc:
	default:
	}
	h, err := st.sup.sdk.OpenContext(ctx, st.cfg.URL, sdk.OpenOptions{
		Transport: st.tr,
		Timeout:   st.sup.cfg.Timeout,
		OnData:    st.onData,
		OnStatus:  st.onStatus,
	})
	if err != nil {
		return err
	}
	codec, err := st.sup.sdk.Codec(h)
	if err == nil {
		err = st.beginEpoch(codec)
	}
	if err != nil {
		st.sup.sdk.Close(h)
		return err
	}
	st.setState(StateStreaming, nil)
	st.log.Info("stream connected", "codec", codec.Name, "rate", codec.SampleRate, "channels", codec.Channels, "epoch", st.epoch)

	var reason string
	var cause error
loop:
	for {
		select {
		case <-ctx.Done():
			reason = ReasonShutdown
			break loop
		case cause = <-st.disc:
			reason = ReasonDisconnected
			break loop
		case p := <-st.hand.frames:
			st.process(p)
			st.hand.release(p)
		}
	}
	st.sup.sdk.Close(h) // no callback runs after this
	st.drain()
	st.chunker.Flush(st.emitChunk)
	if reason == ReasonShutdown {
		st.control(sink.KindEnd, reason, 0)
		return nil
	}
	silent := time.Since(st.lastArrival)
	if st.lastArrival.IsZero() {
		silent = 0
	}
	st.control(sink.KindGap, reason, silent.Milliseconds())
	if cause == nil {
		cause = errors.New("connection ended")
	}
	return cause
}

// endIdle writes the end record of a stream stopped while it was not
// connected (its last epoch ended with a gap).
func (st *stream) endIdle() {
	if st.epoch == 0 || st.ended {
		return
	}
	st.control(sink.KindEnd, ReasonShutdown, 0)
}

// drain processes the frames still queued once the handle is closed, so a
// shutdown loses nothing that was received.
func (st *stream) drain() {
	for {
		select {
		case p := <-st.hand.frames:
			st.process(p)
			st.hand.release(p)
		default:
			return
		}
	}
}

// beginEpoch starts a new epoch for a freshly connected handle and writes
// its start record.
func (st *stream) beginEpoch(codec sdk.Codec) error {
	if f := codec.Format(); st.dec == nil || st.dec.Format() != f {
		dec, err := audio.NewDecoder(f, st.sup.cfg.SampleRate)
		if err != nil {
			return fmt.Errorf("decoder for %s: %w", codec.Name, err)
		}
		st.closeDecoder()
		st.dec = dec
	} else {
		st.dec.Reset()
	}
	if st.chunker == nil {
		ch, err := audio.NewChunker(st.sup.cfg.SampleRate, st.sup.cfg.Chunk)
		if err != nil {
			return fmt.Errorf("chunker: %w", err)
		}
		st.chunker = ch
	}
	st.chunker.Reset()
	st.codec = codec
	st.epoch = st.c.epoch.Add(1)
	st.seq = 0
	st.ended = false
	st.started = false
	st.pending = ""
	st.clock = "arrival"
	st.nextCapture = time.Now()
	st.lastArrival = time.Time{}
	st.control(sink.KindStart, "", 0)
	return nil
}

// process decodes one packet into the chunker, first accounting for any
// hole between it and the previous packet.
func (st *stream) process(p *packet) {
	st.c.packets.Add(1)
	if p.dropped > 0 && st.pending == "" {
		st.pending = ReasonHandoffDrop
	}
	capture := p.arrival
	if !p.ntp.IsZero() {
		capture, st.clock = p.ntp, "ntp"
	}
	if !st.started {
		st.started, st.ssrc, st.nextTS, st.lastSeq = true, p.ssrc, p.ts, p.seq-1
		st.nextCapture = capture
	}
	if p.ssrc != st.ssrc {
		st.discontinuity(p, capture)
	}
	delta := int64(int32(p.ts - st.nextTS))
	switch {
	case delta > int64(maxTimestampJump*st.codec.ClockRate) || delta < -int64(st.codec.ClockRate):
		st.discontinuity(p, capture)
	case delta < 0:
		st.c.late.Add(1) // late or duplicate: its place has been filled
		return
	case delta > 0:
		st.hole(p, delta)
	}
	st.lastSeq, st.lastArrival = p.seq, p.arrival

	samples, err := st.dec.Decode(p.data, p.marker)
	if err != nil {
		st.c.decodeErrors.Add(1)
		st.pending = ReasonDecodeError // its duration shows as a hole later
		return
	}
	st.write(samples, capture)
	st.nextTS = p.ts + uint32(st.dec.Ticks())
}

// hole accounts for delta missing RTP clock units before p: one lost packet
// is concealed when the codec can, anything else becomes a gap record.
func (st *stream) hole(p *packet, delta int64) {
	if p.seq-st.lastSeq == 2 && st.pending == "" {
		if samples, ok := st.dec.Conceal(p.data, int(delta)); ok {
			st.c.concealed.Add(1)
			st.write(samples, st.nextCapture)
			return
		}
	}
	reason := st.pending
	if reason == "" {
		reason = ReasonRTPLoss
	}
	st.gap(reason, delta*int64(st.sup.cfg.SampleRate)/int64(st.codec.ClockRate))
}

// discontinuity restarts the timeline at p after an SSRC change or a
// timestamp jump; the hole is measured on the arrival clock instead.
func (st *stream) discontinuity(p *packet, capture time.Time) {
	lost := capture.Sub(st.nextCapture)
	st.gap(ReasonDiscontinuity, max(0, int64(lost)*int64(st.sup.cfg.SampleRate)/int64(time.Second)))
	st.ssrc, st.nextTS = p.ssrc, p.ts
	st.nextCapture = capture
}

// gap flushes the partial chunk, writes a gap record for n output samples
// and moves the offset past them.
func (st *stream) gap(reason string, n int64) {
	st.chunker.Flush(st.emitChunk)
	st.control(sink.KindGap, reason, n*1000/int64(st.sup.cfg.SampleRate))
	st.chunker.Skip(n)
	st.nextCapture = st.nextCapture.Add(st.outDuration(n))
	st.dec.Reset()
	st.pending = ""
}

func (st *stream) write(samples []int16, capture time.Time) {
	st.chunker.Write(samples, capture, st.emitChunk)
	st.nextCapture = capture.Add(st.outDuration(int64(len(samples))))
}

func (st *stream) outDuration(n int64) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(st.sup.cfg.SampleRate)
}

// closeDecoder frees the decoder's C memory (libavcodec codecs).
func (st *stream) closeDecoder() {
	if st.dec != nil {
		st.dec.Close()
		st.dec = nil
	}
}

// emitChunk writes one audio record. It is called by the chunker.
func (st *stream) emitChunk(c audio.Chunk) {
	st.c.chunks.Add(1)
	st.c.audioSamples.Add(uint64(len(c.Samples)))
	r := st.record(sink.KindAudio, c.Offset, c.CaptureTime)
	r.PCM = audio.AppendS16LE(make([]byte, 0, 2*len(c.Samples)), c.Samples)
	st.send(r)
}

// control writes a start, gap or end record at the current offset.
func (st *stream) control(kind sink.Kind, reason string, gapMS int64) {
	if kind == sink.KindGap {
		st.c.gaps.Add(1)
	}
	r := st.record(kind, st.chunker.Offset(), st.nextCapture)
	r.Reason, r.GapMS = reason, gapMS
	st.send(r)
}

func (st *stream) record(kind sink.Kind, offset int64, capture time.Time) sink.Record {
	r := sink.Record{
		Stream:      st.cfg.ID,
		Kind:        kind,
		Epoch:       st.epoch,
		Seq:         st.seq,
		SampleRate:  st.sup.cfg.SampleRate,
		Channels:    1,
		Codec:       st.codec.Name,
		Offset:      offset,
		CaptureTime: capture,
		Clock:       st.clock,
	}
	st.seq++
	return r
}

func (st *stream) send(r sink.Record) {
	if r.Kind == sink.KindEnd {
		st.ended = true
	}
	if err := st.sup.sink.Write(st.sup.writeCtx, r); err != nil {
		// Logged at powers of two, so a dead sink costs a few lines, not one per record.
		if n := st.c.sinkErrors.Add(1); n&(n-1) == 0 {
			st.log.Error("sink write failed", "kind", r.Kind, "seq", r.Seq, "failures", n, "err", err)
		}
	}
}

func (st *stream) setState(s State, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.state = s
	if err != nil {
		st.lastError = err.Error()
	}
}

func (st *stream) stats() StreamStats {
	st.mu.Lock()
	s := StreamStats{ID: st.cfg.ID, State: st.state, LastError: st.lastError}
	st.mu.Unlock()
	s.Epoch = st.c.epoch.Load()
	s.Packets = st.c.packets.Load()
	s.HandoffDropped = st.c.handoffDropped.Load()
	s.DecodeErrors = st.c.decodeErrors.Load()
	s.Late = st.c.late.Load()
	s.Concealed = st.c.concealed.Load()
	s.Chunks = st.c.chunks.Load()
	s.AudioSamples = st.c.audioSamples.Load()
	s.Gaps = st.c.gaps.Load()
	s.Reconnects = st.c.reconnects.Load()
	s.SinkErrors = st.c.sinkErrors.Load()
	s.Overruns = st.c.overruns.Load()
	return s
}
