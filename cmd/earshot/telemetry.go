package main

import (
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/ingest/fleet"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// telemetry is earshot's Prometheus registry. Counters and gauges are read
// at scrape time from the counters the supervisor and the writer keep
// anyway, so nothing is updated per packet for them; the three histograms
// are fed by the SDK's callback observer and the writer's Observer (an
// atomic add or two per observation). The Go runtime and process
// collectors complete it.
type telemetry struct {
	callback, produce, latency prometheus.Histogram
	reg                        *prometheus.Registry

	// Set by watch, before the first scrape.
	sup    *ingest.Supervisor
	writer *sink.Writer
	member *fleet.Member // nil unless fleet mode

	mu        sync.Mutex
	sinkDrops map[string]uint64 // sink_drop gaps by stream
}

// streamStates are the values of earshot_stream_state's state label.
var streamStates = []ingest.State{ingest.StateConnecting, ingest.StateStreaming, ingest.StateBackoff, ingest.StateError, ingest.StateStopped}

// stallKinds are the stage and reason pairs of earshot_stalls_total, all
// exported from the start so that rate() sees the first stall.
var stallKinds = [][2]string{
	{ingest.StageSource, schema.ReasonNoRTP},
	{ingest.StageSource, schema.ReasonRTCPOnly},
	{ingest.StageSource, schema.ReasonTimestampsFrozen},
	{ingest.StageSource, ingest.ReasonSilentAudio},
	{ingest.StageCallback, schema.ReasonCallbackBlocked},
	{ingest.StageWorker, schema.ReasonWorkerStuck},
	{ingest.StageSink, schema.ReasonSinkStalled},
}

func newTelemetry() *telemetry {
	return &telemetry{
		callback:  metricCallbackSeconds.histogram(),
		produce:   metricProduceSeconds.histogram(),
		latency:   metricPipelineLatency.histogram(),
		sinkDrops: make(map[string]uint64),
	}
}

// watch registers every metric, reading sup and w at each scrape.
func (t *telemetry) watch(sup *ingest.Supervisor, w *sink.Writer) {
	t.sup, t.writer = sup, w
	t.reg = prometheus.NewRegistry()
	t.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		t, t.callback, t.produce, t.latency,
	)
}

// Handler serves the registry in Prometheus' text format.
func (t *telemetry) Handler() http.Handler {
	return promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// observeCallback is the SDK's CallbackObserver: it runs on an SDK
// callback worker after every data callback, and never blocks.
func (t *telemetry) observeCallback(d time.Duration) { t.callback.Observe(d.Seconds()) }

// Produced implements sink.Observer, on the writer's goroutine.
func (t *telemetry) Produced(d time.Duration, _ int, _ error) { t.produce.Observe(d.Seconds()) }

// Acknowledged implements sink.Observer, on the writer's goroutine: the
// latency of every audio record from its first packet's arrival.
func (t *telemetry) Acknowledged(arrivals []time.Time) {
	now := time.Now()
	for _, a := range arrivals {
		if !a.IsZero() {
			t.latency.Observe(now.Sub(a).Seconds())
		}
	}
}

// Dropped implements sink.Observer, on the writer's goroutine: a full
// spool replaced records of d.Stream by a sink_drop gap.
func (t *telemetry) Dropped(d sink.Drop) {
	t.mu.Lock()
	t.sinkDrops[d.Stream]++
	t.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (t *telemetry) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metrics {
		if m.Type != histogram {
			ch <- m.desc
		}
	}
}

// Collect implements prometheus.Collector: one pass over the streams'
// stats, the stall counts and the writer's stats.
func (t *telemetry) Collect(ch chan<- prometheus.Metric) {
	t.mu.Lock()
	drops := maps.Clone(t.sinkDrops)
	t.mu.Unlock()
	now := time.Now()
	for _, s := range t.sup.Stats() {
		collectStream(ch, &s, drops[s.ID], now)
	}
	stalls := make(map[[2]string]uint64)
	for _, c := range t.sup.Stalls() {
		stalls[[2]string{c.Stage, c.Reason}] = c.Count
	}
	for _, k := range stallKinds {
		metricStalls.emit(ch, float64(stalls[k]), k[0], k[1])
	}

	ws, h := t.writer.Stats(), t.writer.Health()
	metricKafkaRecords.emit(ch, float64(ws.Delivered), "delivered")
	metricKafkaRecords.emit(ch, float64(ws.Spooled), "spooled")
	metricKafkaRecords.emit(ch, float64(ws.Failed), "failed")
	metricKafkaRecords.emit(ch, float64(ws.Dropped), "dropped")
	metricKafkaRecords.emit(ch, float64(ws.Lost), "lost")
	metricKafkaErrors.emit(ch, float64(ws.Retries))
	metricKafkaStalled.emit(ch, bool01(h.Stalled))
	metricKafkaPending.emit(ch, float64(h.Pending))
	metricSpoolBytes.emit(ch, float64(ws.SpoolBytes))
	metricSpoolFailing.emit(ch, bool01(ws.SpoolFailing))
	var fs fleet.Stats // zeros outside fleet mode: every metric is always exported
	if t.member != nil {
		fs = t.member.Stats()
	}
	collectFleet(ch, fs)
}

// collectStream emits one stream's metrics; sinkDrops is its count of
// sink_drop gaps.
func collectStream(ch chan<- prometheus.Metric, s *ingest.StreamStats, sinkDrops uint64, now time.Time) {
	id := s.ID
	metricStreamUp.emit(ch, bool01(s.State == ingest.StateStreaming && s.Stall == nil), id)
	for _, state := range streamStates {
		metricStreamState.emit(ch, bool01(s.State == state), id, string(state))
	}
	if !s.LastPacket.IsZero() {
		metricLastPacketAge.emit(ch, now.Sub(s.LastPacket).Seconds(), id)
	}
	metricRTPPackets.emit(ch, float64(s.RTPReceived), id)
	metricRTPLost.emit(ch, float64(s.RTPLost), id)
	metricDecodeErrors.emit(ch, float64(s.DecodeErrors+s.RTPErrors), id)
	metricTrimmed.emit(ch, float64(s.Trimmed), id)
	metricDiscontinuities.emit(ch, float64(s.Discontinuities), id)
	metricSDKDropped.emit(ch, float64(s.SDKDropped), id)
	metricHandoffDepth.emit(ch, float64(s.HandoffQueued), id)
	metricHandoffDropped.emit(ch, float64(s.HandoffDropped), id)
	metricChunks.emit(ch, float64(s.Chunks), id)
	metricAudioSeconds.emit(ch, s.AudioSeconds, id)
	for reason, n := range s.GapReasons {
		metricGaps.emit(ch, float64(n), id, reason)
	}
	if sinkDrops > 0 {
		metricGaps.emit(ch, float64(sinkDrops), id, schema.ReasonSinkDrop)
	}
	metricReconnects.emit(ch, float64(s.Reconnects), id)
	metricClockDrift.emit(ch, s.ClockDriftPPM, id)
	if s.Level != nil {
		metricLevel.emit(ch, s.Level.RMS, id)
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
