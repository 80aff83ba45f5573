package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// metric is one metric earshot exports at /metrics. Every metric is named,
// typed and documented here, once: the collector and the histograms are
// built from these definitions, the table in docs/metrics.md is checked
// against metricsTable (TestMetricsDocListsEveryMetric), and the
// dashboard's queries against a live scrape (TestMetricsDuringARun).
type metric struct {
	Name string
	Type prometheus.ValueType // GaugeValue, CounterValue or UntypedValue for a histogram
	// Labels are the variable labels. A stream label holds the stream id,
	// never its URL.
	Labels  []string
	Help    string
	Buckets []float64 // histograms only

	desc *prometheus.Desc
}

// histogram marks a metric as a histogram in metric.Type.
const histogram = prometheus.UntypedValue

func newMetric(name string, typ prometheus.ValueType, labels []string, help string) *metric {
	return &metric{Name: name, Type: typ, Labels: labels, Help: help, desc: prometheus.NewDesc(name, help, labels, nil)}
}

func newHistogram(name, help string, buckets []float64) *metric {
	m := newMetric(name, histogram, nil, help)
	m.Buckets = buckets
	return m
}

var stream = []string{"stream"}

// The metrics, in the order of the table in docs/metrics.md.
var (
	metricStreamUp = newMetric("earshot_stream_up", prometheus.GaugeValue, stream,
		"1 while RTP audio flows: the stream is in state streaming and not stalled; else 0.")
	metricStreamState = newMetric("earshot_stream_state", prometheus.GaugeValue, []string{"stream", "state"},
		"1 for the stream's current state (connecting, streaming, backoff, error, stopped), 0 for the others.")
	metricLastPacketAge = newMetric("earshot_stream_last_packet_age_seconds", prometheus.GaugeValue, stream,
		"Seconds since the stream's worker last took an RTP audio packet; absent before the first.")
	metricRTPPackets = newMetric("earshot_rtp_packets_total", prometheus.CounterValue, stream,
		"RTP audio packets read from the source.")
	metricRTPLost = newMetric("earshot_rtp_packets_lost_total", prometheus.CounterValue, stream,
		"RTP packets missing from the sequence (after reordering, on UDP).")
	metricDecodeErrors = newMetric("earshot_decode_errors_total", prometheus.CounterValue, stream,
		"RTP payloads the audio decoder rejected, and RTP or RTCP data that could not be parsed.")
	metricTrimmed = newMetric("earshot_trimmed_packets_total", prometheus.CounterValue, stream,
		"RTP packets whose audio was cut to their RTP slot: the payload was longer than the timestamps allow, or longer than 300 ms.")
	metricDiscontinuities = newMetric("earshot_discontinuities_total", prometheus.CounterValue, stream,
		"Timeline restarts: SSRC changes, RTP timestamp jumps, and sequence jumps the timestamps do not follow.")
	metricCallbackSeconds = newHistogram("earshot_sdk_callback_seconds",
		"Duration of the SDK's data callbacks (earshot's copy into the handoff), all streams.",
		// 1 µs .. 2.1 s, four buckets per octave: the load test reads p99.9
		// as its bucket's upper bound, and the target is 50 µs (bounds at
		// 38, 45, 54 µs); two per octave read 64 µs for anything over 32.
		prometheus.ExponentialBuckets(1e-6, math.Pow(2, 0.25), 85))
	metricSDKDropped = newMetric("earshot_sdk_dropped_frames_total", prometheus.CounterValue, stream,
		"Frames the SDK dropped from its queue because its callbacks were behind.")
	metricHandoffDepth = newMetric("earshot_handoff_queue_depth", prometheus.GaugeValue, stream,
		"Frames waiting in the handoff for the stream worker.")
	metricHandoffDropped = newMetric("earshot_handoff_dropped_total", prometheus.CounterValue, stream,
		"Frames dropped at the handoff because the stream worker was behind.")
	metricChunks = newMetric("earshot_chunks_total", prometheus.CounterValue, stream,
		"Audio records (chunks) written to the sink.")
	metricAudioSeconds = newMetric("earshot_audio_seconds_total", prometheus.CounterValue, stream,
		"Seconds of audio (at the output rate) written in audio records.")
	metricGaps = newMetric("earshot_gaps_total", prometheus.CounterValue, []string{"stream", "reason"},
		"Gap records, by reason: rtp_loss, handoff_drop, decode_error, discontinuity, disconnected, a stall reason, clock_too_fast, output_ceiling, or sink_drop (spool full or failing).")
	metricStalls = newMetric("earshot_stalls_total", prometheus.CounterValue, []string{"stage", "reason"},
		"Stalls detected, by stage (source, sdk_callback, worker, sink) and reason.")
	metricReconnects = newMetric("earshot_reconnects_total", prometheus.CounterValue, stream,
		"Sessions that ended or failed to open, and were retried.")
	metricClockDrift = newMetric("earshot_clock_drift_ppm", prometheus.GaugeValue, stream,
		"How much faster than real time the source's RTP clock runs, in parts per million; 0 until a timeline has lasted 10 s.")
	metricLevel = newMetric("earshot_stream_level_dbfs", prometheus.GaugeValue, stream,
		"RMS audio level of the stream's last 100 ms, in dBFS (-120: digital zero); absent while not streaming. silent_audio stalls flag a level below ingest.silence_threshold_dbfs.")
	metricProduceSeconds = newHistogram("earshot_kafka_produce_seconds",
		"Duration of produce attempts to Kafka, failed ones included.",
		prometheus.ExponentialBuckets(1e-3, 2, 16)) // 1 ms .. 33 s
	metricKafkaRecords = newMetric("earshot_kafka_records_total", prometheus.CounterValue, []string{"result"},
		"Records by outcome: delivered (acknowledged by Kafka), spooled (written to the spool), failed (given up: no room without a spool, or too large for the broker), dropped (replaced by sink_drop gaps: spool full, memory full while the spool could not write, or damaged in the spool), lost (lost without a gap record).")
	metricKafkaErrors = newMetric("earshot_kafka_produce_errors_total", prometheus.CounterValue, nil,
		"Produce attempts that failed; each is retried.")
	metricKafkaStalled = newMetric("earshot_kafka_stalled", prometheus.GaugeValue, nil,
		"1 while the Kafka writer is stalled: nothing acknowledged for kafka.stall_timeout while records wait, or the broker unreachable.")
	metricKafkaPending = newMetric("earshot_kafka_pending_records", prometheus.GaugeValue, nil,
		"Records accepted and not yet acknowledged by Kafka, in memory and in the spool.")
	metricSpoolBytes = newMetric("earshot_spool_bytes", prometheus.GaugeValue, nil,
		"Bytes of records waiting in the on-disk spool.")
	metricSpoolFailing = newMetric("earshot_spool_failing", prometheus.GaugeValue, nil,
		"1 while the spool cannot write (disk full, quota, I/O error): records are held in memory, the oldest replaced by sink_drop gaps when it is full.")
	metricPipelineLatency = newHistogram("earshot_pipeline_latency_seconds",
		"From the RTP arrival of an audio record's first packet to Kafka's acknowledgement of the record; includes the chunk's own duration.",
		prometheus.ExponentialBuckets(0.01, 2, 17)) // 10 ms .. 11 min

	// Fleet mode (fleet.group set); 0 for a single instance.
	metricFleetMembers = newMetric("earshot_fleet_members", prometheus.GaugeValue, nil,
		"Members of the fleet's Kafka consumer group, as last described by the coordinator.")
	metricFleetPartitions = newMetric("earshot_fleet_partitions_owned", prometheus.GaugeValue, nil,
		"Registry partitions this instance owns; its streams are those of these partitions.")
	metricFleetRebalances = newMetric("earshot_fleet_rebalances_total", prometheus.CounterValue, nil,
		"Group rebalances this instance completed (SyncGroup answers).")
	metricFleetMoved = newMetric("earshot_fleet_streams_moved_total", prometheus.CounterValue, nil,
		"Streams this instance stopped because their partition was revoked or lost (end reason moved).")
	metricFleetFenced = newMetric("earshot_fleet_fenced", prometheus.GaugeValue, nil,
		"1 while this instance has stopped every stream because no heartbeat completed for fleet.session_timeout minus a margin.")
	metricFleetFences = newMetric("earshot_fleet_fences_total", prometheus.CounterValue, nil,
		"Times this instance fenced itself.")
)

