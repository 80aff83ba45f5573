package harness

import (
	"fmt"
	"slices"
	"time"
)

// report builds the target's report once the session has stopped.
func (t *targetRun) report() *Report {
	s := t.s
	r := &Report{
		Scenario: s.sc.Name, Description: s.sc.Description, Target: t.Label, Build: t.Binary,
		Mode: "self-contained", Host: thisHost(), Started: s.t0, DurationS: s.stopAt.Sub(s.t0).Seconds(),
		Failures: []string{},
	}
	if t.blackBox() {
		r.Mode = "black-box"
	}
	t.mu.Lock()
	r.Warnings = slices.Clone(t.warnings)
	r.Streams.Added, r.Streams.Removed = t.addedDuring, t.removedCount
	t.mu.Unlock()
	if t.verErr != nil {
		r.Warnings = append(r.Warnings, "reading the topic failed: "+t.verErr.Error())
	}

	lives := t.streamLives()
	a := &analysis{
		t0: s.t0, stop: s.stopAt, lives: lives, faults: s.cams.FaultLog(),
		recovery: s.sc.Thresholds.Recovery, permanentRetry: permanentRetry(s.sc.Earshot),
		minFidelity: s.sc.Thresholds.MinFidelity, clip: s.cams.Clip(),
	}
	if t.fleet != nil {
		a.fleet = &fleetAnalysis{t0: s.t0, stop: s.stopAt, events: t.fleet.faultLog(), bound: t.fleet.bound}
	}
	checks := t.ver.checks()
	r.PerStream, r.Faults = a.run(checks)
	t.lossFigures(r, checks)
	if a.fleet != nil {
		r.Fleet = a.fleet.figures(t.fleet, r, checks)
	}
	t.streamFigures(r, lives, checks)
	lat := t.latency
	if t.steadyLat != nil {
		lat = lat.Sub(t.steadyLat)
	}
	r.Latency = latencyFigures(t.latencySource(), lat)
	t.resourceFigures(r)
	t.earshotFigures(r)
	r.Generator = GeneratorFigures{Streams: len(s.plan.streams), SkippedRounds: s.cams.SkippedRounds()}
	r.Series = t.series()
	t.verdict(r)
	return r
}

// lossFigures sums up the streams' checks.
func (t *targetRun) lossFigures(r *Report, checks map[string]*streamCheck) {
	l := &r.Loss
	l.GapsByReasonMs = make(map[string]float64)
	for _, sr := range r.PerStream {
		l.UnexplainedMs += sr.UnexplainedMs
		l.ExplainedMs += sr.ExplainedMs
		l.AudioS += sr.AudioS
		l.ExpectedS += sr.ExpectedS
		l.SeqErrors += sr.SeqErrors
		for _, g := range sr.Timeline {
			if !g.Explained {
				l.UnexplainedGaps++
			}
		}
		for reason, v := range sr.GapsMs {
			l.GapsByReasonMs[reason] += v
		}
		if sr.Fidelity != nil && (l.FidelityMin == nil || *sr.Fidelity < *l.FidelityMin) {
			l.FidelityMin = ptr(*sr.Fidelity)
		}
	}
	var stale uint64
	l.Duplicates, stale, l.Unparseable = t.ver.duplicates()
	l.SeqErrors += stale
}

// streamFigures counts the streams and their connection times.
func (t *targetRun) streamFigures(r *Report, lives []streamLife, checks map[string]*streamCheck) {
	r.Streams.Planned = len(lives)
	r.Streams.MaxUp = t.maxUp
	var connect []time.Duration
	for _, l := range lives {
		sc := checks[l.Name]
		if sc == nil || sc.firstAudio.IsZero() {
			continue
		}
		r.Streams.Delivered++
		connect = append(connect, max(0, sc.firstAudio.Sub(l.Added)))
	}
	r.Streams.ConnectP50Ms, r.Streams.ConnectMaxMs = medianMax(connect)
}

