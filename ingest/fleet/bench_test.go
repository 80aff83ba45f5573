package fleet

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/earshot/earshot/ingest"
)

// countingRunner runs nothing: it counts starts.
type countingRunner struct {
	mu      sync.Mutex
	started int
}

func (r *countingRunner) Start(ingest.StreamConfig) error {
	r.mu.Lock()
	r.started++
	r.mu.Unlock()
	return nil
}

func (r *countingRunner) Stop(context.Context, string, StopReason) error { return nil }

// BenchmarkBuildSet measures how long one instance takes from Run to
// running every stream of a registry of 20,000 streams on 512 partitions,
// with its view of the whole fleet loaded, against the embedded broker
// over loopback, and the heap its registry views (its partitions' and the
// whole fleet's) hold per stream. Targets: 2 s, 1 KiB per stream.
func BenchmarkBuildSet(b *testing.B) {
	const streams, partitions = 20000, 512
	br := newBroker(b)
	initFleet(b, br, partitions)
	cfg := testConfig(br, "bench")
	cfg.setDefaults()
	cl, err := newClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	part := newPartitioner(partitions)
	var wg sync.WaitGroup
	var perr error
	var mu sync.Mutex
	for i := range streams {
		sc := streamConfig(fmt.Sprintf("camera-%05d", i))
		v, err := encodeStream(sc)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Topic: cfg.RegistryTopic, Partition: part.of(sc.ID), Key: []byte(sc.ID), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				perr = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	cl.Close()
	if perr != nil {
		b.Fatal(perr)
	}

	var worst time.Duration
	var perStream float64
	expired, cancelExpired := context.WithCancel(context.Background())
	cancelExpired() // m.view.Wait(expired) says whether the view is loaded now
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		r := &countingRunner{}
		m, err := NewMember(cfg, r)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- m.Run(ctx) }()
		tick := time.NewTicker(5 * time.Millisecond)
		for {
			<-tick.C
			if st := m.Stats(); st.Loaded && st.Partitions == partitions && st.Streams == streams && m.view.Wait(expired) == nil {
				break
			}
		}
		tick.Stop()
		took := time.Since(start)
		worst = max(worst, took)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		perStream = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / streams
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(worst.Milliseconds()), "ms-to-build-max")
	b.ReportMetric(perStream, "heap-B/stream")
	if worst > 2*time.Second {
		b.Errorf("building the set took %s, target 2 s", worst)
	}
	if perStream > 1024 {
		b.Errorf("the registry view holds %.0f B per stream, target 1 KiB", perStream)
	}
}
