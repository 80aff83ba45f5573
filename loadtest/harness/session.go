package harness

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/sink"
)

// session is one run of the load: the synthetic cameras, the embedded
// broker (when a target runs as a child), the targets, and the schedule.
// newSession sets it up, start starts the targets, load runs the
// schedule, stop stops the targets and reads the rest; close releases
// everything, also after a failure halfway.
type session struct {
	o       Options
	sc      *Scenario
	plan    *plan
	log     *slog.Logger
	cams    *loadtest.Server
	broker  *sink.EmbeddedBroker // nil without child targets
	appends *appendObserver      // nil without broker
	trim    *trimmer             // nil without broker
	targets []*targetRun

	started    time.Time // when the session was set up
	t0         time.Time // the start of the load: every target ready
	stopAt     time.Time
	steadyFrom time.Time    // start of the window of the CPU, memory and latency figures
	self       []procSample // the harness's own use at steadyFrom and stopAt

	bgCtx    context.Context
	bgCancel context.CancelFunc
}

func newSession(o Options, p *plan) (*session, error) {
	s := &session{o: o, sc: o.Scenario, plan: p, log: o.Logger, started: time.Now()}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	cams, err := loadtest.NewServer(loadtest.ServerConfig{
		Address: o.Listen,
		Streams: p.specs(),
		UDP:     o.Scenario.Transport != "tcp",
		Logger:  o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("loadtest: cameras: %w", err)
	}
	s.cams = cams
	var topics []string
	for _, t := range o.Targets {
		if !t.blackBox() {
			topics = append(topics, topicPrefix+t.Label)
		}
	}
	if len(topics) > 0 {
		opts := seedTopics(o.Scenario.Partitions, topics[1:])
		if o.Scenario.Instances > 1 { // fleet timings shorter than Kafka's 6 s minimum
			opts = append(opts, kfake.GroupMinSessionTimeout(fleetMinSessionTimeout))
		}
		b, err := sink.NewEmbeddedBroker(topics[0], o.Scenario.Partitions, opts...)
		if err != nil {
			return nil, fmt.Errorf("loadtest: broker: %w", err)
		}
		s.broker = b
		s.appends = observeAppends(b.Cluster(), topics)
	}
	for _, t := range o.Targets {
		tr, err := newTargetRun(s, t)
		if err != nil {
			s.close()
			return nil, err
		}
		s.targets = append(s.targets, tr)
	}
	if s.broker != nil {
		s.startTrimmer()
	}
	return s, nil
}

// startTrimmer starts trimming the audio topics of the targets that write
// to the embedded broker behind their verifiers (see trimmer).
func (s *session) startTrimmer() {
	topics := make(map[string]*verifier)
	for _, t := range s.targets {
		if !t.blackBox() {
			topics[t.topic] = t.ver
		}
	}
	tr, err := startTrimmer(s.broker.Addr(), topics, s.log, trimEvery)
	if err != nil {
		s.log.Warn("loadtest: the embedded broker keeps every record", "err", err)
		return
	}
	s.trim = tr
}

// start starts the cameras and every target, and waits until they are
// ready: the start of the load.
func (s *session) start(ctx context.Context) error {
	if err := s.cams.Start(); err != nil {
		return fmt.Errorf("loadtest: cameras: %w", err)
	}
	if s.o.Progress != nil {
		fmt.Fprintf(s.o.Progress, "loadtest %s: %d cameras at %s; starting %s\n", s.sc.Name, len(s.plan.streams), s.cams.Addr(), s.labels())
	}
	for _, t := range s.targets {
		if err := t.start(ctx); err != nil {
			return err
		}
	}
	for _, t := range s.targets {
		t.ready(ctx)
	}
	s.t0 = time.Now()
	s.steadyFrom = s.t0.Add(s.plan.rampEnd(s.sc) + s.sc.Warmup)
	return nil
}

func (s *session) labels() string {
	var l []string
	for _, t := range s.targets {
		l = append(l, t.Label)
	}
	return strings.Join(l, ", ")
}

// load runs the plan's events and samples the targets every SampleEvery
// until `until`, or until onTick (if set) returns false.
func (s *session) load(ctx context.Context, until time.Time, onTick func(now time.Time) bool) {
	schedCtx, stopSched := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.schedule(schedCtx) })
	defer func() { stopSched(); wg.Wait() }()

	tick := time.NewTicker(s.sc.SampleEvery)
	defer tick.Stop()
	n := 0
	every := max(1, int(5*time.Second/s.sc.SampleEvery))
	for {
		select {
		case <-ctx.Done():
			s.stopAt = time.Now()
			return
		case now := <-tick.C:
			if s.self == nil && !now.Before(s.steadyFrom) {
				s.markSteady(ctx)
			}
			for _, t := range s.targets {
				t.sample(ctx, now)
			}
			if n++; s.o.Progress != nil && (s.o.TTY || n%every == 0) {
				s.progress(now)
			}
			if !now.Before(until) || onTick != nil && !onTick(now) {
				s.stopAt = now
				if s.self == nil { // the run ended before its steady window
					s.steadyFrom = s.t0
					s.markSteady(ctx)
				}
				return
			}
		}
	}
}

