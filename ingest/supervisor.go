package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/earshot/earshot/ingest/internal/bufpool"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// Sentinel errors of Add, Remove and Reload.
var (
	ErrStreamExists   = errors.New("stream already exists")
	ErrUnknownStream  = errors.New("unknown stream")
	ErrStopped        = errors.New("supervisor stopped")
	ErrTooManyStreams = errors.New("too many streams")
	// ErrStillEnding: the stream is removed, but its worker had not ended
	// (written its end record) when the wait was over; it ends when the
	// step it is stuck in returns.
	ErrStillEnding = errors.New("stream removed but still ending")
)

// Sink receives records. Records of one stream are written in order by
// one goroutine, the stream's worker: Write should return quickly (the
// Kafka writer queues or spools, and never waits for Kafka). A Write that
// blocks longer than StallTimeout is reported as sink_stalled, and it
// returns when ctx is done.
type Sink interface {
	Write(ctx context.Context, r schema.Record) error
}

// pcmAllocator is a Sink that hands out the buffers of the PCM of the audio
// records written to it, as sink.Writer does: it takes them back once
// delivered and hands them out again, so that chunks do not each allocate
// one. Once written, a record's PCM is the sink's: nothing in ingest keeps
// it. The stream workers call AllocPCM concurrently.
type pcmAllocator interface {
	AllocPCM(n int) []byte
}

// healthReporter is a Sink that reports its delivery progress, as
// sink.Writer does: the watchdog reports its stalls too.
type healthReporter interface {
	Health() sink.Health
}

// Supervisor owns the SDK, one worker goroutine per stream and the
// watchdog. Streams can be added and removed while it runs.
type Supervisor struct {
	cfg  Config
	sink Sink
	// allocPCM is the sink's AllocPCM when it is a pcmAllocator; nil
	// otherwise (test sinks keep their records): chunks get new buffers.
	allocPCM func(n int) []byte
	diag     *diagnostics
	// bufs lends the streams' handoffs their packets' payload buffers.
	bufs bufpool.Pool

	// gortsplib is set by Run before any stream starts, read-only
	// afterwards. gst starts when a stream first needs it.
	gortsplib *sdk.SDK
	gst       lazyGStreamer
	// writeCtx bounds sink writes: it ends DrainTimeout after Run's context,
	// so that records produced while stopping are still written.
	writeCtx context.Context

	wg sync.WaitGroup // every stream goroutine started
	// epochs numbers every stream's epochs (nextEpoch): each is at least
	// the milliseconds since 1970 when it begins, so that (stream, epoch,
	// seq) identifies a record across restarts of the process, removals
	// of the stream and moves between the instances of a fleet, for
	// deduplication by consumers, and a stream's epochs keep increasing.
	epochs atomic.Uint64

	// changing is held by Add, Remove and Reload while they change the set
	// of streams, so that a reload's view of the streams stays true while
	// it applies it. A channel, so that waiting for it honours a context.
	changing chan struct{}

	mu      sync.Mutex
	streams map[string]*stream
	runCtx  context.Context // nil until Run starts streams
	ran     bool            // Run was called
	stopped bool            // Run is stopping or returned: nothing starts
	stalls  map[[2]string]uint64

	// Owned by the watchdog goroutine.
	sinkStall Stall

	// stepHook, set only by tests before Run, runs at the start of every
	// worker step.
	stepHook func(stream string)
	// slowCallback is how long every data callback sleeps: 0 but in a
	// deliberately regressed build (see slow_callback.go).
	slowCallback time.Duration
}

// New validates cfg. Nothing runs until Run.
func New(cfg Config, s Sink) (*Supervisor, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("ingest config: %w", err)
	}
	if s == nil {
		return nil, fmt.Errorf("ingest: nil sink")
	}
	sup := &Supervisor{cfg: cfg, sink: s, changing: make(chan struct{}, 1), streams: make(map[string]*stream), stalls: make(map[[2]string]uint64), slowCallback: callbackDelay()}
	if a, ok := s.(pcmAllocator); ok {
		sup.allocPCM = a.AllocPCM
	}
	sup.diag = newDiagnostics(cfg.Diagnostics, cfg.Logger)
	sup.gst.opts = cfg.GStreamer
	sup.epochs.Store(uint64(time.Now().UnixMilli()))
	for _, sc := range cfg.Streams {
		sup.streams[sc.ID] = newStream(sup, sc)
	}
	return sup, nil
}

