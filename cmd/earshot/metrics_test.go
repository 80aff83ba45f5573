package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

var updateMetricsDoc = flag.Bool("update-metrics-doc", false, "rewrite the table of metrics in docs/metrics.md from metrics.go")

// The table of metrics in docs/metrics.md sits between these lines.
const (
	metricsDocBegin = "<!-- metrics table: generated from cmd/earshot/metrics.go; go test ./cmd/earshot -run TestMetricsDocListsEveryMetric -update-metrics-doc -->\n"
	metricsDocEnd   = "<!-- end of metrics table -->\n"
)

func TestMetricsDocListsEveryMetric(t *testing.T) {
	const path = "../../docs/metrics.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(b), metricsDocBegin)
	table, after, ok2 := strings.Cut(rest, metricsDocEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no metrics table between %q and %q", path, metricsDocBegin, metricsDocEnd)
	}
	if want := metricsTable(); table != want {
		if *updateMetricsDoc {
			if err := os.WriteFile(path, []byte(before+metricsDocBegin+want+metricsDocEnd+after), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("the table of metrics in %s is not metricsTable(); run with -update-metrics-doc. Want:\n%s", path, want)
	}
}

// metricsCodecs are the cameras of the metrics test.
var metricsCodecs = []string{audio.CodecOpus, audio.CodecPCMA, audio.CodecPCMU}

// metricsToken is the admin token of the metrics test: /metrics needs it.
const metricsToken = "metrics-t0ken"

// TestMetricsDuringARun runs the service against synthetic cameras and the
// embedded broker and scrapes /metrics while it runs: every metric is
// there, with values that match what the cameras sent and the time that
// passed; a camera whose audio stops shows as down and as a stall; /readyz
// follows the broker and the streams.
func TestMetricsDuringARun(t *testing.T) {
	var specs []loadtest.StreamSpec
	for _, c := range metricsCodecs {
		specs = append(specs, loadtest.StreamSpec{Name: "cam-" + c, Codec: c})
	}
	cams := loadtesttest.NewServer(t, loadtest.ServerConfig{Streams: specs})
	broker, err := sink.NewEmbeddedBroker("metrics", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	cfg := &Config{
		Kafka:  KafkaConfig{Brokers: []string{broker.Addr()}, Topic: "metrics", CloseTimeout: 2 * time.Second},
		Spool:  SpoolConfig{Dir: t.TempDir()},
		Admin:  AdminConfig{Listen: "127.0.0.1:0", Token: metricsToken},
		Diag:   DiagConfig{Dir: "off"},
		Ingest: IngestConfig{LivenessTimeout: time.Second},
	}
	for _, s := range specs {
		cfg.Streams = append(cfg.Streams, StreamConfig{ID: s.Name, URL: "rtsp://user:" + e2eSecret + "@" + cams.Addr() + "/" + s.Name, Transport: "tcp"})
	}
	svc, logs, stop := runService(t, cfg)
	defer stop()
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs)
		}
	}()
	sc := newScraper(t, "http://"+svc.AdminAddr(), metricsToken)

	sc.await("every stream up", func(m metricSet) bool {
		for _, s := range specs {
			if m.value("earshot_stream_up", "stream", s.Name) != 1 {
				return false
			}
		}
		return true
	})
	first, t0 := sc.scrape(), time.Now()
	sent0 := packetsSent(cams, specs)
	<-time.After(3 * time.Second) // the measurement window, not a synchronisation
	last, t1 := sc.scrape(), time.Now()
	elapsed := t1.Sub(t0).Seconds()
	skipped := float64(cams.SkippedRounds()) * 0.02
	var audioTotal float64
	for i, s := range specs {
		delta := func(name string) float64 {
			return last.value(name, "stream", s.Name) - first.value(name, "stream", s.Name)
		}
		audio := delta("earshot_audio_seconds_total")
		audioTotal += audio
		// Chunks of 200 ms, a scrape at each end, and a loaded host that
		// lags a little more at one end than at the other: within 0.8 s
		// (a wrong rate would be off by a third or more).
		if math.Abs(audio-elapsed) > 0.8+skipped {
			t.Errorf("%s: %.2f s of audio in %.2f s", s.Name, audio, elapsed)
		}
		if chunks := delta("earshot_chunks_total"); math.Abs(chunks-audio/0.2) > 2 {
			t.Errorf("%s: %.0f chunks for %.2f s of audio", s.Name, chunks, audio)
		}
		sent := float64(packetsSent(cams, specs)[i] - sent0[i])
		if rtp := delta("earshot_rtp_packets_total"); rtp <= 0 || math.Abs(rtp-sent) > 0.1*sent+10 {
			t.Errorf("%s: %.0f RTP packets counted, the camera sent about %.0f", s.Name, rtp, sent)
		}
		for _, zero := range []string{"earshot_rtp_packets_lost_total", "earshot_decode_errors_total", "earshot_sdk_dropped_frames_total",
			"earshot_handoff_dropped_total", "earshot_reconnects_total"} {
			if v := last.value(zero, "stream", s.Name); v != 0 {
				t.Errorf("%s: %s = %g on a clean run", s.Name, zero, v)
			}
		}
		if v := last.value("earshot_stream_last_packet_age_seconds", "stream", s.Name); v < 0 || v > 1 {
			t.Errorf("%s: last packet %.2f s ago", s.Name, v)
		}
		if v := last.value("earshot_stream_state", "stream", s.Name, "state", "streaming"); v != 1 {
			t.Errorf("%s: state streaming = %g", s.Name, v)
		}
		if v := last.value("earshot_handoff_queue_depth", "stream", s.Name); v < 0 || v > 50 {
			t.Errorf("%s: handoff depth %g", s.Name, v)
		}
		if v := last.value("earshot_clock_drift_ppm", "stream", s.Name); math.Abs(v) > 5000 {
			t.Errorf("%s: clock drift %g ppm", s.Name, v)
		}
	}
	t.Logf("%.2f s of audio over %d streams in %.2f s (%.2f s skipped by the camera)", audioTotal, len(specs), elapsed, skipped)
	if want := elapsed * float64(len(specs)); math.Abs(audioTotal-want) > 0.1*want+0.8 {
		t.Errorf("earshot_audio_seconds_total grew %.2f s, want %.2f (elapsed × streams)", audioTotal, want)
	}
	callbacks := last.histogram("earshot_sdk_callback_seconds")
	// Collectors are read concurrently: a few packets may pass between the
	// histogram's read and the counters'.
	if rtp := last.sum("earshot_rtp_packets_total"); callbacks.GetSampleCount() == 0 || float64(callbacks.GetSampleCount()) > rtp+10 {
		t.Errorf("%d SDK callbacks observed for %.0f RTP packets", callbacks.GetSampleCount(), rtp)
	}
	if mean := callbacks.GetSampleSum() / float64(callbacks.GetSampleCount()); mean > 0.01 {
		t.Errorf("mean SDK callback %.6f s", mean)
	}
	if last.histogram("earshot_kafka_produce_seconds").GetSampleCount() == 0 {
		t.Error("no produce observed")
	}
	lat := last.histogram("earshot_pipeline_latency_seconds")
	if lat.GetSampleCount() == 0 || float64(lat.GetSampleCount()) > last.value("earshot_kafka_records_total", "result", "delivered") {
		t.Errorf("%d latencies observed, %g records delivered", lat.GetSampleCount(), last.value("earshot_kafka_records_total", "result", "delivered"))
	}
	// A chunk's latency includes its 200 ms: arrival of its first packet
	// to the acknowledgement of the record.
	if mean := lat.GetSampleSum() / float64(lat.GetSampleCount()); mean < 0.15 || mean > 3 {
		t.Errorf("mean pipeline latency %.3f s", mean)
	}
	for name, want := range map[string]float64{"earshot_kafka_stalled": 0, "earshot_kafka_produce_errors_total": 0} {
		if v := last.value(name); v != want {
			t.Errorf("%s = %g, want %g", name, v, want)
		}
	}
	if v := last.value("earshot_kafka_records_total", "result", "failed"); v != 0 {
		t.Errorf("%g records failed", v)
	}
	if sc.status("/readyz", false) != http.StatusOK {
		t.Error("/readyz is not ready while streaming")
	}

	// One camera's audio stops while its RTCP goes on.
	victim := specs[0].Name
	if _, err := cams.Inject(loadtest.Fault{Kind: loadtest.FaultAudioStopRTCP, Stream: victim}); err != nil {
		t.Fatal(err)
	}
	stalled := sc.await("the stall of "+victim, func(m metricSet) bool {
		return m.value("earshot_stalls_total", "stage", "source", "reason", schema.ReasonRTCPOnly) == 1 &&
			m.value("earshot_stream_up", "stream", victim) == 0 &&
			m.value("earshot_gaps_total", "stream", victim, "reason", schema.ReasonRTCPOnly) >= 1
	})
	if v := stalled.value("earshot_stream_up", "stream", specs[1].Name); v != 1 {
		t.Errorf("%s: up %g while another camera stalled", specs[1].Name, v)
	}
	for _, m := range metrics {
		if _, ok := stalled[m.Name]; !ok {
			t.Errorf("%s is not in /metrics", m.Name)
		}
	}
	checkDashboardQueries(t, stalled)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if _, ok := stalled[name]; !ok {
			t.Errorf("%s (runtime and process collectors) is not in /metrics", name)
		}
	}
	if body := sc.get("/metrics", true); strings.Contains(body, e2eSecret) || strings.Contains(body, "rtsp://") {
		t.Error("/metrics carries stream URLs")
	}

	// Readiness follows the broker, then the streams.
	if err := broker.SetReachable(false); err != nil {
		t.Fatal(err)
	}
	sc.awaitStatus("/readyz", http.StatusServiceUnavailable)
	if err := broker.SetReachable(true); err != nil {
		t.Fatal(err)
	}
	sc.awaitStatus("/readyz", http.StatusOK)
	for _, s := range specs {
		if err := svc.sup.Remove(context.Background(), s.Name); err != nil {
			t.Fatal(err)
		}
	}
	if body := sc.get("/readyz", false); !strings.Contains(body, "no stream configured") {
		t.Errorf("/readyz without streams: %q", body)
	}
}

