package harness

import (
	"fmt"
	"slices"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/sink/schema"
)

// Tolerances of the end-to-end checks.
const (
	// faultLead: a fault's gap may begin this long before the fault (the
	// gap starts where the last audio ended).
	faultLead = time.Second
	// tailSlack: a stream's timeline may end this long before earshot was
	// asked to stop pulling it (audio in flight at SIGTERM or DELETE).
	tailSlack = 2 * time.Second
	// maxTimeline bounds the gaps kept per stream for the report.
	maxTimeline = 200
)

// defaultMinFidelity is the mark of a codec the registry does not know.
const defaultMinFidelity = 0.93

// streamLife is when the harness asked earshot to pull a stream, and to
// stop (zero: until the end of the run).
type streamLife struct {
	Name    string
	Codec   string
	Added   time.Time
	Removed time.Time
	// WantEnd is the reason of the end record the stream must end with:
	// shutdown, removed, or "" when earshot keeps pulling it (black-box).
	WantEnd string
}

// analysis checks the streams' timelines against the faults of a run.
type analysis struct {
	t0, stop       time.Time
	lives          []streamLife
	faults         []loadtest.FaultEvent
	recovery       time.Duration // thresholds.recovery
	permanentRetry time.Duration // earshot's ingest.permanent_retry
	minFidelity    float64       // thresholds.min_fidelity; 0: per codec
	clip           []int16
	fleet          *fleetAnalysis // nil unless the run is a fleet's
}

// faultWindow is when a fault's gaps may be.
type faultWindow struct {
	ev       loadtest.FaultEvent
	exp      loadtest.FaultExpectation
	from, to time.Time
	end      time.Time // of the fault; the stop for one still active
}

func (a *analysis) windows() []faultWindow {
	out := make([]faultWindow, len(a.faults))
	for i, ev := range a.faults {
		exp, _ := ev.Kind.Expectation()
		end := ev.Ended
		if end.IsZero() || end.After(a.stop) {
			end = a.stop
		}
		allow := a.recovery
		if exp.Permanent {
			allow += a.permanentRetry
		}
		out[i] = faultWindow{ev: ev, exp: exp, from: ev.Began.Add(-faultLead), to: end.Add(allow), end: end}
	}
	return out
}

// hits reports whether w's fault acts on the stream of life l.
func (w *faultWindow) hits(l streamLife) bool {
	if w.ev.Stream != "" {
		return w.ev.Stream == l.Name
	}
	return !l.Added.After(w.ev.Began) && (l.Removed.IsZero() || l.Removed.After(w.ev.Began))
}

// overlaps reports whether g lies partly in w.
func (w *faultWindow) overlaps(g gapPiece) bool {
	return g.End().After(w.from) && g.Start.Before(w.to)
}

// attributed is a gap and the fault that explains it (-1: none), or
// (by) the owner change or instance fault of a fleet that does.
type attributed struct {
	gap   gapPiece
	fault int
	by    string
	note  string
}

func (g attributed) explained() bool { return g.fault >= 0 || g.by != "" }

// run checks every stream and fault.
func (a *analysis) run(checks map[string]*streamCheck) ([]StreamResult, []FaultResult) {
	wins := a.windows()
	byFault := make([][]streamGaps, len(wins))
	results := make([]StreamResult, 0, len(a.lives))
	for _, l := range a.lives {
		sc := checks[l.Name]
		if sc == nil {
			sc = &streamCheck{name: l.Name}
		}
		gaps := a.classify(l, sc, wins)
		results = append(results, a.streamResult(l, sc, gaps, wins))
		for i := range wins {
			if wins[i].hits(l) {
				byFault[i] = append(byFault[i], streamGaps{sc: sc, gaps: gaps})
			}
		}
	}
	faults := make([]FaultResult, len(wins))
	for i := range wins {
		faults[i] = a.faultResult(i, &wins[i], byFault[i])
	}
	return results, faults
}

