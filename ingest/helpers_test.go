package ingest_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/sink"
)

// syncBuffer is a log destination tests read while the supervisor runs.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitTimeout bounds every wait; the tests finish far sooner.
const waitTimeout = 15 * time.Second

// memSink keeps records in memory and can hold one stream's writes, which
// makes it the deliberately slow consumer of these tests.
type memSink struct {
	mu      sync.Mutex
	records []sink.Record
	hold    map[string]chan struct{}
	feed    chan sink.Record
	// held receives the stream of each write that starts waiting on a hold.
	held chan string
}

func newMemSink() *memSink {
	return &memSink{hold: make(map[string]chan struct{}), feed: make(chan sink.Record, 1<<14), held: make(chan string, 1<<10)}
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

func (m *memSink) Write(ctx context.Context, r sink.Record) error {
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

func (m *memSink) Records(stream string) []sink.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []sink.Record
	for _, r := range m.records {
		if r.Stream == stream {
			out = append(out, r)
		}
	}
	return out
}

// await reads the feed until pred accepts a record.
func (m *memSink) await(t *testing.T, what string, pred func(sink.Record) bool) sink.Record {
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

// codecOfName returns the codec a test stream name starts with: the longest
// codec name equal to it or followed by '-'.
func codecOfName(name string) string {
	var best string
	for _, c := range audio.Codecs() {
		if (name == c || strings.HasPrefix(name, c+"-")) && len(c) > len(best) {
			best = c
		}
	}
	return best
}

func startCameras(t *testing.T, names ...string) *loadtest.Server {
	t.Helper()
	var specs []loadtest.StreamSpec
	for _, n := range names {
		specs = append(specs, loadtest.StreamSpec{Name: n, Codec: codecOfName(n)})
	}
	return startServer(t, loadtest.ServerConfig{Streams: specs})
}

// startServer starts synthetic cameras as cfg says; they close when the
// test ends.
func startServer(t *testing.T, cfg loadtest.ServerConfig) *loadtest.Server {
	t.Helper()
	srv, err := loadtest.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// runSupervisor runs sup until the test ends (or stop is called) and
// checks that Run returns.
func runSupervisor(t *testing.T, sup *ingest.Supervisor) (stop func()) {
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
