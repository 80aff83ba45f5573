package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/earshot/earshot/audio/decoder"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/sink/schema"
)

// Cancel causes of a stream stopped while the supervisor keeps running:
// its end record then says removed or moved, not shutdown.
var (
	errRemoved = errors.New("stream removed")
	errMoved   = errors.New("stream moved to another instance")
)

// maxTimestampJump is the largest forward RTP timestamp step, in seconds,
// treated as loss; a larger step is a discontinuity of the source clock.
const maxTimestampJump = 10

// stream pulls one source. Its run goroutine owns the connection loop and
// the timeline; each connection is a conn, created by session and dropped
// with it; the callbacks (onData, conn.onStatus) run on SDK workers; the
// watchdog reads the progress atomics and the current conn.
type stream struct {
	cfg  StreamConfig
	sup  *Supervisor
	log  *slog.Logger
	url  string // redacted
	tr   sdk.Transport
	tls  *tls.Config // nil: system roots
	hand *handoff

	// pendingDrops counts handoff drops not yet attached to a packet; only
	// the SDK worker serving this stream's handle touches it, but handles
	// change between sessions, so it is atomic.
	pendingDrops atomic.Uint64
	c            counters

	// cur is the connection streaming, nil between sessions.
	cur atomic.Pointer[conn]

	// Progress for the watchdog, in Unix nanoseconds (0: none).
	lastPacket atomic.Int64 // the worker took a packet
	busySince  atomic.Int64 // the worker's current step began; 0 while it waits
	writeSince atomic.Int64 // the sink write in progress began; 0 when none

	// pprof labels of the worker: stream and stage (decode or sink),
	// precomputed so that switching allocates nothing.
	decodeLabels, sinkLabels context.Context

	// Lifecycle, set by start.
	cancel context.CancelCauseFunc
	done   chan struct{}

	mu        sync.Mutex
	state     State
	lastError string
	failure   string // sdk.Classify kind of the last error
	stalled   *Stall // current stall, as the watchdog last saw it
	// rtp sums the SDK counters of the sessions that ended; gapReasons
	// counts gap records by reason.
	rtp        rtpTotals
	ending     sdk.HandleStats // of the session being closed, until its final counters are in rtp
	gapReasons map[string]uint64

	// Owned by the watchdog goroutine.
	wd Stall

	// For the console: level, listen-in, events, codec of the session.
	level      meter
	listeners  listenerSet
	events     eventLog
	codec      atomic.Value // string
	stateSince time.Time    // under mu

	// Owned by the run goroutine.
	tl *timeline
}

func newStream(sup *Supervisor, cfg StreamConfig) *stream {
	tr, _ := sdk.ParseTransport(cfg.Transport) // validated
	tc, _ := cfg.tlsConfig()                   // validated
	st := &stream{
		tls:   tc,
		cfg:   cfg,
		sup:   sup,
		log:   sup.cfg.Logger.With("stream", cfg.ID),
		url:   sdk.Redact(cfg.URL),
		tr:    tr,
		hand:  newHandoff(sup.cfg.HandoffLen, &sup.bufs),
		state: StateConnecting,
	}
	st.tl = newTimeline(timelineConfig{
		stream:     cfg.ID,
		instance:   sup.cfg.Instance,
		sampleRate: sup.cfg.SampleRate,
		chunk:      sup.cfg.Chunk,
		// The GStreamer backend does not coalesce reads; allowing for it
		// there only loosens the bound on a hole at a discontinuity.
		arrivalJitter: max(0, sup.cfg.ReadCoalesce),
		emit:          st.emit,
		allocPCM:      sup.allocPCM,
		hear:          st.heard,
	}, &st.c)
	st.level.init(sup.cfg.SampleRate, sup.cfg.SilenceThresholdDBFS)
	st.stateSince = time.Now()
	st.decodeLabels = pprof.WithLabels(context.Background(), pprof.Labels("stream", cfg.ID, "stage", "decode"))
	st.sinkLabels = pprof.WithLabels(context.Background(), pprof.Labels("stream", cfg.ID, "stage", "sink"))
	return st
}

// start runs the stream on its own goroutine, counted by wg, until ctx is
// done or stop.
func (st *stream) start(ctx context.Context, wg *sync.WaitGroup) {
	ctx, st.cancel = context.WithCancelCause(ctx)
	st.done = make(chan struct{})
	wg.Go(func() {
		defer close(st.done)
		st.run(ctx)
	})
}

// onData is the SDK data callback. It runs on an SDK callback worker and
// never blocks: it copies the frame into a pooled packet for the stream
// worker, or drops it and counts the drop when the worker is behind.
func (st *stream) onData(_ sdk.Handle, f *sdk.Frame) {
	if d := st.sup.slowCallback; d > 0 {
		time.Sleep(d) // a deliberately regressed build only
	}
	if st.hand.put(f, st.pendingDrops.Load()) {
		st.pendingDrops.Store(0)
		return
	}
	st.pendingDrops.Add(1)
	st.c.handoffDropped.Add(1)
}