// streamGaps are a stream's gaps, as classify attributed them.
type streamGaps struct {
	sc   *streamCheck
	gaps []attributed
}

// classify attributes each gap of the stream to the fault that explains
// it, and adds what the timeline lacks: a stream that ended early, or
// never delivered.
func (a *analysis) classify(l streamLife, sc *streamCheck, wins []faultWindow) []attributed {
	gaps := slices.Clone(sc.gaps)
	until := a.stop
	if !l.Removed.IsZero() {
		until = l.Removed
	}
	switch {
	case sc.firstAudio.IsZero():
		gaps = append(gaps, gapPiece{Reason: schema.ReasonNoAudio, Start: l.Added, Length: until.Sub(l.Added)})
	case sc.end.Before(until.Add(-tailSlack)):
		gaps = append(gaps, gapPiece{Reason: schema.ReasonStoppedEarly, Start: sc.end, Length: until.Sub(sc.end)})
	}
	out := make([]attributed, len(gaps))
	for gi, g := range gaps {
		out[gi] = attributed{gap: g, fault: -1}
		for i := range wins {
			w := &wins[i]
			if !w.hits(l) || !w.overlaps(g) {
				continue
			}
			if w.exp.Explains(g.Reason) || (g.Reason == schema.ReasonStoppedEarly && !g.Start.Before(w.from)) {
				out[gi].fault, out[gi].note = i, ""
				break
			}
			out[gi].note = fmt.Sprintf("during %s, which does not give %s", w.ev.Fault, g.Reason)
		}
		if out[gi].fault < 0 && a.fleet != nil {
			if by := a.fleet.explain(g, sc); by != "" {
				out[gi].by, out[gi].note = by, ""
			}
		}
	}
	return out
}

// streamResult sums up one stream.
func (a *analysis) streamResult(l streamLife, sc *streamCheck, gaps []attributed, wins []faultWindow) StreamResult {
	r := StreamResult{
		Stream: l.Name, Codec: l.Codec, Records: sc.records, Epochs: len(sc.epochs),
		AudioS: sc.audio.Seconds(), SeqErrors: sc.seqErrors, EndReason: sc.endReason,
		GapsMs: make(map[string]float64), AddedS: l.Added.Sub(a.t0).Seconds(),
	}
	if !l.Removed.IsZero() {
		r.RemovedS = ptr(l.Removed.Sub(a.t0).Seconds())
	}
	if len(sc.epochs) > 0 {
		r.ExpectedS = later(sc.end, sc.epochs[0].Start).Sub(sc.epochs[0].Start).Seconds()
	}
	var unexplained int
	for _, g := range gaps {
		gr := GapResult{AtS: g.gap.Start.Sub(a.t0).Seconds(), Ms: ms(g.gap.Length), Reason: g.gap.Reason, Explained: g.explained(), Note: g.note}
		r.GapsMs[g.gap.Reason] += gr.Ms
		if gr.Explained {
			gr.Fault = g.by
			if g.fault >= 0 {
				gr.Fault = wins[g.fault].ev.Fault.String()
			}
			r.ExplainedMs += gr.Ms
		} else {
			r.UnexplainedMs += gr.Ms
			if unexplained++; unexplained <= 3 {
				r.Problems = append(r.Problems, fmt.Sprintf("%s gap of %s at %.1f s unexplained%s", gr.Reason, fmtMs(gr.Ms), gr.AtS, noteSuffix(gr.Note)))
			}
		}
		if len(r.Timeline) < maxTimeline {
			r.Timeline = append(r.Timeline, gr)
		}
	}
	if unexplained > 3 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d more unexplained gaps", unexplained-3))
	}
	r.Problems = append(r.Problems, sc.seqMessages...)
	wantEnd := func(got string) bool { return got == l.WantEnd }
	if a.fleet != nil {
		var problems []string
		r.Failovers, problems = a.fleet.failovers(sc)
		r.Problems = append(r.Problems, problems...)
		wantEnd = func(got string) bool { return a.fleet.wantEnd(got, l.WantEnd) }
	}
	if sc.records > 0 && l.WantEnd != "" && (!sc.ended || !wantEnd(sc.endReason)) {
		got := "no end record"
		if sc.ended {
			got = "reason " + sc.endReason
		}
		r.Problems = append(r.Problems, fmt.Sprintf("ends with %s, want an end record with reason %s", got, l.WantEnd))
	}
	if a.clip != nil && sc.keepWindow && len(sc.window) == samplesIn(fidelityLength, clipRate) {
		corr, _ := loadtest.Fidelity(sc.window, a.clip)
		r.Fidelity = &corr
		if mark := a.fidelityMark(l.Codec); corr < mark {
			r.Problems = append(r.Problems, fmt.Sprintf("audio correlates %.3f with the clip, below %.2f", corr, mark))
		}
	}
	return r
}

