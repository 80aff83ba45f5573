package harness

import (
	"context"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CapacityReport is the most streams a build held in real time on this
// machine, per codec, with its figures at each step.
type CapacityReport struct {
	Scenario string          `json:"scenario"`
	Target   string          `json:"target"`
	Build    string          `json:"build"`
	Host     Host            `json:"host"`
	Started  time.Time       `json:"started"`
	Codecs   []CodecCapacity `json:"codecs"`
}

// CodecCapacity is the capacity run of one codec.
type CodecCapacity struct {
	Codec string `json:"codec"`
	// MaxStreams is the most streams of a step that was held: no audio
	// lost, latency p99 within the threshold, every stream up. 0 if the
	// first step was not held.
	MaxStreams int `json:"max_streams"`
	// LimitedBy says why the next step was not held, or that Max was
	// reached.
	LimitedBy string         `json:"limited_by"`
	Steps     []CapacityStep `json:"steps"`
	// MarginalCPUPerStream (cores) and MarginalRSSPerStreamBytes are the
	// slopes of earshot's CPU and RSS against streams over the steps held
	// (least squares): what one more stream costs, without the fixed part.
	MarginalCPUPerStream      float64 `json:"marginal_cpu_per_stream"`
	MarginalRSSPerStreamBytes int64   `json:"marginal_rss_per_stream_bytes"`
	// StreamsPerCore is the streams of the largest step held over
	// earshot's own CPU there (cores; the harness's is not counted).
	StreamsPerCore float64 `json:"streams_per_core"`
	// Run is the report of the whole run (its own files are in Out/CODEC).
	Run *Report `json:"-"`
}

// CapacityStep are the figures of one step, over its window (after
// Settle).
type CapacityStep struct {
	Streams           int     `json:"streams"`
	Up                int     `json:"up"`
	CPUCores          float64 `json:"cpu_cores"`
	CPUPerStream      float64 `json:"cpu_per_stream"`
	RSSBytes          int64   `json:"rss_bytes"`
	RSSPerStreamBytes int64   `json:"rss_per_stream_bytes"`
	LatencyP99Ms      float64 `json:"latency_p99_ms"`
	LossMs            float64 `json:"loss_ms"`
	SkippedRounds     uint64  `json:"skipped_rounds"`
	RecordsPerS       float64 `json:"records_per_s"`
	HarnessCPUCores   float64 `json:"harness_cpu_cores"`
	Held              bool    `json:"held"`
	Why               string  `json:"why,omitempty"`
}

// RunCapacity ramps o.Targets[0] up, one codec of o.Scenario.Capacity at a
// time: Start streams, then Step more every StepDuration, until a step is
// not held or Max. Each codec's run report goes to Out/CODEC; the summary
// to Out/capacity.{json,md,html}.
func RunCapacity(ctx context.Context, o Options) (*CapacityReport, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(o.Targets) != 1 || o.Targets[0].blackBox() {
		return nil, fmt.Errorf("loadtest: a capacity run needs exactly one binary to run")
	}
	c := o.Scenario.Capacity
	rep := &CapacityReport{Scenario: o.Scenario.Name, Target: o.Targets[0].Label, Build: o.Targets[0].Binary, Host: thisHost(), Started: time.Now()}
	for _, codec := range c.Codecs {
		cc, err := runCapacity(ctx, o, codec)
		if err != nil {
			return rep, err
		}
		rep.Codecs = append(rep.Codecs, cc)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "capacity %s: %d streams held (%s)\n", codec, cc.MaxStreams, cc.LimitedBy)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return rep, rep.WriteFiles(o.Out)
}

// runCapacity ramps one codec.
func runCapacity(ctx context.Context, o Options, codec string) (CodecCapacity, error) {
	c := o.Scenario.Capacity
	sc := *o.Scenario
	sc.Name = o.Scenario.Name + "-" + codec
	sc.Streams, sc.Codecs, sc.RampUp, sc.Churn, sc.Faults = c.Start, []string{codec}, 0, nil, nil
	sc.FidelityStreams = -1
	p := capacityPlan(codec, c.Start, c.Max)
	steps := 1
	for n := c.Start + c.Step; n <= c.Max; n += c.Step {
		for j := range c.Step {
			at := time.Duration(steps)*c.StepDuration + rampTime(j, c.AddRate)
			p.events = append(p.events, event{At: at, Kind: eventAdd, Stream: streamName(n - c.Step + j)})
		}
		steps++
	}
	sc.Duration = time.Duration(steps) * c.StepDuration
	o.Scenario, o.Out = &sc, filepath.Join(o.Out, codec)
	s, err := newSession(o, p)
	if err != nil {
		return CodecCapacity{}, err
	}
	defer s.close()
	if err := s.start(ctx); err != nil {
		return CodecCapacity{}, err
	}
	cc := CodecCapacity{Codec: codec, LimitedBy: fmt.Sprintf("reached max %d", c.Max)}
	m := &capacityMeter{s: s, t: s.targets[0], c: c}
	s.load(ctx, s.t0.Add(sc.Duration), func(now time.Time) bool {
		step, done := m.tick(now)
		if !done {
			return true
		}
		cc.Steps = append(cc.Steps, step)
		if !step.Held {
			cc.LimitedBy = fmt.Sprintf("%d streams: %s", step.Streams, step.Why)
			return false
		}
		cc.MaxStreams = step.Streams
		return len(cc.Steps) < steps
	})
	s.stop(ctx)
	cc.marginals()
	cc.Run = s.reports()[0]
	return cc, cc.Run.WriteFiles(s.targets[0].dir)
}

// marginals fits CPU and RSS against streams over the steps held.
func (cc *CodecCapacity) marginals() {
	var x, cpu, rss []float64
	for _, s := range cc.Steps {
		if s.Held {
			x, cpu, rss = append(x, float64(s.Up)), append(cpu, s.CPUCores), append(rss, float64(s.RSSBytes))
		}
	}
	cc.MarginalCPUPerStream = slope(x, cpu)
	cc.MarginalRSSPerStreamBytes = int64(slope(x, rss))
	if n := len(x); n > 0 && cpu[n-1] > 0 {
		cc.StreamsPerCore = x[n-1] / cpu[n-1]
	}
}

// slope is the least-squares slope of y against x; 0 with fewer than two
// distinct x.
func slope(x, y []float64) float64 {
	n := float64(len(x))
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx, sy, sxx, sxy = sx+x[i], sy+y[i], sxx+x[i]*x[i], sxy+x[i]*y[i]
	}
	d := n*sxx - sx*sx
	if n < 2 || d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// capacityMeter measures the steps of a capacity run from the ticks of
// its target: the state at each step's settle point, then at its end.
type capacityMeter struct {
	s    *session
	t    *targetRun
	c    Capacity
	step int           // current step, from 0
	from *capacityMark // at the current step's settle point
}

// capacityMark is the state of the run at a moment.
type capacityMark struct {
	at      time.Time
	proc    procSample
	self    procSample
	lat     *Histogram
	gaps    time.Duration
	skipped uint64
	records uint64
}

func (m *capacityMeter) mark(now time.Time) *capacityMark {
	k := m.t.ticks[len(m.t.ticks)-1]
	self, _ := readProc(os.Getpid())
	return &capacityMark{at: now, proc: k.Proc, self: self, lat: m.t.latencySnapshot(), gaps: k.Gaps, skipped: m.s.cams.SkippedRounds(), records: k.Records}
}

// tick takes the marks of the current step; done when it is over, with
// its figures.
func (m *capacityMeter) tick(now time.Time) (CapacityStep, bool) {
	start := m.s.t0.Add(time.Duration(m.step) * m.c.StepDuration)
	if m.from == nil {
		if now.Before(start.Add(m.c.Settle)) {
			return CapacityStep{}, false
		}
		m.from = m.mark(now)
		return CapacityStep{}, false
	}
	if now.Before(start.Add(m.c.StepDuration)) {
		return CapacityStep{}, false
	}
	to := m.mark(now)
	streams := m.c.Start + m.step*m.c.Step
	step := m.measure(streams, m.from, to)
	m.step++
	m.from = nil
	return step, true
}

// measure computes a step's figures between two marks and judges it.
func (m *capacityMeter) measure(streams int, from, to *capacityMark) CapacityStep {
	dt := to.at.Sub(from.at).Seconds()
	k := m.t.ticks[len(m.t.ticks)-1]
	st := CapacityStep{
		Streams: streams, Up: k.Up,
		CPUCores:        (to.proc.CPU - from.proc.CPU).Seconds() / dt,
		RSSBytes:        to.proc.RSS,
		LatencyP99Ms:    ms(to.lat.Sub(from.lat).Quantile(0.99)),
		LossMs:          ms(to.gaps - from.gaps),
		SkippedRounds:   to.skipped - from.skipped,
		RecordsPerS:     float64(to.records-from.records) / dt,
		HarnessCPUCores: (to.self.CPU - from.self.CPU).Seconds() / dt,
	}
	if st.Up > 0 {
		st.CPUPerStream = st.CPUCores / float64(st.Up)
		st.RSSPerStreamBytes = st.RSSBytes / int64(st.Up)
	}
	var why []string
	if st.Up < streams {
		why = append(why, fmt.Sprintf("%d of %d streams up", st.Up, streams))
	}
	if st.LossMs > 0 {
		why = append(why, fmt.Sprintf("%s of audio lost", fmtMs(st.LossMs)))
	}
	if lim := ms(m.s.sc.Thresholds.LatencyP99); st.LatencyP99Ms > lim {
		why = append(why, fmt.Sprintf("latency p99 %s over %s", fmtMs(st.LatencyP99Ms), fmtMs(lim)))
	}
	if st.SkippedRounds > 0 {
		why = append(why, fmt.Sprintf("the cameras' pacer skipped %d rounds (the machine, harness included, is saturated)", st.SkippedRounds))
	}
	if to.proc.RSS == 0 {
		why = append(why, "earshot is not running")
	}
	st.Why = strings.Join(why, "; ")
	st.Held = len(why) == 0
	return st
}

// WriteFiles writes capacity.json, capacity.md and capacity.html into dir.
func (c *CapacityReport) WriteFiles(dir string) error {
	return writeFiles(dir, "capacity", c, c.Markdown(), htmlPage("earshot capacity", c.htmlBody()))
}

// Summary is one line per codec.
func (c *CapacityReport) Summary() string {
	var parts []string
	for _, cc := range c.Codecs {
		parts = append(parts, fmt.Sprintf("%s %d streams, %.0f per core of earshot's CPU (%s)", cc.Codec, cc.MaxStreams, cc.StreamsPerCore, cc.LimitedBy))
	}
	return fmt.Sprintf("capacity on %s (%d CPUs): %s", c.Host.Hostname, c.Host.CPUs, strings.Join(parts, "; "))
}

const capacityHeader = "| streams | up | CPU (cores) | CPU/stream | RSS | RSS/stream | latency p99 | lost | camera rounds skipped | harness CPU | held |\n|---|---|---|---|---|---|---|---|---|---|---|\n"

// Markdown renders the capacity report.
func (c *CapacityReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# earshot capacity: %s\n\n%s on %s (%d CPUs), %s.\n\n", c.Scenario, cmpOrNA(c.Build), c.Host.Hostname, c.Host.CPUs, c.Started.Format("2006-01-02 15:04"))
	for _, cc := range c.Codecs {
		fmt.Fprintf(&b, "## %s: %d streams held\n\nLimited by: %s. %s\n\n%s", cc.Codec, cc.MaxStreams, cc.LimitedBy, cc.costs(), capacityHeader)
		for _, s := range cc.Steps {
			fmt.Fprintf(&b, "| %d | %d | %.3f | %.3f%% | %s | %s | %s | %s | %d | %.2f | %s |\n", s.Streams, s.Up, s.CPUCores, 100*s.CPUPerStream,
				fmtBytes(s.RSSBytes), fmtBytes(s.RSSPerStreamBytes), fmtMs(s.LatencyP99Ms), fmtMs(s.LossMs), s.SkippedRounds, s.HarnessCPUCores, heldWord(s))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// costs says what a stream costs, for the reports.
func (cc *CodecCapacity) costs() string {
	return fmt.Sprintf("%.0f streams per core of earshot's own CPU; one more stream costs %.3f%% of a core and %s of RSS (slopes over the steps held).",
		cc.StreamsPerCore, 100*cc.MarginalCPUPerStream, fmtBytes(cc.MarginalRSSPerStreamBytes))
}

func heldWord(s CapacityStep) string {
	if s.Held {
		return "yes"
	}
	return "no: " + s.Why
}

func (c *CapacityReport) htmlBody() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<h1>earshot capacity: %s</h1><p>%s on %s (%d CPUs).</p>\n", html.EscapeString(c.Scenario), html.EscapeString(cmpOrNA(c.Build)), html.EscapeString(c.Host.Hostname), c.Host.CPUs)
	cpu := linePlot{Title: "CPU per stream", XLabel: "streams", YLabel: "% of a core"}
	lat := linePlot{Title: "Latency p99", XLabel: "streams", YLabel: "ms"}
	rss := linePlot{Title: "RSS per stream", XLabel: "streams", YLabel: "KiB"}
	total := linePlot{Title: "earshot CPU", XLabel: "streams", YLabel: "cores"}
	for _, cc := range c.Codecs {
		fmt.Fprintf(&b, "<h2>%s: %d streams held</h2><p>Limited by: %s. %s</p><table><tr>",
			cc.Codec, cc.MaxStreams, html.EscapeString(cc.LimitedBy), html.EscapeString(cc.costs()))
		for _, h := range strings.Split(strings.Trim(strings.SplitN(capacityHeader, "\n", 2)[0], "| "), " | ") {
			fmt.Fprintf(&b, "<th>%s</th>", h)
		}
		b.WriteString("</tr>\n")
		var x, ycpu, ylat, yrss, ytot []float64
		for _, s := range cc.Steps {
			fmt.Fprintf(&b, "<tr><td>%d</td><td>%d</td><td>%.3f</td><td>%.3f%%</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%.2f</td><td>%s</td></tr>\n",
				s.Streams, s.Up, s.CPUCores, 100*s.CPUPerStream, fmtBytes(s.RSSBytes), fmtBytes(s.RSSPerStreamBytes), fmtMs(s.LatencyP99Ms),
				fmtMs(s.LossMs), s.SkippedRounds, s.HarnessCPUCores, html.EscapeString(heldWord(s)))
			x = append(x, float64(s.Streams))
			ycpu, ylat = append(ycpu, 100*s.CPUPerStream), append(ylat, s.LatencyP99Ms)
			yrss, ytot = append(yrss, float64(s.RSSPerStreamBytes)/1024), append(ytot, s.CPUCores)
		}
		b.WriteString("</table>\n")
		cpu.Lines = append(cpu.Lines, line{Name: cc.Codec, X: x, Y: ycpu})
		lat.Lines = append(lat.Lines, line{Name: cc.Codec, X: x, Y: ylat})
		rss.Lines = append(rss.Lines, line{Name: cc.Codec, X: x, Y: yrss})
		total.Lines = append(total.Lines, line{Name: cc.Codec, X: x, Y: ytot})
	}
	fmt.Fprintf(&b, `<div class="plots">%s%s%s%s</div>`, total.svg(), cpu.svg(), rss.svg(), lat.svg())
	return b.String()
}