// onBurstEnd is the SDK's burst callback, on the worker that ran the
// burst's data callbacks: it wakes the stream worker once for all of them.
func (st *stream) onBurstEnd(sdk.Handle) { st.hand.notify() }

// run connects, streams and reconnects until ctx is done. Failed attempts
// back off exponentially with jitter up to ReconnectMax; after a session
// that was established (the source answered and played) the pause starts
// over from ReconnectMin, so a source that recovers is followed within a
// second or two; permanent failures wait PermanentRetry; a source whose
// clock ran too fast waits at least as long as it ran ahead.
func (st *stream) run(ctx context.Context) {
	defer st.listeners.closeAll()
	defer st.setState(StateStopped, nil)
	defer st.tl.closeDecoder()
	defer st.endIdle(ctx)
	cfg := &st.sup.cfg
	pause := cfg.ReconnectMin
	var lastKind string
	for {
		established, err := st.session(ctx)
		if ctx.Err() != nil {
			return
		}
		st.c.reconnects.Add(1)
		kind, permanent := sdk.Classify(err)
		var wait time.Duration
		switch {
		case permanent:
			wait = cfg.PermanentRetry
			st.setFailure(StateError, kind, err)
		case established:
			pause = cfg.ReconnectMin
			wait = jitter(pause)
			st.setFailure(StateBackoff, kind, err)
		default:
			wait = jitter(pause)
			pause = min(2*pause, cfg.ReconnectMax)
			st.setFailure(StateBackoff, kind, err)
		}
		// A source whose clock ran ahead sent that much audio early: it
		// waits as long, so that its output stays at real time.
		var fast *clockTooFastError
		if errors.As(err, &fast) {
			wait = max(wait, fast.ahead())
		}
		// One line when the kind of failure changes; repeats go to debug,
		// so a dead camera costs a line, not one per attempt.
		level := slog.LevelDebug
		if kind != lastKind {
			level = slog.LevelWarn
		}
		lastKind = kind
		st.log.Log(ctx, level, "stream interrupted, reconnecting", "url", st.url, "failure", kind, "err", err, "pause", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// jitter spreads reconnects of many streams after a shared outage: a pause
// between d/2 and d.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// session runs one connection: one epoch of records. established reports
// whether the source played.
func (st *stream) session(ctx context.Context) (established bool, err error) {
	st.setState(StateConnecting, nil)
	c := newConn(&st.c)
	redirects, _ := sdk.ParseRedirectPolicy(st.cfg.FollowRedirects) // validated
	// The first stream pulled through GStreamer starts it here, which can
	// fail: its libraries cannot be loaded, or gst_init fails.
	b, err := st.backend()
	if err != nil {
		return false, err
	}
	h, err := b.OpenContext(ctx, st.cfg.URL, sdk.OpenOptions{
		Transport:       st.tr,
		FollowRedirects: redirects,
		TLSConfig:       st.tls,
		Timeout:         st.sup.cfg.Timeout,
		// gortsplib's own silence timeout stays above the liveness timeout,
		// so that silence is reported as a stall with its reason rather
		// than as a bare disconnection.
		ReadTimeout:   2 * st.sup.cfg.LivenessTimeout,
		ReadCoalesce:  st.sup.cfg.ReadCoalesce,
		OnData:        st.onData,
		OnBurstEnd:    st.onBurstEnd,
		OnStatus:      c.onStatus,
		ProfileLabels: []string{"stream", st.cfg.ID},
	})
	if err != nil {
		return false, err
	}
	codec, err := b.Codec(h)
	if err == nil {
		err = st.tl.begin(codec, st.newEpoch())
	}
	if err != nil {
		b.Close(h)
		return false, err
	}
	st.level.reset()
	st.codec.Store(codec.Name)
	c.h, c.b, c.start = h, b, time.Now()
	st.cur.Store(c)
	st.setState(StateStreaming, nil)
	st.log.Info("stream connected", "codec", codec.Name, "rate", codec.SampleRate, "channels", codec.Channels, "epoch", st.tl.epoch)

	reason, cause := st.stream(ctx, c)
	st.endSession(b, h)
	st.drain()
	st.tl.flush()
	if reason == schema.ReasonShutdown || reason == schema.ReasonRemoved || reason == schema.ReasonMoved {
		st.tl.control(schema.KindEnd, reason, 0)
		return true, nil
	}
	// The epoch ends here; the gap says why and how long the source had
	// been silent (at least 1 ms: a gap record is never empty).
	st.tl.gap(reason, st.tl.samples(max(time.Millisecond, st.tl.silence())))
	return true, cause
}

// stream processes packets until c's session ends, and says why. Each
// wake-up takes every packet queued. Between batches the session's signals
// are checked, with the handoff's wake channel when the worker parked, or
// else a closed channel: a pending signal then wins at least every other
// batch, so it is seen while packets keep coming.
func (st *stream) stream(ctx context.Context, c *conn) (reason string, cause error) {
	wake := ready
	for {
		select {
		case <-ctx.Done():
			return endReason(ctx), nil
		case err := <-c.disc:
			if errors.Is(err, sdk.ErrSSRCChanged) {
				return schema.ReasonDiscontinuity, err
			}
			if err == nil {
				err = errors.New("connection ended")
			}
			return schema.ReasonDisconnected, err
		case s := <-c.stall:
			return s.Reason, &StallError{Stall: s}
		case <-wake:
			st.hand.unpark()
		}
		if err := st.step(); err != nil {
			st.c.clockTooFast.Add(1)
			return schema.ReasonClockTooFast, err
		}
		wake = ready
		if st.hand.park() {
			wake = st.hand.wake
		}
	}
}

// ready is a closed channel: a receive from it never waits.
var ready = func() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// newEpoch numbers the epoch a new session begins.
func (st *stream) newEpoch() uint64 {
	e := st.sup.nextEpoch()
	st.c.epoch.Store(e)
	st.c.epochs.Add(1)
	return e
}

func endReason(ctx context.Context) string {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errRemoved):
		return schema.ReasonRemoved
	case errors.Is(cause, errMoved):
		return schema.ReasonMoved
	}
	return schema.ReasonShutdown
}

// step processes the packets queued at the handoff, telling the watchdog
// how long they take: one clock reading and one label switch per batch,
// not per packet. An error (ErrClockTooFast) ends the session; the packets
// after it stay queued for drain.
func (st *stream) step() error {
	n := st.hand.queued()
	if n == 0 {
		return nil
	}
	start := time.Now()
	st.busySince.Store(start.UnixNano())
	st.lastPacket.Store(start.UnixNano())
	pprof.SetGoroutineLabels(st.decodeLabels)
	var err error
	for range n {
		if st.sup.stepHook != nil {
			st.sup.stepHook(st.cfg.ID)
		}
		p := st.hand.take()
		err = st.tl.process(p)
		st.hand.release(p)
		if err != nil {
			break
		}
	}
	st.busySince.Store(0)
	if time.Since(start) > st.sup.cfg.StallTimeout {
		st.tl.late(schema.ReasonWorkerStuck, st.hand.capacity()+1)
	}
	return err
}

// drain processes the frames still queued once the handle is closed, so a
// shutdown loses nothing that was received.
func (st *stream) drain() {
	for st.hand.queued() > 0 {
		_ = st.step() // the session is over: a too fast clock changes nothing
	}
}

// endIdle writes the end record of a stream stopped while it was not
// connected (its last epoch ended with a gap).
func (st *stream) endIdle(ctx context.Context) {
	if st.tl.epoch == 0 || st.tl.ended {
		return
	}
	st.tl.control(schema.KindEnd, endReason(ctx), 0)
}

// emit counts r and sends it. The timeline calls it on the run goroutine.
func (st *stream) emit(r schema.Record) {
	switch r.Kind {
	case schema.KindAudio:
		st.c.chunks.Add(1)
		st.c.audioSamples.Add(uint64(len(r.PCM) / 2))
	case schema.KindGap:
		st.countGap(r.Reason)
		st.events.add(Event{Kind: EventGap, Reason: r.Reason, GapMS: r.GapMS})
	}
	st.send(r)
}

// send writes r to the sink, telling the watchdog while it waits.
func (st *stream) send(r schema.Record) {
	start := time.Now()
	st.writeSince.Store(start.UnixNano())
	pprof.SetGoroutineLabels(st.sinkLabels)
	err := st.sup.sink.Write(st.sup.writeCtx, r)
	pprof.SetGoroutineLabels(st.decodeLabels)
	st.writeSince.Store(0)
	if time.Since(start) > st.sup.cfg.StallTimeout {
		st.tl.late(schema.ReasonSinkStalled, st.hand.capacity()+1)
	}
	if err != nil {
		// Logged at powers of two, so a dead sink costs a few lines, not one per record.
		if n := st.c.sinkErrors.Add(1); n&(n-1) == 0 {
			st.log.Error("sink write failed", "kind", r.Kind, "seq", r.Seq, "failures", n, "err", err)
		}
	}
}

// endSession closes h, of backend b, and adds its final SDK counters, which Close returns
// after the last callback, to the stream's totals. Until they are in,
// stats adds the counters read as the session ended (ending), which the
// final ones cover: under mu, a session's counts are never missed nor
// counted twice, and the totals only grow.
func (st *stream) endSession(b backend, h sdk.Handle) {
	st.mu.Lock()
	if hs, err := b.Stats(h); err == nil {
		st.ending = hs
	}
	st.cur.Store(nil)
	st.mu.Unlock()
	final, err := b.Close(h) // no callback runs after this
	st.mu.Lock()
	if err == nil {
		st.rtp.add(final)
	}
	st.ending = sdk.HandleStats{}
	st.mu.Unlock()
}

// countGap counts a gap record. Gaps are rare: a map under mu will do.
func (st *stream) countGap(reason string) {
	st.c.gaps.Add(1)
	st.mu.Lock()
	if st.gapReasons == nil {
		st.gapReasons = make(map[string]uint64)
	}
	st.gapReasons[reason]++
	st.mu.Unlock()
}

func (st *stream) setState(s State, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.state != s {
		st.stateSince = time.Now()
	}
	st.state = s
	if s == StateStreaming {
		st.failure = ""
	}
	if err != nil {
		st.lastError = err.Error()
	}
}

func (st *stream) setFailure(s State, kind string, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.state != s {
		st.stateSince = time.Now()
	}
	st.state, st.failure = s, kind
	if err != nil {
		st.lastError = err.Error()
	}
}

func (st *stream) setStalled(s *Stall) {
	st.mu.Lock()
	st.stalled = s
	st.mu.Unlock()
}

func (st *stream) stats() StreamStats {
	st.mu.Lock()
	s := StreamStats{ID: st.cfg.ID, URL: st.url, Transport: st.tr.String(), State: st.state, LastError: st.lastError, Failure: st.failure}
	if st.stalled != nil {
		c := *st.stalled
		s.Stall = &c
		s.Silent = c.Reason == ReasonSilentAudio
	}
	s.StateSince = st.stateSince
	s.GapReasons = maps.Clone(st.gapReasons)
	rtp := st.rtp
	rtp.add(st.ending)
	// A conn is stored only once the SDK is set: reading it is safe.
	if c := st.cur.Load(); c != nil {
		if hs, err := c.b.Stats(c.h); err == nil {
			rtp.add(hs)
		}
	}
	st.mu.Unlock()
	s.RTPReceived, s.RTPLost, s.RTPErrors = rtp.received, rtp.lost, rtp.errors
	s.HandoffQueued = st.hand.queued()
	s.Epoch = st.c.epoch.Load()
	s.Epochs = st.c.epochs.Load()
	s.Packets = st.c.packets.Load()
	s.HandoffDropped = st.c.handoffDropped.Load()
	s.SDKDropped = st.c.sdkDropped.Load()
	s.DecodeErrors = st.c.decodeErrors.Load()
	s.Late = st.c.late.Load()
	s.Concealed = st.c.concealed.Load()
	s.Trimmed = st.c.trimmed.Load()
	s.TrimmedSamples = st.c.trimmedSamples.Load()
	s.Discontinuities = st.c.discontinuities.Load()
	s.ClockTooFast = st.c.clockTooFast.Load()
	s.CeilingSamples = st.c.ceilingSamples.Load()
	s.Chunks = st.c.chunks.Load()
	s.AudioSamples = st.c.audioSamples.Load()
	s.AudioSeconds = float64(s.AudioSamples) / float64(st.sup.cfg.SampleRate)
	s.Gaps = st.c.gaps.Load()
	s.Reconnects = st.c.reconnects.Load()
	s.SinkErrors = st.c.sinkErrors.Load()
	s.Overruns = st.c.overruns.Load()
	s.Stalls = st.c.stalls.Load()
	s.LastPacket = unixTime(st.lastPacket.Load())
	s.ClockDriftPPM = float64(st.tl.driftPPM.Load()) / 1e6
	if l, ok := st.level.level(); ok && s.State == StateStreaming {
		s.Level = &l
	}
	s.Codec, _ = st.codec.Load().(string)
	s.GapsLastHour, s.StallsLastHour = st.events.recent(time.Now())
	s.Listeners = st.listeners.count()
	return s
}

func unixTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// StallError ends a session the watchdog found stalled.
type StallError struct {
	Stall Stall
}

func (e *StallError) Error() string {
	return fmt.Sprintf("stalled: %s at stage %s for %s", e.Stall.Reason, e.Stall.Stage, e.Stall.For.Round(time.Millisecond))
}

// decoderFor returns a decoder for codec, reusing old when the format is
// unchanged, else closing it (libavcodec decoders hold C memory).
func decoderFor(old *decoder.Decoder, codec sdk.Codec, outRate int) (*decoder.Decoder, error) {
	f := codec.Format()
	if old != nil && old.Format() == f {
		old.Reset()
		return old, nil
	}
	dec, err := decoder.New(f, outRate)
	if err != nil {
		return nil, err
	}
	if old != nil {
		old.Close()
	}
	return dec, nil
}
