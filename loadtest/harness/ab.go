package harness

import (
	"context"
	"errors"
	"fmt"
	"html"
	"path/filepath"
	"slices"
	"strings"

	"github.com/earshot/earshot/sink/schema"
)

// ABOptions configure RunAB: Options with the two builds of a gray
// release instead of Targets.
type ABOptions struct {
	Options
	// Baseline is the build in production; Canary the one to roll out.
	// Their labels default to "baseline" and "canary".
	Baseline, Canary Target
	// InTurn runs them one after the other (in alternating order over the
	// rounds) rather than side by side. Side by side, both see the same
	// cameras, faults and machine load at the same moment, which cancels
	// most of the noise of a shared machine out of their comparison.
	InTurn bool
	// Rounds repeats the comparison; the verdict compares medians. It
	// defaults to 1.
	Rounds int
}

// ABReport is a gray-release comparison: each round's reports and the
// verdict on the canary.
type ABReport struct {
	Scenario string    `json:"scenario"`
	Mode     string    `json:"mode"` // side-by-side or in-turn
	Rounds   int       `json:"rounds"`
	Baseline []*Report `json:"baseline"`
	Canary   []*Report `json:"canary"`
	Verdict  Verdict   `json:"verdict"`
}

// Verdict is whether the canary may roll out, and why not.
type Verdict struct {
	Pass bool `json:"pass"`
	// Reasons say why the canary fails.
	Reasons []string `json:"reasons"`
	Checks  []Check  `json:"checks"`
}

// Check is one comparison of the verdict.
type Check struct {
	Name     string `json:"name"`
	Baseline string `json:"baseline"`
	Canary   string `json:"canary"`
	Limit    string `json:"limit"`
	Pass     bool   `json:"pass"`
	// ShownOnly figures are compared for people, not judged.
	ShownOnly bool `json:"shown_only,omitempty"`
}

// result is how the check reads in a table.
func (c Check) result() string {
	if c.ShownOnly {
		return "shown"
	}
	return verdictWord(c.Pass)
}

// RunAB runs the scenario against the baseline and the canary and
// compares them (see Verdict); it writes each round's reports under
// Out/round-N and the comparison as Out/ab-report.{json,md,html}.
func RunAB(ctx context.Context, o ABOptions) (*ABReport, error) {
	if o.Baseline.Binary == "" || o.Canary.Binary == "" {
		return nil, errors.New("loadtest: A/B needs a baseline and a canary binary")
	}
	if o.Baseline.Label == "" {
		o.Baseline.Label = "baseline"
	}
	if o.Canary.Label == "" {
		o.Canary.Label = "canary"
	}
	o.Rounds = max(o.Rounds, 1)
	if o.Out == "" {
		o.Out = defaultOut
	}
	ab := &ABReport{Scenario: o.Scenario.Name, Mode: "side-by-side", Rounds: o.Rounds}
	if o.InTurn {
		ab.Mode = "in-turn"
	}
	for round := range o.Rounds {
		dir := filepath.Join(o.Out, fmt.Sprintf("round-%d", round+1))
		if !o.InTurn {
			ro := o.Options
			ro.Out, ro.Targets = dir, []Target{o.Baseline, o.Canary}
			rs, err := Run(ctx, ro)
			if err != nil {
				return ab, err
			}
			ab.Baseline, ab.Canary = append(ab.Baseline, rs[0]), append(ab.Canary, rs[1])
			continue
		}
		order := []Target{o.Baseline, o.Canary}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, t := range order {
			ro := o.Options
			ro.Out, ro.Targets = filepath.Join(dir, t.Label), []Target{t}
			rs, err := Run(ctx, ro)
			if err != nil {
				return ab, err
			}
			if t.Label == o.Baseline.Label {
				ab.Baseline = append(ab.Baseline, rs[0])
			} else {
				ab.Canary = append(ab.Canary, rs[0])
			}
		}
	}
	ab.Verdict = compare(ab.Baseline, ab.Canary, o.Scenario.Thresholds)
	return ab, ab.WriteFiles(o.Out)
}

