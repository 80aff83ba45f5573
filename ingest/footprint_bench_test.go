package ingest_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
)

// footprintStreams is how many streams BenchmarkStreamFootprint pulls.
const footprintStreams = 50

// BenchmarkStreamFootprint pulls footprintStreams PCMA cameras over TCP and
// reports earshot's goroutines per stream (the cameras', served in the
// same process, are told apart by their stacks) and the Go heap and
// goroutine stacks per stream (cameras included: an upper bound). Run it
// once: go test -run '^$' -bench StreamFootprint -benchtime 1x ./ingest
func BenchmarkStreamFootprint(b *testing.B) {
	names := make([]string, footprintStreams)
	for i := range names {
		names[i] = fmt.Sprintf("pcma-%d", i)
	}
	srv := loadtesttest.Cameras(b, names...)
	cfg := ingest.Config{}
	for _, n := range names {
		cfg.Streams = append(cfg.Streams, ingest.StreamConfig{ID: n, URL: srv.URL(n), Transport: "tcp"})
	}
	for b.Loop() {
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		mine0, _ := countGoroutines()

		sup, err := ingest.New(cfg, newMemSink())
		if err != nil {
			b.Fatal(err)
		}
		stop := runSupervisor(b, sup)
		testkit.WaitFor(b, 30*time.Second, "every stream streaming", func() bool {
			for _, s := range sup.Stats() {
				if s.Chunks < 5 {
					return false
				}
			}
			return true
		})
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		mine, theirs := countGoroutines()
		stop()
		n := float64(footprintStreams)
		b.ReportMetric(float64(mine-mine0)/n, "goroutines/stream")
		b.ReportMetric(float64(theirs)/n, "camera-goroutines/stream")
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/1024/n, "heap-KiB/stream")
		b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/1024/n, "stack-KiB/stream")
	}
}

// countGoroutines counts the goroutines of earshot and those of the
// synthetic cameras (gortsplib's server side, package loadtest).
func countGoroutines() (mine, cameras int) {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("gortsplib/v4.(*Server")) || bytes.Contains(g, []byte("gortsplib/v4.(*server")) ||
			bytes.Contains(g, []byte("earshot/loadtest.")) {
			cameras++
		} else {
			mine++
		}
	}
	return mine, cameras
}
