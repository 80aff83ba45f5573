package harness

import (
	"fmt"
	"html"
	"maps"
	"slices"
	"strings"
)

// figure is one row of the figures table: a name and how to read it from
// a report. Markdown, HTML and the A/B tables share them.
type figure struct {
	name  string
	value func(*Report) string
}

var figures = []figure{
	{"streams delivered / planned", func(r *Report) string {
		return fmt.Sprintf("%d / %d (max %d up; +%d −%d during the run)", r.Streams.Delivered, r.Streams.Planned, r.Streams.MaxUp, r.Streams.Added, r.Streams.Removed)
	}},
	{"audio received / expected", func(r *Report) string {
		return fmt.Sprintf("%.1f s / %.1f s", r.Loss.AudioS, r.Loss.ExpectedS)
	}},
	{"unexplained loss", func(r *Report) string {
		return fmt.Sprintf("%s in %d gaps", fmtMs(r.Loss.UnexplainedMs), r.Loss.UnexplainedGaps)
	}},
	{"gaps explained by faults", func(r *Report) string { return fmtMs(r.Loss.ExplainedMs) }},
	{"gaps by reason", func(r *Report) string { return fmtMap(r.Loss.GapsByReasonMs, fmtMs) }},
	{"records out of order / missing", func(r *Report) string { return fmt.Sprint(r.Loss.SeqErrors) }},
	{"redeliveries dropped", func(r *Report) string { return fmt.Sprint(r.Loss.Duplicates) }},
	{"fidelity (lowest correlation)", func(r *Report) string {
		if r.Loss.FidelityMin == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.3f", *r.Loss.FidelityMin)
	}},
	{"latency p50 / p99 / p99.9 / max", func(r *Report) string {
		l := r.Latency
		return fmt.Sprintf("%s / %s / %s / %s (%s, %d records)", fmtMs(l.P50Ms), fmtMs(l.P99Ms), fmtMs(l.P999Ms), fmtMs(l.MaxMs), l.Source, l.Count)
	}},
	{"CPU", func(r *Report) string {
		if !r.Resources.Measured {
			return "n/a"
		}
		x := r.Resources
		return fmt.Sprintf("%.3f cores for %.1f streams over %.0f s", x.CPUCores, x.StreamsUp, x.WindowS)
	}},
	{"CPU per stream", func(r *Report) string { return r.cpuPerStream() }},
	{"CPU per audio second", func(r *Report) string {
		if !r.Resources.Measured {
			return "n/a"
		}
		return fmt.Sprintf("%.2f ms", r.Resources.CPUMsPerAudioS)
	}},
	{"RSS median / max", func(r *Report) string {
		if !r.Resources.Measured {
			return "n/a"
		}
		return fmtBytes(r.Resources.RSSBytes) + " / " + fmtBytes(r.Resources.RSSMaxBytes)
	}},
	{"RSS per stream", func(r *Report) string { return r.rssPerStream() }},
	{"PSS median / per stream", func(r *Report) string {
		if !r.Resources.Measured || r.Resources.PSSBytes == 0 {
			return "n/a"
		}
		return fmtBytes(r.Resources.PSSBytes) + " / " + fmtBytes(r.Resources.PSSPerStreamBytes)
	}},
	{"SDK callback p99.9", func(r *Report) string { return fmtOptMs(r.Earshot.CallbackP999Ms) }},
	{"earshot's pipeline latency p99", func(r *Report) string { return fmtOptMs(r.Earshot.PipelineLatencyP99Ms) }},
	{"drops by stage", func(r *Report) string {
		return withSource(fmtMap(r.Earshot.Drops, func(v uint64) string { return fmt.Sprint(v) }), r.Earshot.DropsSource)
	}},
	{"stalls by stage/reason", func(r *Report) string {
		return withSource(fmtMap(r.Earshot.Stalls, func(v uint64) string { return fmt.Sprint(v) }), r.Earshot.StallsSource)
	}},
	{"reconnects", func(r *Report) string { return fmt.Sprint(r.Earshot.Reconnects) }},
	{"connect time p50 / max", func(r *Report) string {
		return fmtOptMs(r.Streams.ConnectP50Ms) + " / " + fmtOptMs(r.Streams.ConnectMaxMs)
	}},
	{"camera rounds skipped", func(r *Report) string { return fmt.Sprint(r.Generator.SkippedRounds) }},
	{"harness CPU", func(r *Report) string { return fmt.Sprintf("%.3f cores", r.Resources.HarnessCPUCores) }},
	{"exit status", func(r *Report) string {
		if r.Earshot.ExitCode == nil {
			return "n/a"
		}
		return fmt.Sprint(*r.Earshot.ExitCode)
	}},
}

