package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Report is the outcome of one build under one run of a scenario: every
// figure, every check, and whether the build passed. Durations are in
// milliseconds (…_ms) or seconds (…_s); a figure that could not be
// measured is null ("n/a" in report.md and report.html).
type Report struct {
	Scenario    string    `json:"scenario"`
	Description string    `json:"description,omitempty"`
	Target      string    `json:"target"`
	Build       string    `json:"build,omitempty"`
	Mode        string    `json:"mode"` // self-contained or black-box
	Host        Host      `json:"host"`
	Started     time.Time `json:"started"`
	DurationS   float64   `json:"duration_s"` // of the load, start to stop
	Pass        bool      `json:"pass"`
	Failures    []string  `json:"failures"`
	Warnings    []string  `json:"warnings,omitempty"`

	Streams   StreamFigures    `json:"streams"`
	Loss      LossFigures      `json:"loss"`
	Latency   LatencyFigures   `json:"latency"`
	Resources ResourceFigures  `json:"resources"`
	Earshot   EarshotFigures   `json:"earshot"`
	Generator GeneratorFigures `json:"generator"`
	Faults    []FaultResult    `json:"faults,omitempty"`
	// Fleet is the run of a fleet of instances (Scenario.Instances > 1).
	Fleet *FleetFigures `json:"fleet,omitempty"`
	// Compare is another consumer on the same cameras (Options.Compare).
	Compare   *Comparison    `json:"compare,omitempty"`
	PerStream []StreamResult `json:"per_stream"`
	Series    Series         `json:"series"`
}

// Host is the machine the run measured.
type Host struct {
	Hostname  string `json:"hostname"`
	CPUs      int    `json:"cpus"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"go_version"`
}

func thisHost() Host {
	name, _ := os.Hostname()
	return Host{Hostname: name, CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version()}
}

// StreamFigures count the streams.
type StreamFigures struct {
	Planned   int `json:"planned"`   // streams the run asked earshot to pull
	Delivered int `json:"delivered"` // of them, with audio in Kafka
	MaxUp     int `json:"max_up"`    // most streaming at once (admin API)
	Added     int `json:"added"`     // through the admin API during the run
	Removed   int `json:"removed"`
	// ConnectP50Ms and ConnectMaxMs: from asking earshot to pull a stream
	// to the capture time of its first audio.
	ConnectP50Ms *float64 `json:"connect_p50_ms"`
	ConnectMaxMs *float64 `json:"connect_max_ms"`
}

// LossFigures say what was lost, end to end.
type LossFigures struct {
	// UnexplainedMs is audio missing from the timelines that no scheduled
	// fault explains: earshot's own gaps (handoff_drop, callback_blocked,
	// sink_drop…), holes no record explains (missing), gaps with a reason
	// their fault does not give, and streams that stopped early.
	UnexplainedMs   float64 `json:"unexplained_ms"`
	UnexplainedGaps int     `json:"unexplained_gaps"`
	// ExplainedMs is the gaps scheduled faults explain.
	ExplainedMs float64 `json:"explained_ms"`
	// AudioS is the audio received; ExpectedS the time the streams were
	// pulled, from their first record to their end.
	AudioS    float64 `json:"audio_s"`
	ExpectedS float64 `json:"expected_s"`
	// SeqErrors are records missing or out of order within an epoch, or
	// epochs out of order.
	SeqErrors      uint64             `json:"seq_errors"`
	Duplicates     uint64             `json:"duplicates"`  // redeliveries dropped
	Unparseable    uint64             `json:"unparseable"` // not schema-1 records
	GapsByReasonMs map[string]float64 `json:"gaps_by_reason_ms"`
	// FidelityMin is the lowest correlation of received audio with the
	// source clip, over the streams compared.
	FidelityMin *float64 `json:"fidelity_min"`
}

