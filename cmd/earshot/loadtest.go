package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/harness"
)

const loadtestSynopsis = `loadtest [--scenario NAME|FILE] [--out DIR] [flags]

Stress an earshot build with synthetic cameras, verify every second of what
it produces to Kafka, and report (report.json, report.md, report.html).

  self-contained (default)  cameras and an embedded broker here; the build
                            under test (--earshot, default this binary) runs
                            as a child process, measured alone
  A/B                       --baseline BIN --canary BIN: same load, verdict
                            on the canary (exit 1 when it fails, naming why)
  capacity                  --capacity: streams added until real time is not
                            held; the most streams per codec
  black-box                 --brokers H:P --topic T [--admin H:P] [--pid N]:
                            serve the cameras on --listen and verify an
                            external deployment's topic
  fleet                     --instances N: N instances of the build in fleet
                            mode share the streams; the scenario's
                            instance_faults kill, term, stop and restart
                            them; the report gives each stream's failovers
                            and checks continuity across owners

Built-in scenarios: ` // + names

func loadtestCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("loadtest", loadtestSynopsis+strings.Join(loadtest.ScenarioNames(), ", "), stderr)
	scenario := fs.String("scenario", "smoke", "built-in scenario `name`, or a scenario YAML file")
	out := fs.String("out", "loadtest-out", "`directory` for reports, earshot's configuration, log and diagnostics")
	bin := fs.String("earshot", "", "earshot `binary` under test (default: this one)")
	streams := fs.Int("streams", 0, "override the scenario's number of streams")
	codecs := fs.String("codecs", "", "override the scenario's codecs: comma-separated, assigned in turn")
	duration := fs.Duration("duration", 0, "override the scenario's duration")
	ramp := fs.Float64("ramp-up", -1, "override the scenario's ramp-up, streams per second (0: all at start)")
	transport := fs.String("transport", "", "override how earshot pulls: tcp, udp or auto")
	instances := fs.Int("instances", 0, "override the scenario's instances: run the build as a fleet of `N` child processes")
	baseline := fs.String("baseline", "", "A/B: the baseline `binary`")
	canary := fs.String("canary", "", "A/B: the canary `binary`")
	inTurn := fs.Bool("in-turn", false, "A/B: run the builds one after the other, not side by side")
	rounds := fs.Int("rounds", 1, "A/B: rounds; the verdict compares medians")
	capacity := fs.Bool("capacity", false, "capacity run: ramp each codec of the scenario's capacity section")
	capCodecs := fs.String("capacity-codecs", "", "capacity: override the codecs")
	capMax := fs.Int("capacity-max", 0, "capacity: override the most streams")
	brokers := fs.String("brokers", "", "black-box: the deployment's Kafka brokers, comma-separated")
	topic := fs.String("topic", "", "black-box: the deployment's topic")
	admin := fs.String("admin", "", "black-box: the deployment's admin listener host:port (loopback)")
	pid := fs.Int("pid", 0, "black-box: the deployment's process id, for its CPU and memory")
	listen := fs.String("listen", "127.0.0.1:0", "RTSP address of the synthetic cameras (loopback)")
	compare := fs.String("compare", "", "after earshot, run `tool` (ffmpeg) once per stream on the same cameras for the same window and report its CPU and PSS per stream beside earshot's")
	ffmpeg := fs.String("ffmpeg", "ffmpeg", "ffmpeg `binary` for --compare")
	progress := fs.String("progress", "auto", "progress line: auto, tty, plain or off")
	backends := fs.String("backend", "", "RTSP `stacks` earshot pulls with (gortsplib, gstreamer), comma-separated: with two, one earshot per backend, side by side on the same cameras")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	sc, err := harness.LoadScenario(*scenario)
	if err != nil {
		fmt.Fprintf(stderr, "earshot loadtest: %v\n", err)
		return exitConfig
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	override(sc, set, *streams, *codecs, *duration, *ramp, *transport, *capCodecs, *capMax)
	if set["instances"] {
		sc.Instances = *instances
	}
	if err := sc.Validate(); err != nil {
		fmt.Fprintf(stderr, "earshot loadtest: %v\n", err)
		return exitConfig
	}

	o := harness.Options{Scenario: sc, Out: *out, Listen: *listen, Compare: *compare, FFmpeg: *ffmpeg}
	switch *progress {
	case "auto":
		o.Progress, o.TTY = stdout, isTerminal(stdout)
	case "tty", "plain":
		o.Progress, o.TTY = stdout, *progress == "tty"
	case "off":
	default:
		fmt.Fprintf(stderr, "earshot loadtest: --progress %q is not auto, tty, plain or off\n", *progress)
		return exitConfig
	}
	self := *bin
	if self == "" {
		if self, err = os.Executable(); err != nil {
			fmt.Fprintf(stderr, "earshot loadtest: %v\n", err)
			return exitFailed
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *backends != "" && (*baseline != "" || *canary != "" || *capacity || *brokers != "" || *topic != "") {
		fmt.Fprintln(stderr, "earshot loadtest: --backend applies to a plain run only (not A/B, capacity or black-box)")
		return exitConfig
	}
	switch {
	case *baseline != "" || *canary != "":
		if *baseline == "" || *canary == "" {
			fmt.Fprintln(stderr, "earshot loadtest: A/B needs both --baseline and --canary")
			return exitConfig
		}
		ab, err := harness.RunAB(ctx, harness.ABOptions{Options: o, Baseline: harness.Target{Binary: *baseline},
			Canary: harness.Target{Binary: *canary}, InTurn: *inTurn, Rounds: *rounds})
		return finish(stdout, stderr, err, func() (string, bool) { return ab.Summary(), ab.Verdict.Pass })
	case *capacity:
		o.Targets = []harness.Target{{Binary: self}}
		c, err := harness.RunCapacity(ctx, o)
		return finish(stdout, stderr, err, func() (string, bool) { return c.Summary(), true })
	case *brokers != "" || *topic != "":
		o.Targets = []harness.Target{{Brokers: strings.Split(*brokers, ","), Topic: *topic, Admin: *admin, PID: *pid}}
	default:
		o.Targets = backendTargets(self, *backends)
	}
	reports, err := harness.Run(ctx, o)
	return finish(stdout, stderr, err, func() (string, bool) {
		var lines []string
		pass := true
		for _, r := range reports {
			lines = append(lines, r.Summary())
			for _, f := range r.Failures {
				lines = append(lines, "  - "+f)
			}
			pass = pass && r.Pass
		}
		return strings.Join(lines, "\n"), pass
	})
}

// backendTargets returns the targets of a plain run of bin: one, or one per
// backend of the comma-separated list, labelled with its name.
func backendTargets(bin, backends string) []harness.Target {
	if backends == "" {
		return []harness.Target{{Binary: bin}}
	}
	var ts []harness.Target
	for b := range strings.SplitSeq(backends, ",") {
		b = strings.TrimSpace(b)
		ts = append(ts, harness.Target{Binary: bin, Backend: b, Label: b})
	}
	return ts
}

// override applies the flags that were set to the scenario.
func override(sc *harness.Scenario, set map[string]bool, streams int, codecs string, duration time.Duration, ramp float64, transport, capCodecs string, capMax int) {
	if set["streams"] {
		sc.Streams = streams
	}
	if set["codecs"] {
		sc.Codecs = strings.Split(codecs, ",")
	}
	if set["duration"] {
		sc.Duration = duration
	}
	if set["ramp-up"] {
		sc.RampUp = ramp
	}
	if set["transport"] {
		sc.Transport = transport
	}
	if set["capacity-codecs"] {
		sc.Capacity.Codecs = strings.Split(capCodecs, ",")
	}
	if set["capacity-max"] {
		sc.Capacity.Max = capMax
	}
}

// finish prints the outcome and returns the exit status: 0 pass, 1 fail
// (or the run could not take place).
func finish(stdout, stderr io.Writer, err error, summary func() (string, bool)) int {
	if err != nil {
		fmt.Fprintf(stderr, "earshot loadtest: %v\n", err)
		return exitFailed
	}
	line, pass := summary()
	fmt.Fprintln(stdout, line)
	if !pass {
		return exitFailed
	}
	return 0
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