// compare judges the canary against the baseline: the canary must pass
// its own checks in every round (zero unexplained loss…), and its median
// figures must stay within the thresholds of the baseline's.
func compare(base, canary []*Report, th Thresholds) Verdict {
	v := Verdict{Reasons: []string{}}
	for i, r := range canary {
		for _, f := range r.Failures {
			v.Reasons = append(v.Reasons, fmt.Sprintf("round %d: %s", i+1, f))
		}
	}
	add := func(c Check, why string) {
		v.Checks = append(v.Checks, c)
		if !c.Pass && why != "" {
			v.Reasons = append(v.Reasons, why)
		}
	}
	bl, cl := median(base, func(r *Report) float64 { return r.Loss.UnexplainedMs }), median(canary, func(r *Report) float64 { return r.Loss.UnexplainedMs })
	// The canary's own failures above already say why, per round.
	add(Check{Name: "unexplained loss", Baseline: fmtMs(bl), Canary: fmtMs(cl), Limit: "≤ " + fmtMs(ms(th.MaxLoss)), Pass: cl <= ms(th.MaxLoss)}, "")
	measured := all(base, canary, func(r *Report) bool { return r.Resources.Measured })
	if th.CPURatio > 0 && measured {
		b, c := median(base, cpuPerStream), median(canary, cpuPerStream)
		add(Check{Name: "CPU per stream", Baseline: pct(b), Canary: pct(c), Limit: fmt.Sprintf("≤ %.2f × baseline", th.CPURatio), Pass: c <= th.CPURatio*b},
			fmt.Sprintf("canary CPU per stream %s is %.2f× the baseline's %s (max %.2f×)", pct(c), ratio(c, b), pct(b), th.CPURatio))
	}
	if th.RSSRatio > 0 && measured {
		b, c := median(base, rssPerStream), median(canary, rssPerStream)
		add(Check{Name: "RSS per stream", Baseline: fmtBytes(int64(b)), Canary: fmtBytes(int64(c)), Limit: fmt.Sprintf("≤ %.2f × baseline", th.RSSRatio), Pass: c <= th.RSSRatio*b},
			fmt.Sprintf("canary RSS per stream %s is %.2f× the baseline's %s (max %.2f×)", fmtBytes(int64(c)), ratio(c, b), fmtBytes(int64(b)), th.RSSRatio))
	}
	if th.LatencyP99Delta > 0 {
		b, c := median(base, latencyP99), median(canary, latencyP99)
		limit := b + ms(th.LatencyP99Delta)
		add(Check{Name: "latency p99", Baseline: fmtMs(b), Canary: fmtMs(c), Limit: "≤ baseline + " + fmtMs(ms(th.LatencyP99Delta)), Pass: c <= limit},
			fmt.Sprintf("canary latency p99 %s is %s over the baseline's %s (max +%s)", fmtMs(c), fmtMs(c-b), fmtMs(b), fmtMs(ms(th.LatencyP99Delta))))
	}
	if !th.AllowNewStallReasons {
		known := stallReasons(base)
		var fresh []string
		for _, k := range stallReasons(canary) {
			if !slices.Contains(known, k) {
				fresh = append(fresh, k)
			}
		}
		add(Check{Name: "stall reasons", Baseline: listOrNone(known), Canary: listOrNone(stallReasons(canary)), Limit: "none new", Pass: len(fresh) == 0},
			"canary stalls for reasons the baseline does not: "+strings.Join(fresh, ", "))
	}
	if all(base, canary, func(r *Report) bool { return r.Earshot.CallbackP999Ms != nil }) {
		b, c := median(base, callbackP999), median(canary, callbackP999)
		v.Checks = append(v.Checks, Check{Name: "SDK callback p99.9", Baseline: fmtMs(b), Canary: fmtMs(c), Limit: "not judged", Pass: true, ShownOnly: true})
	}
	v.Pass = len(v.Reasons) == 0
	return v
}

func cpuPerStream(r *Report) float64 { return r.Resources.CPUPerStream }
func rssPerStream(r *Report) float64 { return float64(r.Resources.RSSPerStreamBytes) }
func latencyP99(r *Report) float64   { return r.Latency.P99Ms }
func callbackP999(r *Report) float64 { return *r.Earshot.CallbackP999Ms }

