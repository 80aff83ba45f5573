package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earshot/earshot/loadtest/harness"
)

// TestLoadtestSmoke runs the smoke scenario through the real harness:
// synthetic cameras and the embedded broker here, earshot as a child
// process (this test binary, re-executed as earshot; see TestMain), every
// record consumed and checked. Nothing may be lost.
func TestLoadtestSmoke(t *testing.T) {
	t.Setenv(envRunMain, "1") // inherited by the child: it runs earshot
	out := t.TempDir()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	code := cli([]string{"loadtest", "--scenario", "smoke", "--out", out, "--earshot", os.Args[0], "--progress", "plain"}, stdout, stderr)
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatalf("exit status %d, no report: %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout, stderr)
	}
	var r harness.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", stdout)
	if code != 0 || !r.Pass {
		log, _ := os.ReadFile(filepath.Join(out, "earshot.log"))
		t.Fatalf("exit status %d, failures %q\nstderr:\n%s\nearshot log:\n%s", code, r.Failures, stderr, log)
	}
	switch {
	case r.Streams.Planned != 4 || r.Streams.Delivered != 4:
		t.Errorf("%d of %d streams delivered, want 4 of 4", r.Streams.Delivered, r.Streams.Planned)
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
		if s.Fidelity == nil || s.EndReason != "shutdown" || s.Epochs != 1 {
			t.Errorf("%s: fidelity %v, end %q, %d epochs", s.Stream, s.Fidelity, s.EndReason, s.Epochs)
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
