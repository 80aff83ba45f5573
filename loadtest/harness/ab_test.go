package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earshot/earshot/sink/schema"
)

// report returns a passing report with the given figures.
func report(cpuPerStream, rssPerStream, p99 float64, stalls map[string]uint64) *Report {
	return &Report{
		Scenario: "s", Target: "t", Pass: true, Failures: []string{},
		Resources: ResourceFigures{Measured: true, CPUPerStream: cpuPerStream, RSSPerStreamBytes: int64(rssPerStream)},
		Latency:   LatencyFigures{P99Ms: p99},
		Earshot:   EarshotFigures{Stalls: stalls},
	}
}

// compareCases: a baseline and a canary, and what the verdict says.
var compareCases = []struct {
	name   string
	base   []*Report
	canary []*Report
	fail   string // substring of a reason; "" for a pass
}{
	{"identical builds pass", []*Report{report(0.01, 1e6, 200, nil)}, []*Report{report(0.01, 1e6, 200, nil)}, ""},
	{"noise within the thresholds passes", []*Report{report(0.010, 1e6, 200, nil)}, []*Report{report(0.0108, 1.2e6, 215, nil)}, ""},
	{"more CPU per stream fails", []*Report{report(0.01, 1e6, 200, nil)}, []*Report{report(0.013, 1e6, 200, nil)}, "CPU per stream"},
	{"more memory per stream fails", []*Report{report(0.01, 1e6, 200, nil)}, []*Report{report(0.01, 2e6, 200, nil)}, "RSS per stream"},
	{"higher latency fails", []*Report{report(0.01, 1e6, 200, nil)}, []*Report{report(0.01, 1e6, 260, nil)}, "latency p99 260 ms is 60.0 ms over"},
	{"a new stall reason fails", []*Report{report(0.01, 1e6, 200, map[string]uint64{"source/no_rtp": 1})},
		[]*Report{report(0.01, 1e6, 200, map[string]uint64{"source/no_rtp": 1, "sdk_callback/callback_blocked": 2})}, "reasons the baseline does not: callback_blocked"},
	{"medians over rounds decide", []*Report{report(0.01, 1e6, 200, nil), report(0.01, 1e6, 200, nil), report(0.01, 1e6, 200, nil)},
		[]*Report{report(0.01, 1e6, 200, nil), report(0.03, 1e6, 200, nil), report(0.01, 1e6, 200, nil)}, ""},
}

func TestCompare(t *testing.T) {
	th := Thresholds{CPURatio: 1.1, RSSRatio: 1.3, LatencyP99Delta: 20e6}
	for _, tc := range compareCases {
		t.Run(tc.name, func(t *testing.T) {
			v := compare(tc.base, tc.canary, th)
			why := strings.Join(v.Reasons, "; ")
			switch {
			case tc.fail == "" && !v.Pass:
				t.Errorf("fails: %s", why)
			case tc.fail != "" && (v.Pass || !strings.Contains(why, tc.fail)):
				t.Errorf("pass %v, reasons %q; want a failure naming %q", v.Pass, why, tc.fail)
			}
		})
	}
}

func TestCanaryThatLosesAudioFails(t *testing.T) {
	c := report(0.01, 1e6, 200, nil)
	c.Loss.UnexplainedMs = 400
	c.Loss.GapsByReasonMs = map[string]float64{schema.ReasonCallbackBlocked: 400, schema.ReasonRTPLoss: 20}
	c.Failures = []string{"unexplained loss 400 ms in 2 gaps (max 0.0 ms)"}
	v := compare([]*Report{report(0.01, 1e6, 200, nil)}, []*Report{c}, Thresholds{})
	if why := strings.Join(v.Reasons, ";"); v.Pass || !strings.Contains(why, "round 1: unexplained loss 400 ms") ||
		!strings.HasSuffix(why, "stalls for reasons the baseline does not: callback_blocked") {
		t.Errorf("verdict %+v", v)
	}
}

func TestReportsAreWritten(t *testing.T) {
	dir := t.TempDir()
	b, c := report(0.01, 1e6, 200, nil), report(0.02, 1e6, 200, nil)
	c.Series = Series{T: []float64{1, 2}, CPUCores: []float64{0.1, 0.2}, StreamsUp: []int{1, 2}, RSSMB: []float64{1, 2}, RecordsPerS: []float64{5, 5}, LatencyP99Ms: []float64{1, 1}}
	c.PerStream = []StreamResult{{Stream: "s0001", Timeline: []GapResult{{AtS: 1, Ms: 300, Reason: schema.ReasonHandoffDrop}}}}
	ab := &ABReport{Scenario: "s", Mode: "side-by-side", Rounds: 1, Baseline: []*Report{b}, Canary: []*Report{c}}
	ab.Verdict = compare(ab.Baseline, ab.Canary, Thresholds{CPURatio: 1.1})
	if err := ab.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "ab-report.md"))
	if !strings.Contains(string(md), "canary FAIL") || !strings.Contains(string(md), "| CPU per stream | 1.000% core | 2.000% core |") {
		t.Errorf("ab-report.md:\n%s", md)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if strings.Count(string(page), "<svg") != 6 || !strings.Contains(string(page), "handoff_drop 300 ms at 1.0 s") || !strings.Contains(string(page), "n/a") {
		t.Errorf("report.html: %d plots", strings.Count(string(page), "<svg"))
	}
	for _, name := range []string{"ab-report.json", "ab-report.html", "report.json", "report.md"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}

func TestSlope(t *testing.T) {
	if got := slope([]float64{50, 100, 150}, []float64{10, 20, 30}); got != 0.2 {
		t.Errorf("slope %v, want 0.2", got)
	}
	if got := slope([]float64{50}, []float64{10}); got != 0 {
		t.Errorf("slope of one point %v, want 0", got)
	}
}
