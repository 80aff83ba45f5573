package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/earshot/earshot/loadtest/harness"
	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// runLoadtest runs `earshot loadtest args...` into a temporary directory,
// fails the test unless it passes, and returns its report and directory.
func runLoadtest(t *testing.T, args ...string) (harness.Report, string) {
	t.Helper()
	out := t.TempDir()
	stdout, stderr := &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
	code := cli(append([]string{"loadtest", "--out", out, "--progress", "plain"}, args...), stdout, stderr)
	var r harness.Report
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err == nil {
		err = json.Unmarshal(data, &r)
	}
	t.Logf("%s", stdout)
	if err != nil || code != 0 || !r.Pass {
		log, _ := os.ReadFile(filepath.Join(out, "earshot.log"))
		t.Fatalf("exit status %d, report %v, failures %q\nstderr:\n%s\nearshot log:\n%s", code, err, r.Failures, stderr, log)
	}
	return r, out
}

// TestLoadtestSmoke runs the smoke scenario through the real harness:
// synthetic cameras and the embedded broker here, earshot as a child
// process (this test binary, re-executed as earshot; see TestMain), a
// stream added and removed through its admin API, every record consumed
// and checked. Nothing may be lost.
func TestLoadtestSmoke(t *testing.T) {
	t.Setenv(envRunMain, "1") // inherited by the child: it runs earshot
	r, out := runLoadtest(t, "--scenario", "smoke", "--earshot", os.Args[0])
	switch {
	case r.Streams.Planned != 5 || r.Streams.Delivered != 5 || r.Streams.Added != 1 || r.Streams.Removed != 1:
		t.Errorf("%+v, want 5 of 5 streams delivered, one added and removed during the run", r.Streams)
	case r.Loss.UnexplainedMs != 0 || r.Loss.UnexplainedGaps != 0 || r.Loss.SeqErrors != 0:
		t.Errorf("loss: %+v", r.Loss)
	case r.Loss.AudioS < 4*8:
		t.Errorf("%.1f s of audio received, want about 4 × 10 s", r.Loss.AudioS)
	case r.Latency.Count == 0 || r.Latency.P99Ms <= 0:
		t.Errorf("latency not measured: %+v", r.Latency)
	case !r.Resources.Measured || r.Resources.CPUCores <= 0 || r.Resources.RSSBytes <= 0:
		t.Errorf("resources not measured: %+v", r.Resources)
	case r.Earshot.ExitCode == nil || *r.Earshot.ExitCode != 0:
		t.Errorf("earshot exit status %v", r.Earshot.ExitCode)
	}
	for _, s := range r.PerStream {
		end := schema.ReasonShutdown
		if s.Stream == "s0005" {
			end = schema.ReasonRemoved
		}
		if s.Fidelity == nil || s.EndReason != end || s.Epochs != 1 {
			t.Errorf("%s: fidelity %v, end %q, %d epochs; want a fidelity, end %q, 1 epoch", s.Stream, s.Fidelity, s.EndReason, s.Epochs, end)
		}
	}
	for _, name := range []string{"report.md", "report.html", "earshot.yaml", "earshot.log"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	if html, _ := os.ReadFile(filepath.Join(out, "report.html")); strings.Count(string(html), "<svg") < 5 {
		t.Errorf("report.html has %d plots, want 5 or more", strings.Count(string(html), "<svg"))
	}
}

// TestLoadtestBlackBox verifies a deployment the harness does not run:
// earshot runs on its own (as a child of the test), the harness serves the
// cameras, adds the streams through the deployment's admin API, consumes
// its topic and measures its process by PID.
func TestLoadtestBlackBox(t *testing.T) {
	broker, err := sink.NewEmbeddedBroker("deployed", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	dir := t.TempDir()
	config := filepath.Join(dir, "earshot.yaml")
	// A deployment needs a stream of its own: one that never answers.
	writeConfig(t, config, broker.Addr(), "deployed", "127.0.0.1:1", map[string]string{"own": "none"})
	child := startJSONChild(t, "run", "--config", config)
	admin, _ := child.await(t, "earshot running")["admin"].(string)

	r, out := runLoadtest(t, "--scenario", "smoke", "--duration", "6s",
		"--brokers", broker.Addr(), "--topic", "deployed", "--admin", admin, "--pid", fmt.Sprint(child.cmd.Process.Pid))
	if r.Mode != "black-box" || r.Streams.Delivered != 5 || r.Latency.Source != "consumed" || !r.Resources.Measured {
		t.Errorf("mode %s, %d streams delivered, latency from %s, resources measured %v", r.Mode, r.Streams.Delivered, r.Latency.Source, r.Resources.Measured)
	}
	for _, s := range r.PerStream {
		if s.EndReason != schema.ReasonRemoved { // the harness removes what it added
			t.Errorf("%s ends with %q, want removed", s.Stream, s.EndReason)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "streams.yaml")); err != nil {
		t.Error(err)
	}
	child.cmd.Process.Signal(syscall.SIGTERM)
	if code := child.exit(t); code != exitDelivered {
		t.Errorf("the deployment exited with %d", code)
	}
}

// TestLoadtestComparesWithFFmpeg runs 2 streams through earshot and then
// through one real ffmpeg each, on the same synthetic cameras: both sides'
// CPU and PSS per stream must be measured, and the ffmpeg processes must
// have delivered audio, or the comparison would compare nothing.
func TestLoadtestComparesWithFFmpeg(t *testing.T) {
	t.Setenv(envRunMain, "1")
	scenario := filepath.Join(t.TempDir(), "two.yaml")
	if err := os.WriteFile(scenario, []byte("name: two\nduration: 4s\nstreams: 2\ncodecs: [opus, pcma]\nwarmup: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, out := runLoadtest(t, "--scenario", scenario, "--earshot", os.Args[0], "--compare", "ffmpeg")
	c := r.Compare
	switch {
	case c == nil:
		t.Fatal("no comparison in the report")
	case c.Error != "":
		t.Errorf("comparison incomplete: %s", c.Error)
	case c.Processes != 2 || c.Measured != 2:
		t.Errorf("%d ffmpeg processes, %d measured; want 2 and 2", c.Processes, c.Measured)
	case c.CPUPerStream <= 0 || c.PSSPerStreamBytes <= 0 || c.TargetCPUPerStream <= 0 || c.TargetPSSPerStreamBytes <= 0:
		t.Errorf("figures missing: %+v", c)
	case c.CPURatio <= 0 || c.PSSRatio <= 0:
		t.Errorf("ratios missing: %+v", c)
	case c.DecodeOnlyCPUPerStream <= 0 || c.TargetOverDecode <= 1:
		// Decoding is part of what earshot does, so it costs earshot more.
		t.Errorf("decode-only %.5f cores per stream, earshot %.1f× it; want a figure below earshot's", c.DecodeOnlyCPUPerStream, c.TargetOverDecode)
	case c.AudioS < 0.5*c.WindowS*2:
		t.Errorf("ffmpeg wrote %.1f s of audio in a %.1f s window of 2 streams", c.AudioS, c.WindowS)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil || !strings.Contains(string(md), "## Compared with ffmpeg") {
		t.Errorf("report.md has no comparison section (%v)", err)
	}
}

// TestLoadtestFleet runs two instances as a fleet sharing eight streams and
// kills one (SIGKILL) a few seconds in: its streams must be pulled again
// by the other within the session timeout + 3 s, and the report must find
// the audio continuous across owners (no overlap, gaps only at the
// failovers).
func TestLoadtestFleet(t *testing.T) {
	t.Setenv(envRunMain, "1")
	scenario := filepath.Join(t.TempDir(), "fleet.yaml")
	yaml := "name: fleet-kill\ninstances: 3\nduration: 12s\nstreams: 8\ncodecs: [pcmu]\nwarmup: 1s\nfidelity_streams: -1\n" +
		"instance_faults:\n  - {instance: 1, kind: kill, at: 4s}\nthresholds:\n  max_loss: 0s\n  latency_p99: 5s\n"
	if err := os.WriteFile(scenario, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	// --instances overrides the scenario's 3.
	r, out := runLoadtest(t, "--scenario", scenario, "--earshot", os.Args[0], "--instances", "2")
	f := r.Fleet
	if f == nil || len(f.Instances) != 2 || len(f.Faults) != 1 {
		t.Fatalf("fleet figures %+v, want 2 instances and 1 fault", f)
	}
	kill := f.Faults[0]
	t.Logf("kill of %s: %d streams, %d pulled again, failover median %s max %s (bound %s); %d failovers in all; %s",
		kill.Instance, kill.Streams, kill.Recovered, fmtOpt(kill.FailoverMs), fmtOpt(kill.FailoverMaxMs), fmtOpt(&kill.BoundMs), f.Failovers, f.Continuity)
	switch {
	case kill.Instance != "earshot-1" || kill.Kind != "kill" || !kill.Pass:
		t.Errorf("instance fault %+v, want a passed kill of earshot-1", kill)
	case kill.Streams == 0 || kill.Recovered != kill.Streams:
		t.Errorf("the killed instance pulled %d streams, %d pulled again; want some, all", kill.Streams, kill.Recovered)
	case kill.FailoverMaxMs == nil || *kill.FailoverMaxMs <= 0 || *kill.FailoverMaxMs > kill.BoundMs || kill.BoundMs != 6000:
		t.Errorf("failover max %v ms, want in (0, %v], bound session 3 s + 3 s", kill.FailoverMaxMs, kill.BoundMs)
	case f.Failovers < kill.Streams:
		t.Errorf("%d failovers, want at least the %d streams of the killed instance", f.Failovers, kill.Streams)
	case !f.ContinuityPass || f.ContinuityProblems != 0:
		t.Errorf("continuity: %s (%d problems)", f.Continuity, f.ContinuityProblems)
	}
	moved := 0
	for _, s := range r.PerStream {
		for _, fo := range s.Failovers {
			if fo.From == "earshot-1" && fo.To == "earshot-2" && fo.OldEnd == "" {
				moved++
			}
		}
	}
	if moved != kill.Streams {
		t.Errorf("%d streams moved from earshot-1 (with no end record) to earshot-2, want %d", moved, kill.Streams)
	}
	for _, name := range []string{"earshot-1.log", "earshot-2.yaml"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	if md, _ := os.ReadFile(filepath.Join(out, "report.md")); !strings.Contains(string(md), "## Fleet") {
		t.Error("report.md has no fleet section")
	}
}

func fmtOpt(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.0f ms", *v)
}