// LatencyFigures are the pipeline latency of audio records: capture time
// of the first sample (the record timestamp) to the broker's append
// (Source "broker_append", self-contained runs) or to the harness's
// consumer (Source "consumed", black-box). It includes the chunk.
type LatencyFigures struct {
	Source string     `json:"source"`
	Count  uint64     `json:"count"`
	P50Ms  float64    `json:"p50_ms"`
	P99Ms  float64    `json:"p99_ms"`
	P999Ms float64    `json:"p999_ms"`
	MaxMs  float64    `json:"max_ms"`
	MeanMs float64    `json:"mean_ms"`
	CDF    []CDFPoint `json:"cdf"`
}

func latencyFigures(source string, h *Histogram) LatencyFigures {
	return LatencyFigures{
		Source: source, Count: h.Count(),
		P50Ms: ms(h.Quantile(0.5)), P99Ms: ms(h.Quantile(0.99)), P999Ms: ms(h.Quantile(0.999)),
		MaxMs: ms(h.Max()), MeanMs: ms(h.Mean()), CDF: h.CDF(200),
	}
}

// ResourceFigures are earshot's CPU and memory over the steady window
// (after the ramp-up and warm-up), from /proc.
type ResourceFigures struct {
	Measured bool    `json:"measured"`
	WindowS  float64 `json:"window_s"`
	// StreamsUp is the mean number of streams streaming in the window.
	StreamsUp float64 `json:"streams_up"`
	// CPUCores is user + system CPU time per second (1 = one core).
	CPUCores     float64 `json:"cpu_cores"`
	CPUPerStream float64 `json:"cpu_per_stream"` // cores per stream
	// CPUMsPerAudioS is CPU milliseconds per second of audio delivered.
	CPUMsPerAudioS    float64 `json:"cpu_ms_per_audio_s"`
	RSSBytes          int64   `json:"rss_bytes"` // median in the window
	RSSMaxBytes       int64   `json:"rss_max_bytes"`
	RSSPerStreamBytes int64   `json:"rss_per_stream_bytes"`
	// PSSBytes is the median proportional set size (smaps_rollup; 0 where
	// the kernel has none), shared pages divided among their sharers.
	PSSBytes          int64 `json:"pss_bytes"`
	PSSPerStreamBytes int64 `json:"pss_per_stream_bytes"`
	// HarnessCPUCores is the harness's own CPU use (cameras, broker,
	// verifier), which shares the machine.
	HarnessCPUCores float64 `json:"harness_cpu_cores"`
}

// EarshotFigures are what earshot says about itself: its metrics (issue
// 5's names, at /metrics) or, for builds without them, its stream API.
type EarshotFigures struct {
	ExitCode       *int     `json:"exit_code"` // of `earshot run`; null when not run by the harness
	Metrics        bool     `json:"metrics"`   // /metrics was served
	CallbackP999Ms *float64 `json:"callback_p999_ms"`
	// PipelineLatencyP99Ms is earshot's own arrival → Kafka ack latency.
	PipelineLatencyP99Ms *float64          `json:"pipeline_latency_p99_ms"`
	Drops                map[string]uint64 `json:"drops"` // by stage
	DropsSource          string            `json:"drops_source"`
	Stalls               map[string]uint64 `json:"stalls"` // by "stage/reason"
	StallsSource         string            `json:"stalls_source"`
	Reconnects           uint64            `json:"reconnects"`
}

// GeneratorFigures are the synthetic cameras'.
type GeneratorFigures struct {
	Streams int `json:"streams"`
	// SkippedRounds counts packet rounds the cameras' pacer dropped
	// because the machine could not keep it in real time: their audio is
	// lost before earshot.
	SkippedRounds uint64 `json:"skipped_rounds"`
}

