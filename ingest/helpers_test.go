package ingest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/sink/schema"
)

// waitTimeout bounds every wait; the tests finish far sooner.
const waitTimeout = 15 * time.Second

// memSink keeps records in memory and can hold one stream's writes, which
// makes it the deliberately slow consumer of these tests.
type memSink struct {
	mu      sync.Mutex
	records []schema.Record
	hold    map[string]chan struct{}
	feed    chan schema.Record
	// held receives the stream of each write that starts waiting on a hold.
	held chan string
}

func newMemSink() *memSink {
	return &memSink{hold: make(map[string]chan struct{}), feed: make(chan schema.Record, 1<<14), held: make(chan string, 1<<10)}
}

// Hold makes writes of stream block until the returned function is called.
func (m *memSink) Hold(stream string) (release func()) {
	ch := make(chan struct{})
	m.mu.Lock()
	m.hold[stream] = ch
	m.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (m *memSink) Write(ctx context.Context, r schema.Record) error {
	m.mu.Lock()
	ch := m.hold[r.Stream]
	m.mu.Unlock()
	if ch != nil {
		select {
		case m.held <- r.Stream:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := r.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	m.records = append(m.records, r)
	m.mu.Unlock()
	select {
	case m.feed <- r:
	default:
	}
	return nil
}

func (m *memSink) Records(stream string) []schema.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []schema.Record
	for _, r := range m.records {
		if r.Stream == stream {
			out = append(out, r)
		}
	}
	return out
}

// await reads the feed until pred accepts a record.
func (m *memSink) await(t *testing.T, what string, pred func(schema.Record) bool) schema.Record {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case r := <-m.feed:
			if pred(r) {
				return r
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// runSupervisor runs sup until the test ends (or stop is called) and
// checks that Run returns.
func runSupervisor(t testing.TB, sup *ingest.Supervisor) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
