package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/ingest/fleet"
	"github.com/earshot/earshot/sink"
)

// errTopicMissing is returned by Run when the topic does not exist: a
// configuration error, since earshot never creates topics.
var errTopicMissing = errors.New("kafka topic does not exist")

// pingTimeout bounds the broker check at start.
const pingTimeout = 5 * time.Second

// service is earshot's pipeline: the ingest supervisor feeding the Kafka
// writer; and around it the admin listener, the metrics, the summary of
// per-packet problems and the profiler. Shutdown order: ingest stops
// pulling, flushes its chunkers and writes each stream's end record into
// the writer (which never blocks); then the writer delivers what it holds
// for up to kafka.close_timeout and leaves the rest in the spool; the
// admin listener closes after that, so the API and metrics answer while
// the pipeline drains; the profiler stops last.
type service struct {
	log      *slog.Logger
	writer   *sink.Writer
	sup      *ingest.Supervisor
	admin    *adminServer // nil when off
	console  *console
	problems *problemSummary
	prof     *profiler     // nil when off
	member   *fleet.Member // nil unless fleet mode
	streams  []ingest.StreamConfig
	// trimAfter is when Run trims the executable's pages, 0 for never.
	trimAfter time.Duration
	// gcPercent is the GOGC Run sets while it runs, 0 to leave Go's.
	gcPercent int
}

func newService(c *Config, log *slog.Logger) (*service, error) {
	tel := newTelemetry()
	wc := c.writerConfig(log)
	wc.Observer = tel
	w, err := sink.NewWriter(wc)
	if err != nil {
		return nil, err
	}
	ic := c.ingestConfig(log)
	ic.SDK.CallbackObserver = tel.observeCallback
	var regStreams []ingest.StreamConfig
	if c.Fleet.on() {
		// The streams list goes to the registry; the fleet decides
		// which instance pulls what.
		if regStreams, err = registryStreams(c, os.Getenv); err != nil {
			w.Close()
			return nil, err
		}
		ic.Streams = nil
		fc, err := c.fleetConfig(log)
		if err != nil {
			w.Close()
			return nil, err
		}
		ic.Instance = fc.WithDefaults().InstanceID
	}
	sup, err := ingest.New(ic, w)
	if err != nil {
		w.Close()
		return nil, err
	}
	tel.watch(sup, w)
	api := sup.Handler()
	streams := func() int { return len(sup.Stats()) }
	con := newConsole(c.Admin.Token, sup, log)
	ready := &readiness{streams: streams, broker: w, terse: c.Admin.exposed()}
	// The admin listener opens first: a fleet member advertises its
	// address. Its routes read api when they serve, once Run has started,
	// after the member's API is set below.
	admin, err := newAdminServer(c.Admin, adminRoutes{
		API:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) }),
		Metrics: tel.Handler(),
		Ready:   ready,
		Console: con.Handler(),
	}, log)
	if err != nil {
		w.Close()
		return nil, err
	}
	member, err := fleetMember(c, sup, admin, log)
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		w.Close()
		return nil, err
	}
	if member != nil {
		tel.watchFleet(member)
		api = member.Handler(api, sup.StreamStats)
		con.fleet = newConsoleFleet(member.View(), member.Instance(), c.Admin.Token, log)
		ready.fleet = func() error { return fleetReady(member.Stats()) }
	}
	problems := &problemSummary{stats: sup.Stats, interval: c.Log.summaryInterval(), log: log}
	return &service{log: log, writer: w, sup: sup, admin: admin, console: con, problems: problems, prof: newProfiler(c.Profiling, log), member: member, streams: regStreams, trimAfter: c.Memory.trimAfter(), gcPercent: c.Memory.gcPercent()}, nil
}

// AdminAddr returns the admin listener's address, "" when it is off.
func (s *service) AdminAddr() string {
	if s.admin == nil {
		return ""
	}
	return s.admin.Addr()
}

// gcPercentText is the GOGC Run sets, for the log: a number, or "GOGC=…"
// when the environment's applies.
func (s *service) gcPercentText() string {
	if s.gcPercent == 0 {
		return "GOGC=" + os.Getenv("GOGC")
	}
	return strconv.Itoa(s.gcPercent)
}

// Run pulls until ctx is done, then drains. It returns an error wrapping
// errTopicMissing, without pulling, if the topic does not exist; otherwise
// the writer's Close error (a *sink.UndeliveredError when records were left
// in the spool or lost).
func (s *service) Run(ctx context.Context) error {
	if s.gcPercent > 0 {
		defer debug.SetGCPercent(debug.SetGCPercent(s.gcPercent))
	}
	if s.prof != nil {
		if err := s.prof.Start(); err != nil {
			s.log.Error("continuous profiling off", "err", err)
		}
		defer s.prof.Stop()
	}
	var wg sync.WaitGroup
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	if s.admin != nil {
		wg.Go(func() { s.admin.Run(bgCtx) })
	}
	wg.Go(func() { s.problems.run(bgCtx) })
	if s.trimAfter > 0 {
		wg.Go(func() { trimBinaryAfter(bgCtx, s.trimAfter, s.log) })
	}
	defer wg.Wait()
	defer stopBackground()
	// The console's WebSockets are hijacked connections, which the admin
	// listener's shutdown does not wait for: they end first.
	defer s.console.Close()

	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	err := s.writer.Ping(pingCtx)
	cancel()
	switch {
	case errors.Is(err, kafka.UnknownTopicOrPartition):
		s.writer.Close()
		return fmt.Errorf("%w: %w", errTopicMissing, err)
	case err != nil && ctx.Err() == nil:
		// Not fatal: records go to the spool until the brokers answer.
		s.log.Warn("kafka not reachable at start; spooling until it is", "err", err)
	}
	if s.member != nil {
		err = s.runFleet(ctx)
	} else {
		err = s.sup.Run(ctx)
	}
	h := s.writer.Health()
	s.log.Info("ingest stopped; delivering what is left", "pending", h.Pending)
	if cerr := s.writer.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}

// Reload applies the streams of c: only streams added, removed or changed
// are touched; it waits for removed streams as long as ctx and
// ingest.remove_timeout allow. In fleet mode it writes them to the
// registry instead. Other settings need a restart; a change to them is
// logged.
func (s *service) Reload(ctx context.Context, old, c *Config) (ingest.Changes, error) {
	if s.member != nil {
		return s.upsert(ctx, c)
	}
	ch, err := s.sup.Reload(ctx, c.ingestConfig(nil).Streams)
	o, n := *old, *c
	o.Streams, n.Streams = nil, nil
	if !reflect.DeepEqual(o, n) {
		s.log.Warn("reload: only streams are reloaded; restart earshot to apply the other changes")
	}
	return ch, err
}