func fmtMap[V any](m map[string]V, f func(V) string) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+" "+f(m[k]))
	}
	return strings.Join(parts, ", ")
}

func withSource(s, source string) string {
	if source == "" {
		return "n/a"
	}
	return s + " (" + source + ")"
}

func verdictWord(pass bool) string {
	if pass {
		return "PASS"
	}
	return "FAIL"
}

// Markdown renders the report for people.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# earshot loadtest: %s — %s\n\n", r.Scenario, verdictWord(r.Pass))
	if r.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Description)
	}
	fmt.Fprintf(&b, "Target %s (%s, %s), started %s, load for %.0f s, on %s (%d CPUs).\n\n",
		r.Target, r.Mode, cmpOrNA(r.Build), r.Started.Format("2006-01-02 15:04:05"), r.DurationS, r.Host.Hostname, r.Host.CPUs)
	writeList(&b, "Failures", r.Failures)
	writeList(&b, "Warnings", r.Warnings)
	b.WriteString("| figure | value |\n|---|---|\n")
	for _, f := range figures {
		fmt.Fprintf(&b, "| %s | %s |\n", f.name, f.value(r))
	}
	if len(r.Faults) > 0 {
		b.WriteString("\n## Faults\n\n| fault | at | streams | expected | detected | detection (median/max) | recovery (median/max) | result |\n|---|---|---|---|---|---|---|---|\n")
		for _, f := range r.Faults {
			fmt.Fprintf(&b, "| %s | %.1f s | %d | %s | %d | %s / %s | %s / %s | %s |\n", f.Fault, f.AtS, f.Streams, cmpOrNA(f.Expected),
				f.Detected, fmtOptMs(f.DetectionMs), fmtOptMs(f.DetectionMaxMs), fmtOptMs(f.RecoveryMs), fmtOptMs(f.RecoveryMaxMs), faultOutcome(f))
		}
	}
	r.fleetMarkdown(&b)
	if c := r.Compare; c != nil {
		fmt.Fprintf(&b, "\n## Compared with %s\n\n%s\n\n", c.Tool, c.caption())
		rows := c.rows(r.Target)
		fmt.Fprintf(&b, "| %s |\n|---|---|---|---|\n", strings.Join(rows[0], " | "))
		for _, row := range rows[1:] {
			fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
		}
	}
	b.WriteString("\n## Streams\n\n| stream | codec | epochs | audio | unexplained | explained | fidelity | problems |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.PerStream {
		fid := "n/a"
		if s.Fidelity != nil {
			fid = fmt.Sprintf("%.3f", *s.Fidelity)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.1f s | %s | %s | %s | %s |\n", s.Stream, s.Codec, s.Epochs, s.AudioS,
			fmtMs(s.UnexplainedMs), fmtMs(s.ExplainedMs), fid, strings.Join(s.Problems, "; "))
	}
	return b.String()
}

func faultOutcome(f FaultResult) string {
	if f.Pass {
		return "ok"
	}
	return f.Problem
}

func cmpOrNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

func writeList(b *strings.Builder, title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(b, "**%s**\n\n", title)
	for _, it := range items {
		fmt.Fprintf(b, "- %s\n", it)
	}
	b.WriteString("\n")
}

