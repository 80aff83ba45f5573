// Package harness is `earshot loadtest`: it stresses an earshot build with
// synthetic cameras (package loadtest) on a schedule of ramp-up, churn and
// faults, consumes what earshot produced to Kafka and verifies every second
// of it end to end, accounts earshot's CPU and memory (earshot runs as a
// child process, so that they are its own), compares a canary build with a
// baseline (gray release), runs a build as a fleet whose instances it
// kills, stops and restarts (checking failovers and continuity across
// owners), and writes reports with plots.
//
// A run is described by a Scenario (YAML; built-in ones are in
// loadtest/scenarios). Run runs it against one or more Targets; RunAB
// compares two builds; RunCapacity finds how many streams a build holds in
// real time.
package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest"
)

// ErrInvalidScenario is wrapped by every error for a scenario that cannot
// run.
var ErrInvalidScenario = errors.New("invalid scenario")

// Limits checked by Validate: every load loop is bounded.
const (
	MaxStreams  = 5000
	MaxDuration = 24 * time.Hour
)

// Scenario is a load test: the streams, how they come and go, the faults
// they suffer, and the thresholds the build under test must meet. The zero
// value, with a Duration, is usable: 4 Opus streams.
type Scenario struct {
	// Name names the scenario in reports. It defaults to "custom".
	Name string `yaml:"name"`
	// Description says what the scenario shows. It defaults to "".
	Description string `yaml:"description"`
	// Duration is how long the load runs once the first streams are up.
	// It is required, except for a capacity run.
	Duration time.Duration `yaml:"duration"`
	// Streams is how many streams run from the start (or are ramped up;
	// see RampUp). It defaults to 4.
	Streams int `yaml:"streams"`
	// Codecs are assigned to the streams in turn: [opus, opus, pcma] makes
	// two Opus streams for each PCMA one. It defaults to [opus].
	Codecs []string `yaml:"codecs"`
	// RampUp is how many streams per second are added, through earshot's
	// admin API, after the first one. It defaults to 0: every stream is in
	// earshot's configuration from the start.
	RampUp float64 `yaml:"ramp_up"`
	// Transport is how earshot pulls: tcp, udp or auto. It defaults to tcp.
	Transport string `yaml:"transport"`
	// Video adds an H.264 track to every stream (audio_stop_video needs
	// it). It defaults to false.
	Video bool `yaml:"video"`
	// Warmup is left out of the CPU, memory and latency figures, from the
	// moment the last ramped-up stream was added. It defaults to 2 s.
	Warmup time.Duration `yaml:"warmup"`
	// Churn adds and removes streams during the run.
	Churn []Churn `yaml:"churn"`
	// Faults are injected into the synthetic cameras, At after the start
	// (keys: stream, kind, at, duration, loss, reorder, jitter, jump, size,
	// speed; see
	// loadtest.Fault).
	Faults []loadtest.Fault `yaml:"faults"`
	// Instances runs the build as a fleet of this many `earshot run`
	// child processes (fleet mode, docs/fleet.md) sharing the streams
	// through a registry on the embedded broker, with short fleet timings
	// (session_timeout 3 s, heartbeat_interval 300 ms; the earshot section
	// may change them). It defaults to 1: a single instance, no fleet.
	Instances int `yaml:"instances"`
	// InstanceFaults kill, stop and restart instances of the fleet At
	// after the start (keys: instance, kind, at, duration; see
	// InstanceFault).
	InstanceFaults []InstanceFault `yaml:"instance_faults"`
	// Thresholds are what the build must meet.
	Thresholds Thresholds `yaml:"thresholds"`
	// Capacity configures RunCapacity.
	Capacity Capacity `yaml:"capacity"`
	// Earshot is merged into the configuration generated for earshot
	// (kafka, spool, admin, diagnostics, log and streams are generated):
	// e.g. {ingest: {liveness_timeout: 3s}}.
	Earshot map[string]any `yaml:"earshot"`
	// FidelityStreams is how many streams have their audio compared with
	// the source clip (the first of each codec first). It defaults to 8;
	// -1 compares none.
	FidelityStreams int `yaml:"fidelity_streams"`
	// Partitions of the embedded broker's topic. It defaults to 4.
	Partitions int `yaml:"partitions"`
	// SampleEvery is the period of resource samples and progress lines. It
	// defaults to 1 s.
	SampleEvery time.Duration `yaml:"sample_every"`
}