// FaultResult is how earshot met one fault.
type FaultResult struct {
	Fault     string    `json:"fault"`
	Kind      string    `json:"kind"`
	Stream    string    `json:"stream,omitempty"` // "" for server-wide
	AtS       float64   `json:"at_s"`
	DurationS float64   `json:"duration_s"`
	Began     time.Time `json:"began"`
	Ended     time.Time `json:"ended"`
	// Expected is the gap reason the fault must leave, "" for none.
	Expected string `json:"expected_reason"`
	Streams  int    `json:"streams"`  // streams it hit
	Detected int    `json:"detected"` // of them, with a gap of the expected reason
	// DetectionMs: from the fault's beginning to the end of its gap of
	// the expected reason (when earshot knew); median and max over the
	// streams.
	DetectionMs    *float64 `json:"detection_ms"`
	DetectionMaxMs *float64 `json:"detection_max_ms"`
	// RecoveryMs: from the fault's end to audio again; median and max.
	RecoveryMs    *float64 `json:"recovery_ms"`
	RecoveryMaxMs *float64 `json:"recovery_max_ms"`
	Recovered     int      `json:"recovered"`
	GapMs         float64  `json:"gap_ms"` // gaps it explains
	Error         string   `json:"error,omitempty"`
	Pass          bool     `json:"pass"`
	Problem       string   `json:"problem,omitempty"`
}

// StreamResult is the end-to-end check of one stream.
type StreamResult struct {
	Stream        string             `json:"stream"`
	Codec         string             `json:"codec"`
	Records       uint64             `json:"records"`
	Epochs        int                `json:"epochs"`
	AudioS        float64            `json:"audio_s"`
	ExpectedS     float64            `json:"expected_s"`
	UnexplainedMs float64            `json:"unexplained_ms"`
	ExplainedMs   float64            `json:"explained_ms"`
	GapsMs        map[string]float64 `json:"gaps_ms,omitempty"` // by reason
	SeqErrors     uint64             `json:"seq_errors"`
	EndReason     string             `json:"end_reason,omitempty"`
	Fidelity      *float64           `json:"fidelity"`
	Problems      []string           `json:"problems,omitempty"`
	Timeline      []GapResult        `json:"timeline,omitempty"` // its gaps
	AddedS        float64            `json:"added_s"`            // from the start
	RemovedS      *float64           `json:"removed_s"`
	// Failovers are the stream's moves from one instance of a fleet to
	// another.
	Failovers []FailoverResult `json:"failovers,omitempty"`
}

// FailoverResult is one move of a stream between instances: from the
// end of the last audio of the old owner's epoch to the first audio of
// the new owner's (negative: the epochs overlap).
type FailoverResult struct {
	AtS       float64 `json:"at_s"` // the old epoch's last audio, from the start
	From      string  `json:"from"`
	To        string  `json:"to"`
	FromEpoch uint64  `json:"from_epoch"`
	ToEpoch   uint64  `json:"to_epoch"`
	Ms        float64 `json:"ms"`
	OldEnd    string  `json:"old_end,omitempty"` // the old epoch's end reason; "" when it has none (killed)
}

// FleetFigures are the run of a fleet: the instance faults, how long the
// streams took to be pulled again, and the continuity across owners.
type FleetFigures struct {
	Instances       []string `json:"instances"`
	Partitions      int      `json:"partitions"` // of the registry
	SessionTimeoutS float64  `json:"session_timeout_s"`
	// Failovers counts the streams' moves between instances; the median
	// and max are over them.
	Failovers     int                   `json:"failovers"`
	FailoverP50Ms *float64              `json:"failover_p50_ms"`
	FailoverMaxMs *float64              `json:"failover_max_ms"`
	Faults        []InstanceFaultResult `json:"faults,omitempty"`
	// ContinuityProblems counts pairs of epochs of a stream that overlap
	// in capture time by more than 500 ms (pulled twice) or come out of
	// order.
	ContinuityProblems int `json:"continuity_problems"`
	// Continuity is the verdict across owners: no overlap, and the audio
	// stops only where the owner changed or a fault explains it.
	ContinuityPass bool   `json:"continuity_pass"`
	Continuity     string `json:"continuity"`
}