// steady returns the first and last ticks of the steady window.
func (t *targetRun) steady() (first, last tick, ok bool) {
	if t.steadyTick < 0 || t.steadyTick >= len(t.ticks)-1 {
		if len(t.ticks) < 2 {
			return tick{}, tick{}, false
		}
		return t.ticks[0], t.ticks[len(t.ticks)-1], true
	}
	return t.ticks[t.steadyTick], t.ticks[len(t.ticks)-1], true
}

// resourceFigures: earshot's CPU and memory over the steady window.
func (t *targetRun) resourceFigures(r *Report) {
	first, last, ok := t.steady()
	res := &r.Resources
	if self := t.s.self; len(self) == 2 {
		res.HarnessCPUCores = (self[1].CPU - self[0].CPU).Seconds() / self[1].At.Sub(self[0].At).Seconds()
	}
	if !ok || !first.HasProc || !last.HasProc {
		return
	}
	window := last.At.Sub(first.At).Seconds()
	var up float64
	var n int
	var rss, pss []int64
	from := max(t.steadyTick, 0)
	for _, k := range t.ticks[from:] {
		if k.Up >= 0 {
			up += float64(k.Up)
			n++
		}
		if k.HasProc {
			rss, pss = append(rss, k.Proc.RSS), append(pss, k.Proc.PSS)
		}
	}
	if n == 0 {
		// No admin API: the streams it should pull.
		for _, k := range t.ticks[from:] {
			up += float64(k.Planned)
			n++
		}
	}
	up /= float64(n)
	slices.Sort(rss)
	slices.Sort(pss)
	cpu := (last.Proc.CPU - first.Proc.CPU).Seconds()
	*res = ResourceFigures{
		Measured: true, WindowS: window, StreamsUp: up,
		CPUCores: cpu / window, RSSBytes: rss[len(rss)/2], RSSMaxBytes: slices.Max(rss), PSSBytes: pss[len(pss)/2],
		HarnessCPUCores: res.HarnessCPUCores,
	}
	if up > 0 {
		res.CPUPerStream = res.CPUCores / up
		res.RSSPerStreamBytes = int64(float64(res.RSSBytes) / up)
		res.PSSPerStreamBytes = int64(float64(res.PSSBytes) / up)
	}
	if audio := (last.Audio - first.Audio).Seconds(); audio > 0 {
		res.CPUMsPerAudioS = 1000 * cpu / audio
	}
}

// earshotFigures: callback time, drops and stalls, from /metrics when the
// build serves them, else from its stream API.
func (t *targetRun) earshotFigures(r *Report) {
	e := &r.Earshot
	e.ExitCode = t.exitCode
	m := t.metricsTo
	e.Metrics = m != nil
	if d, ok := histogramQuantile(t.metricsFrom, m, metricCallbackSeconds, 0.999); ok {
		e.CallbackP999Ms = ptr(ms(d))
	}
	if d, ok := histogramQuantile(t.metricsFrom, m, metricPipelineLatency, 0.99); ok {
		e.PipelineLatencyP99Ms = ptr(ms(d))
	}
	for _, s := range t.lastStats {
		e.Reconnects += s.Reconnects
	}
	switch {
	case m.has(metricSDKDropped) && m.has(metricHandoffDropped):
		e.DropsSource = "metrics"
		e.Drops = map[string]uint64{
			"sdk_callback": uint64(m.sumBy(metricSDKDropped)[""]),
			"handoff":      uint64(m.sumBy(metricHandoffDropped)[""]),
		}
	case t.admin != nil:
		e.DropsSource = "api"
		e.Drops = map[string]uint64{"sdk_callback": 0, "handoff": 0, "sink": 0}
		for _, s := range t.lastStats {
			e.Drops["sdk_callback"] += s.SDKDropped
			e.Drops["handoff"] += s.HandoffDropped
			e.Drops["sink"] += s.SinkErrors
		}
	}
	e.Stalls = map[string]uint64{}
	switch {
	case m.has(metricStalls):
		e.StallsSource = "metrics"
		for k, v := range m.sumBy(metricStalls, "stage", "reason") {
			if v > 0 { // the metric lists every stage and reason
				e.Stalls[k] = uint64(v)
			}
		}
	case t.stallsOK:
		e.StallsSource = "api"
		for _, s := range t.stalls {
			e.Stalls[s.Stage+"/"+s.Reason] += s.Count
		}
	}
}