func pct(v float64) string { return fmt.Sprintf("%.3f%% core", 100*v) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// median of f over reports.
func median(reports []*Report, f func(*Report) float64) float64 {
	if len(reports) == 0 {
		return 0
	}
	v := make([]float64, len(reports))
	for i, r := range reports {
		v[i] = f(r)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

func all(a, b []*Report, f func(*Report) bool) bool {
	return !slices.ContainsFunc(a, func(r *Report) bool { return !f(r) }) && !slices.ContainsFunc(b, func(r *Report) bool { return !f(r) })
}

// stallReasons lists the reasons of the reports' stalls: those earshot
// counted (its stall API or metrics), and those its gap records name
// (a slow callback leaves callback_blocked gaps without a stall over
// ingest.stall_timeout).
func stallReasons(reports []*Report) []string {
	var out []string
	add := func(reason string) {
		if !slices.Contains(out, reason) {
			out = append(out, reason)
		}
	}
	for _, r := range reports {
		for k, n := range r.Earshot.Stalls {
			if _, reason, ok := strings.Cut(k, "/"); ok && n > 0 {
				add(reason)
			}
		}
		for reason := range r.Loss.GapsByReasonMs {
			if slices.Contains(stallGapReasons, reason) {
				add(reason)
			}
		}
	}
	slices.Sort(out)
	return out
}

// stallGapReasons are the gap reasons that name a stall.
var stallGapReasons = []string{
	schema.ReasonNoRTP, schema.ReasonRTCPOnly, schema.ReasonTimestampsFrozen,
	schema.ReasonCallbackBlocked, schema.ReasonWorkerStuck, schema.ReasonSinkStalled,
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// Summary is the verdict in a line.
func (ab *ABReport) Summary() string {
	if ab.Verdict.Pass {
		return fmt.Sprintf("PASS %s A/B (%s, %d rounds): the canary is within the thresholds of the baseline", ab.Scenario, ab.Mode, ab.Rounds)
	}
	return fmt.Sprintf("FAIL %s A/B (%s, %d rounds): %s", ab.Scenario, ab.Mode, ab.Rounds, strings.Join(ab.Verdict.Reasons, "; "))
}

// WriteFiles writes ab-report.json, ab-report.md and ab-report.html into
// dir.
func (ab *ABReport) WriteFiles(dir string) error {
	return writeFiles(dir, "ab-report", ab, ab.Markdown(), htmlPage("earshot A/B: "+ab.Scenario, ab.htmlBody()))
}

// Markdown renders the comparison: the verdict, its checks, and the
// figures of every round side by side.
func (ab *ABReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# earshot A/B: %s — canary %s\n\n%s, %d round(s).\n\n", ab.Scenario, verdictWord(ab.Verdict.Pass), ab.Mode, ab.Rounds)
	writeList(&b, "Why the canary fails", ab.Verdict.Reasons)
	b.WriteString("| check | baseline | canary | limit | result |\n|---|---|---|---|---|\n")
	for _, c := range ab.Verdict.Checks {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", c.Name, c.Baseline, c.Canary, c.Limit, c.result())
	}
	names, reports := ab.columns()
	fmt.Fprintf(&b, "\n| figure | %s |\n|---|%s\n", strings.Join(names, " | "), strings.Repeat("---|", len(names)))
	for _, f := range figures {
		var vals []string
		for _, r := range reports {
			vals = append(vals, f.value(r))
		}
		fmt.Fprintf(&b, "| %s | %s |\n", f.name, strings.Join(vals, " | "))
	}
	return b.String()
}

// columns returns the reports side by side: baseline then canary, per
// round.
func (ab *ABReport) columns() ([]string, []*Report) {
	var names []string
	var reports []*Report
	for i := range ab.Baseline {
		for _, r := range []*Report{ab.Baseline[i], ab.Canary[i]} {
			name := r.Target
			if ab.Rounds > 1 {
				name = fmt.Sprintf("%s #%d", r.Target, i+1)
			}
			names, reports = append(names, name), append(reports, r)
		}
	}
	return names, reports
}

func (ab *ABReport) htmlBody() string {
	var b strings.Builder
	cls := strings.ToLower(verdictWord(ab.Verdict.Pass))
	fmt.Fprintf(&b, "<h1>earshot A/B: %s — canary <span class=%q>%s</span></h1><p>%s, %d round(s).</p>\n", html.EscapeString(ab.Scenario), cls, verdictWord(ab.Verdict.Pass), ab.Mode, ab.Rounds)
	htmlList(&b, "Why the canary fails", ab.Verdict.Reasons)
	b.WriteString("<table><tr><th>check</th><th>baseline</th><th>canary</th><th>limit</th><th>result</th></tr>\n")
	for _, c := range ab.Verdict.Checks {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=%q>%s</td></tr>\n", html.EscapeString(c.Name),
			html.EscapeString(c.Baseline), html.EscapeString(c.Canary), html.EscapeString(c.Limit), strings.ToLower(verdictWord(c.Pass)), c.result())
	}
	b.WriteString("</table>\n")
	names, reports := ab.columns()
	figureTable(&b, names, reports)
	b.WriteString(`<div class="plots">`)
	for _, p := range plots(reports, names) {
		b.WriteString(p)
	}
	b.WriteString("</div>\n")
	return b.String()
}