// Churn adds or removes streams At after the start. Added streams get new
// names and the next codecs in turn; removed ones are the most recently
// added still running.
type Churn struct {
	At     time.Duration `yaml:"at"`
	Add    int           `yaml:"add"`
	Remove int           `yaml:"remove"`
}

// Thresholds are the pass marks of a run and of a canary against its
// baseline. Ratios and deltas of 0 take their default; a negative value
// turns the check off.
type Thresholds struct {
	// MaxLoss is the most audio a run may lose without a scheduled fault
	// explaining it, over all streams. It defaults to 0.
	MaxLoss time.Duration `yaml:"max_loss"`
	// LatencyP99 is the highest p99 of capture → Kafka append (which
	// includes one chunk, 200 ms by default). It defaults to 2 s.
	LatencyP99 time.Duration `yaml:"latency_p99"`
	// MinFidelity is the lowest correlation with the source clip. It
	// defaults to a per-codec mark (0.8 for Opus, 0.95 for G.711…).
	MinFidelity float64 `yaml:"min_fidelity"`
	// Recovery is how long after a fault ends its gaps may last (permanent
	// failures such as 401 add earshot's ingest.permanent_retry). It
	// defaults to 10 s.
	Recovery time.Duration `yaml:"recovery"`

	// CPURatio: canary CPU per stream ≤ CPURatio × baseline's. It
	// defaults to 1.1.
	CPURatio float64 `yaml:"cpu_ratio"`
	// RSSRatio: canary RSS per stream ≤ RSSRatio × baseline's. It defaults
	// to 1.3.
	RSSRatio float64 `yaml:"rss_ratio"`
	// LatencyP99Delta: canary latency p99 ≤ baseline's + LatencyP99Delta.
	// It defaults to 20 ms.
	LatencyP99Delta time.Duration `yaml:"latency_p99_delta"`
	// AllowNewStallReasons lets the canary stall for reasons the baseline
	// did not. It defaults to false.
	AllowNewStallReasons bool `yaml:"allow_new_stall_reasons"`
}

// Capacity configures a capacity run: per codec, streams are added Step at
// a time every StepDuration from Start, until a step is not held or Max.
type Capacity struct {
	// Codecs are measured one after the other. It defaults to [opus, pcma].
	Codecs []string `yaml:"codecs"`
	// Start is the number of streams of the first step. It defaults to 25.
	Start int `yaml:"start"`
	// Step is how many streams each step adds. It defaults to 25.
	Step int `yaml:"step"`
	// Max bounds the number of streams. It defaults to 1000.
	Max int `yaml:"max"`
	// StepDuration is how long each step lasts. It defaults to 15 s.
	StepDuration time.Duration `yaml:"step_duration"`
	// Settle is left out of each step's figures, after its streams were
	// added. It defaults to 5 s.
	Settle time.Duration `yaml:"settle"`
	// AddRate is how many streams per second a step adds. It defaults to
	// 50.
	AddRate float64 `yaml:"add_rate"`
}

// ParseScenario reads a YAML scenario, applies the defaults and validates
// it. Unknown keys are errors.
func ParseScenario(data []byte) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidScenario, err)
	}
	s.setDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// LoadScenario loads ref: a file if one exists at that path, else a
// built-in scenario (see loadtest.ScenarioNames).
func LoadScenario(ref string) (*Scenario, error) {
	data, err := os.ReadFile(ref)
	if errors.Is(err, os.ErrNotExist) && !strings.ContainsAny(ref, "/.") {
		data, err = loadtest.ScenarioFile(ref)
	}
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", ref, err)
	}
	s, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", ref, err)
	}
	return s, nil
}

