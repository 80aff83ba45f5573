package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/sink"
)

// testTimes are short group timings for tests: the broker allows them.
const (
	testSession   = 3 * time.Second
	testHeartbeat = 300 * time.Millisecond
)

// newBroker starts an embedded broker over 127.0.0.1 TCP that allows short
// session timeouts.
func newBroker(t testing.TB) *sink.EmbeddedBroker {
	t.Helper()
	b, err := sink.NewEmbeddedBroker("earshot.audio", 1, kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func testConfig(b *sink.EmbeddedBroker, instance string) Config {
	return Config{
		Brokers: []string{b.Addr()}, Group: "earshot", InstanceID: instance,
		SessionTimeout: testSession, HeartbeatInterval: testHeartbeat,
		StatusInterval: 200 * time.Millisecond,
		Logger:         testLogger(),
	}
}

// initFleet creates the fleet topics with p registry partitions.
func initFleet(t testing.TB, b *sink.EmbeddedBroker, p int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Init(ctx, testConfig(b, "init"), p); err != nil {
		t.Fatal(err)
	}
}

func streamConfig(id string) ingest.StreamConfig {
	return ingest.StreamConfig{ID: id, URL: "rtsp://127.0.0.1:8554/" + id, Transport: "tcp"}
}

func streamIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("cam-%03d", i)
	}
	return ids
}

// span is one run of a stream on one instance.
type span struct {
	instance    string
	stream      string
	start, stop time.Time // stop zero while running
	why         StopReason
	url         string
}

// ledger records every start and stop of every instance's fake runner.
type ledger struct {
	mu      sync.Mutex
	spans   []span
	changed chan struct{} // closed and replaced on every change
}

func newLedger() *ledger { return &ledger{changed: make(chan struct{})} }

func (l *ledger) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// runner is the fake supervisor of one instance: it records in the ledger.
type runner struct {
	l        *ledger
	instance string
}

func (r *runner) Start(sc ingest.StreamConfig) error {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	for _, s := range r.l.spans {
		if s.instance == r.instance && s.stream == sc.ID && s.stop.IsZero() {
			return fmt.Errorf("%w: %q", ingest.ErrStreamExists, sc.ID)
		}
	}
	r.l.spans = append(r.l.spans, span{instance: r.instance, stream: sc.ID, start: time.Now(), url: sc.URL})
	r.l.notifyLocked()
	return nil
}

func (r *runner) Stop(_ context.Context, id string, why StopReason) error {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	for i := range r.l.spans {
		s := &r.l.spans[i]
		if s.instance == r.instance && s.stream == id && s.stop.IsZero() {
			s.stop, s.why = time.Now(), why
			r.l.notifyLocked()
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ingest.ErrUnknownStream, id)
}

// crashed ends the instance's running spans now, as a SIGKILL ends its
// process's pulls.
func (l *ledger) crashed(instance string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for i := range l.spans {
		if s := &l.spans[i]; s.instance == instance && s.stop.IsZero() {
			s.stop, s.why = now, "killed"
		}
	}
	l.notifyLocked()
	return now
}

// snapshot returns a copy of the spans.
func (l *ledger) snapshot() []span {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.spans)
}

// owners returns, for every running stream, the instances running it.
func (l *ledger) owners() map[string][]string {
	out := make(map[string][]string)
	for _, s := range l.snapshot() {
		if s.stop.IsZero() {
			out[s.stream] = append(out[s.stream], s.instance)
		}
	}
	return out
}

// waitFor waits until cond holds, rechecking on every ledger change and
// every 50 ms (member state is not in the ledger), or fails after d.
func (l *ledger) waitFor(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		if cond() {
			return time.Since(start)
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}

// checkNoOverlap fails if two instances ran one stream at once for more
// than slack.
func checkNoOverlap(t testing.TB, spans []span, slack time.Duration) {
	t.Helper()
	by := make(map[string][]span)
	for _, s := range spans {
		by[s.stream] = append(by[s.stream], s)
	}
	for id, ss := range by {
		for i, a := range ss {
			for _, b := range ss[i+1:] {
				if a.instance == b.instance {
					continue
				}
				aEnd, bEnd := a.stop, b.stop
				if aEnd.IsZero() {
					aEnd = time.Now()
				}
				if bEnd.IsZero() {
					bEnd = time.Now()
				}
				if ov := earlier(aEnd, bEnd).Sub(later(a.start, b.start)); ov > slack {
					t.Errorf("stream %s ran on %s (%s..%s) and %s (%s..%s): overlap %s", id, a.instance, a.start.Format(time.StampMilli), a.stop.Format(time.StampMilli), b.instance, b.start.Format(time.StampMilli), b.stop.Format(time.StampMilli), ov)
				}
			}
		}
	}
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// fleet is a set of in-process members with their fake runners.
type fleet struct {
	t       testing.TB
	b       *sink.EmbeddedBroker
	l       *ledger
	members map[string]*running
}

type running struct {
	m      *Member
	cancel context.CancelFunc
	done   chan error
}

func newFleet(t testing.TB, b *sink.EmbeddedBroker) *fleet {
	f := &fleet{t: t, b: b, l: newLedger(), members: make(map[string]*running)}
	t.Cleanup(f.stopAll)
	return f
}

func (f *fleet) start(instance string) *Member {
	f.t.Helper()
	m, err := NewMember(testConfig(f.b, instance), &runner{l: f.l, instance: instance})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{m: m, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- m.Run(ctx) }()
	f.members[instance] = r
	return m
}

// stop ends an instance gracefully (SIGTERM) and waits for Run.
func (f *fleet) stop(instance string) {
	f.t.Helper()
	r := f.members[instance]
	delete(f.members, instance)
	r.cancel()
	if err := <-r.done; err != nil {
		f.t.Errorf("%s: Run: %v", instance, err)
	}
}

// kill ends an instance as SIGKILL would and returns when.
func (f *fleet) kill(instance string) time.Time {
	f.t.Helper()
	r := f.members[instance]
	delete(f.members, instance)
	at := f.l.crashed(instance)
	r.m.crash()
	<-r.done
	r.cancel()
	return at
}

func (f *fleet) stopAll() {
	var wg sync.WaitGroup
	for id, r := range f.members {
		wg.Go(func() {
			r.cancel()
			if err := <-r.done; err != nil {
				f.t.Errorf("%s: Run: %v", id, err)
			}
		})
	}
	wg.Wait()
	clear(f.members)
}

// putAll writes streams to the registry.
func putAll(t testing.TB, b *sink.EmbeddedBroker, ids []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := OpenRegistry(ctx, testConfig(b, "writer"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, id := range ids {
		if err := reg.Put(ctx, streamConfig(id)); err != nil {
			t.Fatal(err)
		}
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("FLEET_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