// series turns the ticks into the report's time series.
func (t *targetRun) series() Series {
	var s Series
	for i, k := range t.ticks {
		s.T = append(s.T, k.At.Sub(t.s.t0).Seconds())
		s.StreamsUp = append(s.StreamsUp, k.Up)
		rate, cpu := t.rates(i)
		s.CPUCores = append(s.CPUCores, cpu)
		s.RSSMB = append(s.RSSMB, float64(k.Proc.RSS)/(1<<20))
		s.RecordsPerS = append(s.RecordsPerS, rate)
		s.LatencyP99Ms = append(s.LatencyP99Ms, k.LatP99)
	}
	return s
}

// rates returns the records per second and earshot's CPU cores between
// tick i-1 and tick i (0 for the first).
func (t *targetRun) rates(i int) (records, cpu float64) {
	if i < 1 || i >= len(t.ticks) {
		return 0, 0
	}
	k, p := t.ticks[i], t.ticks[i-1]
	dt := k.At.Sub(p.At).Seconds()
	if k.HasProc && p.HasProc {
		cpu = (k.Proc.CPU - p.Proc.CPU).Seconds() / dt
	}
	return float64(k.Records-p.Records) / dt, cpu
}

// verdict checks the report against the scenario's thresholds.
func (t *targetRun) verdict(r *Report) {
	th := t.s.sc.Thresholds
	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	if c := r.Earshot.ExitCode; c != nil && *c != 0 {
		log := "earshot.log"
		if t.fleet != nil {
			log = "the instances' logs"
		}
		fail("earshot exited with status %d (see %s)", *c, log)
	}
	if r.Streams.Delivered < r.Streams.Planned {
		fail("%d of %d streams delivered no audio", r.Streams.Planned-r.Streams.Delivered, r.Streams.Planned)
	}
	if r.Loss.UnexplainedMs > ms(th.MaxLoss) {
		fail("unexplained loss %s in %d gaps (max %s)", fmtMs(r.Loss.UnexplainedMs), r.Loss.UnexplainedGaps, fmtMs(ms(th.MaxLoss)))
	}
	if r.Loss.SeqErrors > 0 {
		fail("%d records missing or out of order", r.Loss.SeqErrors)
	}
	if th.LatencyP99 > 0 && r.Latency.P99Ms > ms(th.LatencyP99) {
		fail("latency p99 %s over %s", fmtMs(r.Latency.P99Ms), fmtMs(ms(th.LatencyP99)))
	}
	if r.Latency.Count == 0 {
		fail("no latency measured: no audio record reached Kafka in the steady window")
	}
	for _, f := range r.Faults {
		if !f.Pass {
			fail("fault %s at %.0f s: %s", f.Fault, f.AtS, f.Problem)
		}
	}
	if fl := r.Fleet; fl != nil {
		for _, f := range fl.Faults {
			if !f.Pass {
				fail("instance fault %s: %s", f.Fault, f.Problem)
			}
		}
		if !fl.ContinuityPass {
			fail("continuity across owners: %s", fl.Continuity)
		}
		r.Warnings = append(r.Warnings, "a fleet's CPU and memory are not measured: its instances come and go")
	}
	var problems []string
	streams := 0
	for _, sr := range r.PerStream {
		for _, p := range sr.Problems {
			problems = append(problems, sr.Stream+": "+p)
		}
		if len(sr.Problems) > 0 {
			streams++
		}
	}
	switch {
	case len(problems) == 1:
		fail("%s", problems[0])
	case len(problems) > 1:
		fail("%d problems in %d streams (see per_stream), the first: %s", len(problems), streams, problems[0])
	}
	if r.Generator.SkippedRounds > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the cameras' pacer fell behind real time and skipped %d packet rounds: the machine is overloaded, and the audio they lost is counted as loss", r.Generator.SkippedRounds))
	}
	if !r.Earshot.Metrics && t.admin != nil {
		r.Warnings = append(r.Warnings, "the build serves no /metrics: callback p99.9 n/a; drops and stalls from the stream API")
	}
	r.Pass = len(r.Failures) == 0
	slices.Sort(r.Warnings)
}