// htmlPage wraps body in a standalone page.
func htmlPage(title, body string) string {
	return `<!doctype html><html><head><meta charset="utf-8"><title>` + html.EscapeString(title) + `</title><style>
body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top;font-size:13px}
.pass{color:#2ca02c}.fail{color:#d62728}.plots{display:flex;flex-wrap:wrap;gap:12px}.cols{display:flex;gap:24px;flex-wrap:wrap}
</style></head><body>
` + body + "</body></html>\n"
}

// htmlBody renders one report.
func (r *Report) htmlBody() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<h1>earshot loadtest: %s — <span class=%q>%s</span></h1>\n", html.EscapeString(r.Scenario), strings.ToLower(verdictWord(r.Pass)), verdictWord(r.Pass))
	fmt.Fprintf(&b, "<p>%s</p><p>Target %s (%s, %s), started %s, load for %.0f s, on %s (%d CPUs).</p>\n",
		html.EscapeString(r.Description), html.EscapeString(r.Target), r.Mode, html.EscapeString(cmpOrNA(r.Build)),
		r.Started.Format("2006-01-02 15:04:05"), r.DurationS, html.EscapeString(r.Host.Hostname), r.Host.CPUs)
	htmlList(&b, "Failures", r.Failures)
	htmlList(&b, "Warnings", r.Warnings)
	figureTable(&b, []string{""}, []*Report{r})
	b.WriteString(`<div class="plots">`)
	for _, p := range plots([]*Report{r}, []string{r.Target}) {
		b.WriteString(p)
	}
	b.WriteString("</div>\n")
	faultTable(&b, r)
	r.fleetHTML(&b)
	if c := r.Compare; c != nil {
		fmt.Fprintf(&b, "<h2>Compared with %s</h2><p>%s</p><table>", c.Tool, html.EscapeString(c.caption()))
		for i, row := range c.rows(r.Target) {
			cell := "td"
			if i == 0 {
				cell = "th"
			}
			b.WriteString("<tr>")
			for _, v := range row {
				fmt.Fprintf(&b, "<%s>%s</%s>", cell, html.EscapeString(v), cell)
			}
			b.WriteString("</tr>\n")
		}
		b.WriteString("</table>\n")
	}
	streamTable(&b, r)
	return b.String()
}

func htmlList(b *strings.Builder, title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(b, "<h3>%s</h3><ul>", title)
	for _, it := range items {
		fmt.Fprintf(b, "<li>%s</li>", html.EscapeString(it))
	}
	b.WriteString("</ul>\n")
}