// runService runs the service of cfg until stop, which waits for Run to
// return, and returns its logs.
func runService(t *testing.T, cfg *Config) (svc *service, logs *testkit.SyncBuffer, stop func()) {
	t.Helper()
	logs = &testkit.SyncBuffer{}
	svc, err := newService(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { svc.Run(ctx) })
	return svc, logs, func() { cancel(); wg.Wait() }
}

func packetsSent(cams *loadtest.Server, specs []loadtest.StreamSpec) []uint64 {
	out := make([]uint64, len(specs))
	for i, s := range specs {
		out[i] = cams.PacketsSent(s.Name)
	}
	return out
}

// metricSet is one scrape of /metrics.
type metricSet map[string]*dto.MetricFamily

// find returns the sample of name whose labels include the given pairs.
func (m metricSet) find(name string, labels ...string) *dto.Metric {
	f := m[name]
	if f == nil {
		return nil
	}
next:
	for _, s := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range s.Label {
				found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
			}
			if !found {
				continue next
			}
		}
		return s
	}
	return nil
}

// value returns a counter's or gauge's value, NaN when absent.
func (m metricSet) value(name string, labels ...string) float64 {
	s := m.find(name, labels...)
	switch {
	case s == nil:
		return math.NaN()
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	}
	return s.Untyped.GetValue()
}

