package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Target is an earshot under test: a build the harness runs, or a
// deployment it only observes (black-box).
type Target struct {
	// Label names the target in reports and file names: letters, digits,
	// '-', '_' and '.'. It defaults to "earshot".
	Label string
	// Binary is the earshot executable, run as `BINARY run --config FILE`
	// with a generated configuration that points it at the synthetic
	// cameras and the embedded broker. Empty for a black-box target.
	Binary string
	// Env is added to the child's environment.
	Env []string
	// Backend is the RTSP stack the child pulls every stream with
	// (ingest.backend: "gortsplib", or "gstreamer" in builds with the
	// gstreamer tag); it overrides the scenario's earshot section.
	// Targets side by side with different backends pull the same cameras.
	// It defaults to "": the scenario's, else earshot's default.
	Backend string

	// Brokers and Topic (black-box): where the deployment produces. The
	// harness consumes the topic from its oldest record and keeps the
	// records of the run's streams captured since the run began.
	Brokers []string
	Topic   string
	// Admin (black-box, optional) is the deployment's admin listener,
	// host:port. With it the harness adds the run's streams (and removes
	// them at the end), runs churn, and reads states, stalls and metrics;
	// without it the deployment must already pull the streams, with the
	// ids and URLs the harness writes to streams.yaml.
	Admin string
	// PID (black-box, optional) is the deployment's process on this
	// machine, for its CPU and memory.
	PID int
}

// blackBox reports whether the harness only observes the target.
func (t *Target) blackBox() bool { return t.Binary == "" }

// Options configure Run.
type Options struct {
	// Scenario is what to run. It is required.
	Scenario *Scenario
	// Targets are the builds under test, all under the same load at once
	// (side by side: the same cameras, faults and schedule). One is usual.
	Targets []Target
	// Out is the directory for reports, earshot's configuration and log
	// and its diagnostics: directly in it with one target, in Out/LABEL
	// with several. It defaults to "loadtest-out".
	Out string
	// Listen is the RTSP address of the synthetic cameras; it must be on
	// loopback. It defaults to "127.0.0.1:0".
	Listen string
	// Progress receives a progress line every SampleEvery: rewritten in
	// place when TTY, else one line every 5 seconds or so. Nil: none.
	Progress io.Writer
	TTY      bool
	// Logger receives the harness's own log (the cameras' faults).
	// It defaults to discarding.
	Logger *slog.Logger
	// Compare, when CompareFFmpeg, runs one ffmpeg per stream after the
	// targets stopped, on the same cameras for as long as their steady
	// window, and puts its CPU and memory per stream beside theirs in
	// each report (Report.Compare). It defaults to "": no comparison.
	Compare string
	// FFmpeg is the ffmpeg executable Compare runs. It defaults to
	// "ffmpeg", found on PATH.
	FFmpeg string
}

// Timeouts of a run.
const (
	readyTimeout  = 30 * time.Second // earshot running and its first streams up
	blackBoxReady = 60 * time.Second // the deployment's first records
	stopGrace     = 60 * time.Second // SIGTERM to exit, then SIGKILL
	drainIdle     = 3 * time.Second  // nothing new: the topic is read
	drainLimit    = 30 * time.Second
	defaultOut    = "loadtest-out"
	defaultLabel  = "earshot"
	defaultListen = "127.0.0.1:0"
	topicPrefix   = "earshot.loadtest."
)

var labelRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// setDefaults sets every zero field of o, and of its targets, to its
// default. It is the only place defaults are applied.
func (o *Options) setDefaults() {
	if o.Out == "" {
		o.Out = defaultOut
	}
	if o.Listen == "" {
		o.Listen = defaultListen
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	o.Targets = append([]Target(nil), o.Targets...)
	for i := range o.Targets {
		if o.Targets[i].Label == "" {
			o.Targets[i].Label = defaultLabel
		}
	}
}

// withDefaults returns o with its defaults set, or the first problem that
// keeps it from running.
func (o Options) withDefaults() (Options, error) {
	o.setDefaults()
	return o, o.validate()
}

// validate reports what keeps o from running.
func (o *Options) validate() error {
	if o.Scenario == nil {
		return errors.New("loadtest: no scenario")
	}
	if err := checkLoopback(o.Listen); err != nil {
		return err
	}
	if o.Compare != "" && o.Compare != CompareFFmpeg {
		return fmt.Errorf("loadtest: compare with %q: only %q is supported", o.Compare, CompareFFmpeg)
	}
	if len(o.Targets) == 0 {
		return errors.New("loadtest: no target")
	}
	seen := map[string]bool{}
	for i := range o.Targets {
		t := &o.Targets[i]
		if !labelRE.MatchString(t.Label) || seen[t.Label] {
			return fmt.Errorf("loadtest: target label %q is not unique letters, digits, '-', '_' and '.'", t.Label)
		}
		seen[t.Label] = true
		if t.blackBox() && t.Backend != "" {
			return fmt.Errorf("loadtest: target %s: a backend applies only to a binary the harness runs", t.Label)
		}
		if t.blackBox() && (len(t.Brokers) == 0 || t.Topic == "") {
			return fmt.Errorf("loadtest: target %s: no binary to run, and no brokers and topic to observe", t.Label)
		}
		if t.blackBox() && o.Scenario.Instances > 1 {
			return fmt.Errorf("loadtest: target %s: a fleet of %d instances needs a binary to run", t.Label, o.Scenario.Instances)
		}
		if t.blackBox() && t.Admin == "" && len(o.Scenario.Churn) > 0 {
			return fmt.Errorf("loadtest: target %s: churn needs the deployment's admin address", t.Label)
		}
		if t.Admin != "" {
			if err := checkLoopback(t.Admin); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkLoopback refuses an address beyond loopback: load goes to this
// machine only.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("loadtest: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("loadtest: address %q is not on loopback (127.0.0.0/8, ::1)", addr)
	}
	return nil
}

// Run runs o.Scenario against o.Targets and writes a report for each; it
// returns them in the order of the targets. It returns an error when the
// run could not take place (bad options, a build that does not start); a
// build that fails its checks has a Report with Pass false.
func Run(ctx context.Context, o Options) ([]*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Scenario.Duration <= 0 {
		return nil, fmt.Errorf("%w: no duration", ErrInvalidScenario)
	}
	p, err := newPlan(o.Scenario)
	if err != nil {
		return nil, err
	}
	s, err := newSession(o, p)
	if err != nil {
		return nil, err
	}
	defer s.close()
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	s.load(ctx, s.t0.Add(o.Scenario.Duration), nil)
	s.stop(ctx)
	reports := s.reports()
	if o.Compare != "" {
		window := s.stopAt.Sub(s.steadyFrom)
		if window <= 0 {
			window = o.Scenario.Duration
		}
		c := s.compare(ctx, window)
		for _, r := range reports {
			r.Compare = c.withTarget(r)
		}
	}
	for i, r := range reports {
		if err := r.WriteFiles(s.targets[i].dir); err != nil {
			return reports, err
		}
	}
	return reports, nil
}

// targetDir is where a target's files go.
func targetDir(out, label string, targets int) string {
	if targets == 1 {
		return out
	}
	return filepath.Join(out, label)
}

// mkdirs creates the directories of dirs.
func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}