// figureTable renders the figures of reports side by side.
func figureTable(b *strings.Builder, names []string, reports []*Report) {
	b.WriteString("<table><tr><th>figure</th>")
	for _, n := range names {
		fmt.Fprintf(b, "<th>%s</th>", html.EscapeString(n))
	}
	b.WriteString("</tr>\n")
	for _, f := range figures {
		fmt.Fprintf(b, "<tr><td>%s</td>", html.EscapeString(f.name))
		for _, r := range reports {
			fmt.Fprintf(b, "<td>%s</td>", html.EscapeString(f.value(r)))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
}

func faultTable(b *strings.Builder, r *Report) {
	if len(r.Faults) == 0 {
		return
	}
	b.WriteString("<h2>Faults</h2><table><tr><th>fault</th><th>at</th><th>streams</th><th>expected gap</th><th>detected</th><th>detection median / max</th><th>recovery median / max</th><th>result</th></tr>\n")
	for _, f := range r.Faults {
		fmt.Fprintf(b, "<tr><td>%s</td><td>%.1f s</td><td>%d</td><td>%s</td><td>%d</td><td>%s / %s</td><td>%s / %s</td><td>%s</td></tr>\n",
			html.EscapeString(f.Fault), f.AtS, f.Streams, cmpOrNA(f.Expected), f.Detected, fmtOptMs(f.DetectionMs), fmtOptMs(f.DetectionMaxMs),
			fmtOptMs(f.RecoveryMs), fmtOptMs(f.RecoveryMaxMs), html.EscapeString(faultOutcome(f)))
	}
	b.WriteString("</table>\n")
}

// maxStreamRows bounds the per-stream table of report.html.
const maxStreamRows = 200

func streamTable(b *strings.Builder, r *Report) {
	b.WriteString("<h2>Streams</h2><table><tr><th>stream</th><th>codec</th><th>epochs</th><th>audio</th><th>unexplained</th><th>explained</th><th>gaps</th><th>fidelity</th><th>problems</th></tr>\n")
	for i, s := range r.PerStream {
		if i == maxStreamRows {
			fmt.Fprintf(b, "<tr><td colspan=9>… %d more in report.json</td></tr>\n", len(r.PerStream)-i)
			break
		}
		fid := "n/a"
		if s.Fidelity != nil {
			fid = fmt.Sprintf("%.3f", *s.Fidelity)
		}
		fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td><td>%d</td><td>%.1f s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			s.Stream, s.Codec, s.Epochs, s.AudioS, fmtMs(s.UnexplainedMs), fmtMs(s.ExplainedMs), html.EscapeString(fmtMap(s.GapsMs, fmtMs)),
			fid, html.EscapeString(strings.Join(s.Problems, "; ")))
	}
	b.WriteString("</table>\n")
}

// plots draws the reports' plots, one line per report.
func plots(reports []*Report, names []string) []string {
	cdf := linePlot{Title: "Latency CDF (capture → Kafka append)", XLabel: "ms (log scale)", YLabel: "fraction", LogX: true, Step: true}
	cpu := linePlot{Title: "earshot CPU", XLabel: "seconds from the start", YLabel: "cores"}
	rss := linePlot{Title: "earshot RSS", XLabel: "seconds from the start", YLabel: "MiB"}
	up := linePlot{Title: "Streams up", XLabel: "seconds from the start", YLabel: "streams"}
	rate := linePlot{Title: "Records per second", XLabel: "seconds from the start", YLabel: "records/s"}
	for i, r := range reports {
		var x, y []float64
		for _, p := range r.Latency.CDF {
			x, y = append(x, p.Ms), append(y, p.Fraction)
		}
		cdf.Lines = append(cdf.Lines, line{Name: names[i], X: x, Y: y})
		// Rates need two samples: the first has none.
		cpu.Lines = append(cpu.Lines, line{Name: names[i], X: tail(r.Series.T), Y: tail(r.Series.CPUCores)})
		rss.Lines = append(rss.Lines, line{Name: names[i], X: r.Series.T, Y: r.Series.RSSMB})
		var ups []float64
		for _, v := range r.Series.StreamsUp {
			ups = append(ups, float64(max(v, 0)))
		}
		up.Lines = append(up.Lines, line{Name: names[i], X: r.Series.T, Y: ups})
		rate.Lines = append(rate.Lines, line{Name: names[i], X: tail(r.Series.T), Y: tail(r.Series.RecordsPerS)})
	}
	out := []string{cdf.svg(), cpu.svg(), rss.svg(), up.svg(), rate.svg()}
	for i, r := range reports {
		out = append(out, gapTimeline(r, names[i]))
	}
	return out
}

// tail drops the first value.
func tail(v []float64) []float64 {
	if len(v) == 0 {
		return v
	}
	return v[1:]
}

// maxTimelineRows bounds the rows of a gap timeline: streams with gaps or
// faults first.
const maxTimelineRows = 60

func gapTimeline(r *Report, name string) string {
	var rows []timelineRow
	for _, s := range r.PerStream {
		row := timelineRow{Name: s.Stream, Gaps: s.Timeline}
		for _, f := range r.Faults {
			if f.Stream == "" || f.Stream == s.Stream {
				row.Faults = append(row.Faults, [2]float64{f.AtS, f.AtS + max(f.DurationS, 0.2)})
			}
		}
		if len(row.Gaps) > 0 || len(row.Faults) > 0 {
			rows = append(rows, row)
		}
		if len(rows) == maxTimelineRows {
			break
		}
	}
	title := "Gaps: grey explained, red not; faults orange"
	if name != "" {
		title = name + " — " + title
	}
	return timelinePlot(title, rows, r.DurationS)
}