// setDefaults fills every zero field with its default: the one place they
// are set.
func (s *Scenario) setDefaults() {
	if s.Name == "" {
		s.Name = "custom"
	}
	if s.Streams == 0 {
		s.Streams = 4
	}
	if len(s.Codecs) == 0 {
		s.Codecs = []string{audio.CodecOpus}
	}
	if s.Transport == "" {
		s.Transport = "tcp"
	}
	if s.Warmup == 0 {
		s.Warmup = 2 * time.Second
	}
	if s.FidelityStreams == 0 {
		s.FidelityStreams = 8
	}
	if s.Partitions == 0 {
		s.Partitions = 4
	}
	if s.Instances == 0 {
		s.Instances = 1
	}
	if s.SampleEvery == 0 {
		s.SampleEvery = time.Second
	}
	t := &s.Thresholds
	if t.LatencyP99 == 0 {
		t.LatencyP99 = 2 * time.Second
	}
	if t.Recovery == 0 {
		t.Recovery = 10 * time.Second
	}
	if t.CPURatio == 0 {
		t.CPURatio = 1.1
	}
	if t.RSSRatio == 0 {
		t.RSSRatio = 1.3
	}
	if t.LatencyP99Delta == 0 {
		t.LatencyP99Delta = 20 * time.Millisecond
	}
	c := &s.Capacity
	if len(c.Codecs) == 0 {
		c.Codecs = []string{audio.CodecOpus, audio.CodecPCMA}
	}
	if c.Start == 0 {
		c.Start = 25
	}
	if c.Step == 0 {
		c.Step = 25
	}
	if c.Max == 0 {
		c.Max = 1000
	}
	if c.StepDuration == 0 {
		c.StepDuration = 15 * time.Second
	}
	if c.Settle == 0 {
		c.Settle = 5 * time.Second
	}
	if c.AddRate == 0 {
		c.AddRate = 50
	}
}

// Validate names every problem of a scenario that has its defaults.
// Duration is checked by Run, since a capacity run does not use it.
func (s *Scenario) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Duration < 0 || s.Duration > MaxDuration {
		bad("duration %v is not in [0, %v]", s.Duration, MaxDuration)
	}
	if s.Streams < 1 || s.Streams > MaxStreams {
		bad("streams %d is not in [1, %d]", s.Streams, MaxStreams)
	}
	for _, c := range slices.Concat(s.Codecs, s.Capacity.Codecs) {
		if !slices.Contains(audio.Codecs(), c) {
			bad("codec %q is not one of %s", c, strings.Join(audio.Codecs(), ", "))
		}
	}
	if s.RampUp < 0 {
		bad("ramp_up %g is negative", s.RampUp)
	}
	switch s.Transport {
	case "tcp", "udp", "auto":
	default:
		bad("transport %q is not tcp, udp or auto", s.Transport)
	}
	if s.Warmup < 0 || s.SampleEvery < 100*time.Millisecond {
		bad("warmup %v must not be negative, sample_every %v must be at least 100ms", s.Warmup, s.SampleEvery)
	}
	if s.Partitions < 1 || s.Partitions > 1024 {
		bad("partitions %d is not in [1, 1024]", s.Partitions)
	}
	if s.Instances < 1 || s.Instances > MaxInstances {
		bad("instances %d is not in [1, %d]", s.Instances, MaxInstances)
	}
	for i, f := range s.InstanceFaults {
		errs = append(errs, f.validate(i, s.Instances)...)
	}
	total := s.Streams
	for i, c := range s.Churn {
		if c.At < 0 || c.Add < 0 || c.Remove < 0 || c.Add+c.Remove == 0 {
			bad("churn[%d]: at must not be negative, add and remove not negative and not both 0", i)
		}
		total += c.Add
	}
	if total > MaxStreams {
		bad("streams with churn: %d, more than %d", total, MaxStreams)
	}
	t := s.Thresholds
	if t.MaxLoss < 0 || t.MinFidelity > 1 || t.LatencyP99 < 0 || t.Recovery < 0 {
		bad("thresholds: max_loss, latency_p99 and recovery must not be negative, min_fidelity at most 1")
	}
	c := s.Capacity
	if c.Start < 1 || c.Step < 1 || c.Max < c.Start || c.Max > MaxStreams {
		bad("capacity: start %d and step %d must be positive, max %d in [start, %d]", c.Start, c.Step, c.Max, MaxStreams)
	}
	if c.StepDuration <= c.Settle || c.Settle < 0 || c.AddRate <= 0 {
		bad("capacity: step_duration %v must be longer than settle %v, add_rate positive", c.StepDuration, c.Settle)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w:\n%w", ErrInvalidScenario, errors.Join(errs...))
	}
	return nil
}