// Run pulls every stream until ctx is done, then stops them, which writes
// each stream's remaining audio and end record, and returns nil. It returns
// an error only if it cannot start. A Supervisor runs once.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.ran || s.stopped {
		s.mu.Unlock()
		return errors.New("ingest: supervisor already ran")
	}
	s.ran = true
	s.mu.Unlock()

	sd, err := sdk.New(s.cfg.SDK)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	defer sd.Shutdown()
	// GStreamer starts now if a configured stream uses it, so that a
	// failure to start it fails Run; otherwise when one is added.
	defer s.gst.shutdown()
	if s.usesGStreamer() {
		if _, err := s.gst.get(); err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
	}

	writeCtx, cancelWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWrites()
	// A cancel after Run has returned is a no-op, so the timer needs no stop.
	defer context.AfterFunc(ctx, func() { time.AfterFunc(s.cfg.DrainTimeout, cancelWrites) })()

	s.mu.Lock()
	s.gortsplib, s.writeCtx, s.runCtx = sd, writeCtx, ctx
	for _, st := range s.streams {
		st.start(ctx, &s.wg)
	}
	s.mu.Unlock()

	s.diag.start()
	defer s.diag.stop()
	wctx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.watch(wctx) })

	<-ctx.Done()
	s.mu.Lock()
	s.stopped = true // no stream starts after this
	s.mu.Unlock()
	s.wg.Wait()
	stopWatch()
	wg.Wait()
	return nil
}

// usesGStreamer reports whether a stream configured so far is pulled
// through GStreamer.
func (s *Supervisor) usesGStreamer() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		if st.backendName() == BackendGStreamer {
			return true
		}
	}
	return false
}

// Add validates sc and starts pulling it, or, before Run, adds it to the
// streams Run starts. It waits for a Reload in progress, as long as ctx
// allows.
func (s *Supervisor) Add(ctx context.Context, sc StreamConfig) error {
	if err := sc.validate(); err != nil {
		return fmt.Errorf("stream %q: %w", sc.ID, err)
	}
	release, err := s.lockChanges(ctx)
	if err != nil {
		return err
	}
	defer release()
	return s.add(sc)
}

// add starts sc; the caller holds changing.
func (s *Supervisor) add(sc StreamConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if _, ok := s.streams[sc.ID]; ok {
		return fmt.Errorf("%w: %q", ErrStreamExists, sc.ID)
	}
	if len(s.streams) >= s.cfg.MaxStreams {
		return fmt.Errorf("%w: %d streams run, max streams is %d; remove one first", ErrTooManyStreams, len(s.streams), s.cfg.MaxStreams)
	}
	st := newStream(s, sc)
	s.streams[sc.ID] = st
	if s.runCtx != nil {
		st.start(s.runCtx, &s.wg)
	}
	return nil
}

// Remove stops pulling the stream id and returns once its end record
// (reason removed) is written, or, when ctx ends or RemoveTimeout passes
// first, an error wrapping ErrStillEnding: the stream is gone from the
// list, and its worker writes the end record when the step it is stuck in
// returns (Run waits for it).
func (s *Supervisor) Remove(ctx context.Context, id string) error {
	return s.remove(ctx, id, errRemoved)
}

// Move is Remove for a stream that another instance of a fleet takes over:
// its end record says moved.
func (s *Supervisor) Move(ctx context.Context, id string) error {
	return s.remove(ctx, id, errMoved)
}

// remove detaches the stream id with cause and waits for its end.
func (s *Supervisor) remove(ctx context.Context, id string, cause error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RemoveTimeout)
	defer cancel()
	release, err := s.lockChanges(ctx)
	if err != nil {
		return err
	}
	st, err := s.detach(id, cause)
	release()
	if err != nil {
		return err
	}
	return awaitEnd(ctx, []*stream{st})
}

// lockChanges takes changing, or returns ctx's error.
func (s *Supervisor) lockChanges(ctx context.Context) (release func(), err error) {
	select {
	case s.changing <- struct{}{}:
		return func() { <-s.changing }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another change of the streams: %w", context.Cause(ctx))
	}
}

// detach removes the stream id from the list and cancels it; the caller
// holds changing. It returns the stream to wait for, nil before Run.
func (s *Supervisor) detach(id string, cause error) (*stream, error) {
	s.mu.Lock()
	st, ok := s.streams[id]
	delete(s.streams, id)
	running := s.runCtx != nil
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownStream, id)
	}
	if !running {
		return nil, nil
	}
	st.cancel(cause)
	return st, nil
}

// awaitEnd waits until every stream of sts (nil ones skipped) has ended,
// or ctx ends; then it names those still ending.
func awaitEnd(ctx context.Context, sts []*stream) error {
	var ending []string
	for _, st := range sts {
		if st == nil {
			continue
		}
		select {
		case <-st.done:
		case <-ctx.Done():
			select {
			case <-st.done:
			default:
				ending = append(ending, st.cfg.ID)
			}
		}
	}
	if len(ending) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %q (%w); the end record follows when the worker returns", ErrStillEnding, ending, context.Cause(ctx))
}

// Changes says what Reload did, by stream id.
type Changes struct {
	Added, Removed, Restarted, Unchanged []string
}