// metrics lists every metric earshot defines (the Go runtime's and the
// process's come from client_golang's collectors).
var metrics = []*metric{
	metricStreamUp, metricStreamState, metricLastPacketAge,
	metricRTPPackets, metricRTPLost, metricDecodeErrors, metricTrimmed, metricDiscontinuities,
	metricCallbackSeconds, metricSDKDropped,
	metricHandoffDepth, metricHandoffDropped,
	metricChunks, metricAudioSeconds, metricGaps,
	metricStalls, metricReconnects, metricClockDrift, metricLevel,
	metricProduceSeconds, metricKafkaRecords, metricKafkaErrors, metricKafkaStalled, metricKafkaPending,
	metricSpoolBytes, metricSpoolFailing, metricPipelineLatency,
	metricFleetMembers, metricFleetPartitions, metricFleetRebalances, metricFleetMoved, metricFleetFenced, metricFleetFences,
}

// typeName is the metric's type as Prometheus names it.
func (m *metric) typeName() string {
	switch m.Type {
	case prometheus.CounterValue:
		return "counter"
	case prometheus.GaugeValue:
		return "gauge"
	}
	return "histogram"
}

// histogram returns a new histogram of a histogram metric.
func (m *metric) histogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: m.Name, Help: m.Help, Buckets: m.Buckets})
}

// emit sends one sample of a counter or gauge metric.
func (m *metric) emit(ch chan<- prometheus.Metric, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(m.desc, m.Type, v, labels...)
}

// metricsTable renders the table of metrics in docs/metrics.md.
func metricsTable() string {
	var b strings.Builder
	b.WriteString("| metric | type | labels | meaning |\n|---|---|---|---|\n")
	for _, m := range metrics {
		labels := "—"
		if len(m.Labels) > 0 {
			labels = "`" + strings.Join(m.Labels, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", m.Name, m.typeName(), labels, m.Help)
	}
	return b.String()
}