// markSteady begins the steady window.
func (s *session) markSteady(ctx context.Context) {
	if self, err := readProc(os.Getpid()); err == nil {
		s.self = append(s.self, self)
	} else {
		s.self = []procSample{}
	}
	for _, t := range s.targets {
		t.markSteady(ctx)
	}
}

// schedule carries out the plan's events at their times. The ends of
// instance faults (a stop's SIGCONT, a restart's start) run on their own
// goroutines, which it waits for.
func (s *session) schedule(ctx context.Context) {
	var pending sync.WaitGroup
	defer pending.Wait()
	for _, e := range s.plan.events {
		if !sleepUntil(ctx, s.t0.Add(e.At)) {
			return
		}
		switch e.Kind {
		case eventFault:
			if _, err := s.cams.Inject(e.Fault); err != nil {
				s.warnAll(fmt.Sprintf("fault %s not injected: %v", e.Fault, err))
			}
		case eventAdd:
			for _, t := range s.targets {
				t.add(ctx, e.Stream)
			}
		case eventRemove:
			for _, t := range s.targets {
				t.remove(ctx, e.Stream)
			}
		case eventInstance:
			for _, t := range s.targets {
				if t.fleet != nil {
					t.fleet.fault(ctx, e.Instance, &pending)
				}
			}
		}
	}
}

func (s *session) warnAll(msg string) {
	s.log.Warn(msg)
	for _, t := range s.targets {
		t.warn(msg)
	}
}

// sleepUntil waits until at; false if ctx ended first.
func sleepUntil(ctx context.Context, at time.Time) bool {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// progress prints one line for all targets.
func (s *session) progress(now time.Time) {
	var parts []string
	for _, t := range s.targets {
		parts = append(parts, t.progress())
	}
	line := fmt.Sprintf("[%4.0fs] %s", now.Sub(s.t0).Seconds(), strings.Join(parts, " | "))
	if s.o.TTY {
		fmt.Fprintf(s.o.Progress, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(s.o.Progress, line)
}

// stop ends the load: the targets' last figures, then SIGTERM to the
// children (or removal of the streams the harness added to a deployment),
// then the rest of the topic.
func (s *session) stop(ctx context.Context) {
	if s.o.Progress != nil && s.o.TTY {
		fmt.Fprintln(s.o.Progress)
	}
	if self, err := readProc(os.Getpid()); err == nil && len(s.self) == 1 {
		s.self = append(s.self, self)
	}
	var wg sync.WaitGroup
	for _, t := range s.targets {
		wg.Go(func() { t.stop(ctx) })
	}
	wg.Wait()
	for _, t := range s.targets {
		wg.Go(func() { t.drain(ctx) })
	}
	wg.Wait()
}

// close stops whatever still runs.
func (s *session) close() {
	for _, t := range s.targets {
		t.kill()
	}
	s.bgCancel()
	s.cams.Close()
	if s.trim != nil {
		s.trim.stop()
	}
	if s.broker != nil {
		s.broker.Close()
	}
}

// reports builds every target's report.
func (s *session) reports() []*Report {
	out := make([]*Report, len(s.targets))
	for i, t := range s.targets {
		out[i] = t.report()
	}
	return out
}

// ensureDir creates dir, and removes what a previous run left in its
// spool: a spool is replayed at start.
func ensureDir(dir string) error {
	if err := os.RemoveAll(filepath.Join(dir, "spool")); err != nil {
		return err
	}
	return mkdirs(dir)
}