// Reload makes the running streams those of want: streams not in want are
// removed, new ones added, and streams whose URL or transport changed are
// restarted; the others keep running untouched. want is validated as a
// whole first: on error nothing changes. Adds and removes wait while a
// reload runs. Removed and restarted streams are all stopped at once, and
// waited for as long as ctx and RemoveTimeout allow; a restarted stream
// whose old worker is still ending is started again all the same (its new
// epoch tells the two apart) and the error wraps ErrStillEnding.
func (s *Supervisor) Reload(ctx context.Context, want []StreamConfig) (Changes, error) {
	if err := validateStreams(want, s.cfg.MaxStreams); err != nil {
		return Changes{}, fmt.Errorf("reload: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RemoveTimeout)
	defer cancel()
	release, err := s.lockChanges(ctx)
	if err != nil {
		return Changes{}, fmt.Errorf("reload: %w", err)
	}
	defer release()
	s.mu.Lock()
	have := make(map[string]StreamConfig, len(s.streams))
	for id, st := range s.streams {
		have[id] = st.cfg
	}
	s.mu.Unlock()

	var ch Changes
	wanted := make(map[string]bool, len(want))
	for _, sc := range want {
		wanted[sc.ID] = true
		old, ok := have[sc.ID]
		switch {
		case !ok:
			ch.Added = append(ch.Added, sc.ID)
		case old != sc:
			ch.Restarted = append(ch.Restarted, sc.ID)
		default:
			ch.Unchanged = append(ch.Unchanged, sc.ID)
		}
	}
	for id := range have {
		if !wanted[id] {
			ch.Removed = append(ch.Removed, id)
		}
	}
	slices.Sort(ch.Removed)
	var errs []error
	var ending []*stream
	for _, id := range slices.Concat(ch.Removed, ch.Restarted) {
		st, err := s.detach(id, errRemoved)
		if err != nil {
			errs = append(errs, err)
		}
		ending = append(ending, st)
	}
	if err := awaitEnd(ctx, ending); err != nil {
		errs = append(errs, err)
	}
	for _, sc := range want {
		if !slices.Contains(ch.Unchanged, sc.ID) {
			if err := s.add(sc); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ch, fmt.Errorf("reload: %w", err)
	}
	return ch, nil
}

// Stats returns every stream's state and counters, sorted by id.
func (s *Supervisor) Stats() []StreamStats {
	s.mu.Lock()
	out := make([]StreamStats, 0, len(s.streams))
	for _, st := range s.streams {
		out = append(out, st.stats())
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b StreamStats) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// StreamStats returns the state and counters of the stream id.
func (s *Supervisor) StreamStats(id string) (StreamStats, error) {
	s.mu.Lock()
	st, ok := s.streams[id]
	s.mu.Unlock()
	if !ok {
		return StreamStats{}, fmt.Errorf("%w: %q", ErrUnknownStream, id)
	}
	return st.stats(), nil
}

// lookup returns the stream id.
func (s *Supervisor) lookup(id string) (*stream, error) {
	s.mu.Lock()
	st, ok := s.streams[id]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownStream, id)
	}
	return st, nil
}

// StallCount is the number of stalls detected at one stage for one reason.
type StallCount struct {
	Stage, Reason string
	Count         uint64
}

// Stalls returns how many stalls were detected, by stage and reason.
func (s *Supervisor) Stalls() []StallCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StallCount, 0, len(s.stalls))
	for k, n := range s.stalls {
		out = append(out, StallCount{Stage: k[0], Reason: k[1], Count: n})
	}
	slices.SortFunc(out, func(a, b StallCount) int {
		return cmp.Or(cmp.Compare(a.Stage, b.Stage), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// DiagnosticsStats returns how many diagnostics bundles were written,
// suppressed by MinInterval, dropped because one was being written, or
// failed.
func (s *Supervisor) DiagnosticsStats() DiagnosticsStats { return s.diag.stats() }

// ErrNoTrace is returned by ArmTrace when diagnostics are off (no Dir) or
// the flight recorder is (NoTrace).
var ErrNoTrace = errors.New("the flight recorder is off: diagnostics have no dir, or no_trace is set")

// ArmTrace runs the flight recorder for Diagnostics.TraceArmFor from now,
// so that a bundle written meanwhile holds an execution trace; the
// recorder starts on the diagnostics writer, shortly after.
func (s *Supervisor) ArmTrace() error {
	if s.cfg.Diagnostics.Dir == "" || s.cfg.Diagnostics.NoTrace {
		return ErrNoTrace
	}
	s.diag.armTrace()
	return nil
}

func (s *Supervisor) countStall(stage, reason string) {
	s.mu.Lock()
	s.stalls[[2]string{stage, reason}]++
	s.mu.Unlock()
}

// nextEpoch returns a new epoch number: larger than every one before, and
// at least the current milliseconds since 1970, so that the epoch an
// instance of a fleet begins after another instance ended the stream's
// is larger, on clocks synchronised within the hand-over time.
func (s *Supervisor) nextEpoch() uint64 {
	for {
		prev := s.epochs.Load()
		next := max(prev+1, uint64(time.Now().UnixMilli()))
		if s.epochs.CompareAndSwap(prev, next) {
			return next
		}
	}
}

// snapshot appends the current streams to buf.
func (s *Supervisor) snapshot(buf []*stream) []*stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		buf = append(buf, st)
	}
	return buf
}