// InstanceFaultResult is how the fleet met one instance fault.
type InstanceFaultResult struct {
	Fault     string    `json:"fault"`
	Kind      string    `json:"kind"`
	Instance  string    `json:"instance"`
	AtS       float64   `json:"at_s"`
	DurationS float64   `json:"duration_s"`
	Began     time.Time `json:"began"`
	// Streams the instance pulled when the fault began; Recovered of
	// them were pulled again (by any instance, in a new epoch) within
	// BoundMs of their last audio.
	Streams       int      `json:"streams"`
	Recovered     int      `json:"recovered"`
	FailoverMs    *float64 `json:"failover_ms"` // median
	FailoverMaxMs *float64 `json:"failover_max_ms"`
	BoundMs       float64  `json:"bound_ms"`
	Error         string   `json:"error,omitempty"`
	Pass          bool     `json:"pass"`
	Problem       string   `json:"problem,omitempty"`
}

// GapResult is a gap of a stream's timeline.
type GapResult struct {
	AtS       float64 `json:"at_s"` // from the start of the run
	Ms        float64 `json:"ms"`
	Reason    string  `json:"reason"`
	Explained bool    `json:"explained"`
	Fault     string  `json:"fault,omitempty"` // the fault explaining it
	Note      string  `json:"note,omitempty"`
}

// Series are the samples taken during the run, SampleEvery apart.
type Series struct {
	T            []float64 `json:"t_s"` // from the start
	StreamsUp    []int     `json:"streams_up"`
	CPUCores     []float64 `json:"cpu_cores"`
	RSSMB        []float64 `json:"rss_mb"`
	RecordsPerS  []float64 `json:"records_per_s"`
	LatencyP99Ms []float64 `json:"latency_p99_ms"` // of the interval
}

// writeJSON writes v, indented, to dir/name.
func writeJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644)
}

// WriteFiles writes report.json, report.md and report.html into dir.
func (r *Report) WriteFiles(dir string) error {
	return writeFiles(dir, "report", r, r.Markdown(), htmlPage("earshot loadtest: "+r.Scenario, r.htmlBody()))
}

// writeFiles writes v as base.json, and base.md and base.html, into dir.
func writeFiles(dir, base string, v any, md, page string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeJSON(dir, base+".json", v); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, base+".md"), []byte(md), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, base+".html"), []byte(page), 0o644)
}

// Summary is one line: pass or fail, and the main figures.
func (r *Report) Summary() string {
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	line := fmt.Sprintf("%s %s [%s]: %d/%d streams delivered, unexplained loss %s, latency p99 %s, CPU/stream %s, RSS/stream %s",
		verdict, r.Scenario, r.Target, r.Streams.Delivered, r.Streams.Planned, fmtMs(r.Loss.UnexplainedMs),
		fmtMs(r.Latency.P99Ms), r.cpuPerStream(), r.rssPerStream())
	if f := r.Fleet; f != nil {
		continuity := "ok"
		if !f.ContinuityPass {
			continuity = "FAIL"
		}
		line += fmt.Sprintf("; fleet of %d: %d failovers, max %s, continuity %s", len(f.Instances), f.Failovers, fmtOptMs(f.FailoverMaxMs), continuity)
	}
	return line
}

func (r *Report) cpuPerStream() string {
	if !r.Resources.Measured {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%% core", 100*r.Resources.CPUPerStream)
}

func (r *Report) rssPerStream() string {
	if !r.Resources.Measured {
		return "n/a"
	}
	return fmtBytes(r.Resources.RSSPerStreamBytes)
}

// fmtMs formats milliseconds for people.
func fmtMs(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.1f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

// fmtOptMs formats an optional figure.
func fmtOptMs(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmtMs(*v)
}

func fmtBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
}

func ptr[T any](v T) *T { return &v }