func noteSuffix(note string) string {
	if note == "" {
		return ""
	}
	return " (" + note + ")"
}

// fidelityMark is the lowest correlation accepted for codec.
func (a *analysis) fidelityMark(codec string) float64 {
	if a.minFidelity > 0 {
		return a.minFidelity
	}
	// The registry's mark: what the codec reaches end to end (cmd/earshot's
	// end-to-end test judges by the same); a byte-order, rate or channel
	// mistake scores below 0.3.
	if c, ok := audio.LookupCodec(codec); ok {
		return c.Fidelity
	}
	return defaultMinFidelity
}

// faultResult sums up how the streams it hit met fault i.
func (a *analysis) faultResult(i int, w *faultWindow, hit []streamGaps) FaultResult {
	ev := w.ev
	r := FaultResult{
		Fault: ev.Fault.String(), Kind: string(ev.Kind), Stream: ev.Stream,
		AtS: ev.Began.Sub(a.t0).Seconds(), DurationS: w.end.Sub(ev.Began).Seconds(),
		Began: ev.Began, Ended: ev.Ended, Expected: w.exp.Required, Streams: len(hit), Error: ev.Error,
	}
	var detect, recover []time.Duration
	for _, sg := range hit {
		var mine []gapPiece
		for _, g := range sg.gaps {
			if g.fault == i {
				mine = append(mine, g.gap)
				r.GapMs += ms(g.gap.Length)
			}
		}
		if k := slices.IndexFunc(mine, func(g gapPiece) bool { return g.Reason == w.exp.Required }); k >= 0 {
			r.Detected++
			detect = append(detect, max(0, mine[k].End().Sub(ev.Began)))
		}
		if len(mine) == 0 {
			r.Recovered++
			continue
		}
		if last := mine[len(mine)-1]; sg.sc.end.After(last.End()) {
			r.Recovered++
			recover = append(recover, max(0, last.End().Sub(w.end)))
		}
	}
	r.DetectionMs, r.DetectionMaxMs = medianMax(detect)
	r.RecoveryMs, r.RecoveryMaxMs = medianMax(recover)
	stillOn := !w.end.Before(a.stop)
	switch {
	case ev.Error != "":
		r.Problem = "the cameras could not carry the fault out: " + ev.Error
	case w.exp.Required != "" && r.Detected < r.Streams:
		r.Problem = fmt.Sprintf("%d of %d streams show no %s gap", r.Streams-r.Detected, r.Streams, w.exp.Required)
	case !stillOn && r.Recovered < r.Streams:
		r.Problem = fmt.Sprintf("%d of %d streams did not recover", r.Streams-r.Recovered, r.Streams)
	}
	r.Pass = r.Problem == ""
	return r
}

// medianMax returns the median and the maximum of ds in milliseconds; nil
// when empty.
func medianMax(ds []time.Duration) (median, maximum *float64) {
	if len(ds) == 0 {
		return nil, nil
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return ptr(ms(s[len(s)/2])), ptr(ms(s[len(s)-1]))
}