// sum adds a counter's or gauge's samples.
func (m metricSet) sum(name string) float64 {
	var v float64
	if f := m[name]; f != nil {
		for _, s := range f.Metric {
			v += s.GetCounter().GetValue() + s.GetGauge().GetValue()
		}
	}
	return v
}

func (m metricSet) histogram(name string) *dto.Histogram {
	if s := m.find(name); s != nil {
		return s.Histogram
	}
	return &dto.Histogram{}
}

// scraper reads the admin listener of a running service.
type scraper struct {
	t      *testing.T
	base   string
	token  string
	client *http.Client
}

// newScraper returns a scraper whose connections close when the test ends,
// so that goleak finds none of their goroutines.
func newScraper(t *testing.T, base, token string) *scraper {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &scraper{t: t, base: base, token: token, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// get returns the body of path, with the token when auth is set.
func (sc *scraper) get(path string, auth bool) string {
	sc.t.Helper()
	body, _ := sc.do(path, auth)
	return body
}

func (sc *scraper) status(path string, auth bool) int {
	sc.t.Helper()
	_, code := sc.do(path, auth)
	return code
}

func (sc *scraper) do(path string, auth bool) (string, int) {
	sc.t.Helper()
	req, err := http.NewRequest("GET", sc.base+path, nil)
	if err != nil {
		sc.t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+sc.token)
	}
	res, err := sc.client.Do(req)
	if err != nil {
		sc.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		sc.t.Fatal(err)
	}
	return string(b), res.StatusCode
}

func (sc *scraper) scrape() metricSet {
	sc.t.Helper()
	body, code := sc.do("/metrics", true)
	if code != http.StatusOK {
		sc.t.Fatalf("/metrics: status %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		sc.t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// await scrapes until ok holds, for at most 20 s, and returns that scrape.
func (sc *scraper) await(what string, ok func(metricSet) bool) metricSet {
	sc.t.Helper()
	var m metricSet
	if !testkit.Poll(20*time.Second, func() bool { m = sc.scrape(); return ok(m) }) {
		sc.t.Fatalf("no %s in /metrics after 20 s", what)
	}
	return m
}

// awaitStatus polls path until it answers code, for at most 20 s.
func (sc *scraper) awaitStatus(path string, code int) {
	sc.t.Helper()
	var body string
	var got int
	if !testkit.Poll(20*time.Second, func() bool { body, got = sc.do(path, false); return got == code }) {
		sc.t.Fatalf("%s: status %d (%s) after 20 s, want %d", path, got, strings.TrimSpace(body), code)
	}
}
