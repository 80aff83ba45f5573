package harness

import (
	"fmt"
	"slices"
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// fleetAnalysis checks a fleet's streams across their owners: failover
// times, continuity, and which gaps an owner change or an instance fault
// explains.
type fleetAnalysis struct {
	t0, stop time.Time
	events   []instanceEvent
	bound    func(InstanceFault) time.Duration
}

// explain returns what explains gap g of the stream checked by sc, "" for
// nothing: a handover between two instances around it, or an instance
// fault on the instance that pulled the stream when the gap began.
func (fa *fleetAnalysis) explain(g gapPiece, sc *streamCheck) string {
	for _, h := range CheckContinuity(sc.spans).Handovers {
		if g.End().After(h.LastOld.Add(-faultLead)) && g.Start.Before(h.FirstNew.Add(faultLead)) {
			return fmt.Sprintf("handover %s → %s", h.From, h.To)
		}
	}
	owner := ""
	for _, ep := range sc.spans {
		if !ep.First.IsZero() && !ep.First.After(g.Start) {
			owner = ep.Instance
		}
	}
	for _, ev := range fa.events {
		if ev.Instance == owner && g.End().After(ev.Began.Add(-faultLead)) && g.Start.Before(ev.End.Add(fa.bound(ev.Fault))) {
			return "instance fault " + ev.Fault.String()
		}
	}
	return ""
}

// failovers returns the stream's moves between instances (the first
// maxTimeline), and the continuity problems of its epochs.
func (fa *fleetAnalysis) failovers(sc *streamCheck) ([]FailoverResult, []string) {
	c := CheckContinuity(sc.spans)
	out := make([]FailoverResult, min(len(c.Handovers), maxTimeline))
	for i, h := range c.Handovers[:len(out)] {
		out[i] = FailoverResult{AtS: h.LastOld.Sub(fa.t0).Seconds(), From: h.From, To: h.To, FromEpoch: h.FromEpoch, ToEpoch: h.ToEpoch, Ms: ms(h.Gap()), OldEnd: h.OldEnd}
	}
	return out, c.Problems
}

// wantEnd reports whether a stream's end reason is the one its life
// wants: at the end of a fleet's run an instance may leave before the
// others, and its streams end as moved.
func (fa *fleetAnalysis) wantEnd(got, want string) bool {
	return got == want || want == schema.ReasonShutdown && got == schema.ReasonMoved
}

// figures sums up the fleet: per instance fault, the streams its instance
// pulled and how long they took to be pulled again; failovers and
// continuity over every stream.
func (fa *fleetAnalysis) figures(f *fleetRun, r *Report, checks map[string]*streamCheck) *FleetFigures {
	ff := &FleetFigures{Instances: f.ids, Partitions: fleetPartitionsPerInstance * len(f.ids), SessionTimeoutS: f.session.Seconds()}
	var all []time.Duration
	var problems []string
	for _, sc := range checks {
		c := CheckContinuity(sc.spans)
		for _, h := range c.Handovers {
			all = append(all, h.Gap())
		}
		for _, p := range c.Problems {
			ff.ContinuityProblems++
			problems = append(problems, sc.name+": "+p)
		}
	}
	ff.Failovers = len(all)
	ff.FailoverP50Ms, ff.FailoverMaxMs = medianMax(all)
	slices.Sort(problems)
	switch {
	case len(problems) > 0:
		ff.Continuity = fmt.Sprintf("%d epochs pulled twice or out of order; the first: %s", len(problems), problems[0])
	case r.Loss.UnexplainedGaps > 0:
		ff.Continuity = fmt.Sprintf("%d gaps neither an owner change nor a fault explains", r.Loss.UnexplainedGaps)
	default:
		ff.ContinuityPass, ff.Continuity = true, "ok: no epochs overlap by more than 500 ms; the audio stops only where the owner changed or a fault explains it"
	}
	for _, ev := range fa.events {
		ff.Faults = append(ff.Faults, fa.faultResult(ev, checks))
	}
	return ff
}

// faultResult: the streams instance ev.Instance pulled when ev began, and
// when each was pulled again in a new epoch.
func (fa *fleetAnalysis) faultResult(ev instanceEvent, checks map[string]*streamCheck) InstanceFaultResult {
	bound := fa.bound(ev.Fault)
	r := InstanceFaultResult{
		Fault: ev.Fault.String(), Kind: string(ev.Fault.Kind), Instance: ev.Instance,
		AtS: ev.Began.Sub(fa.t0).Seconds(), DurationS: ev.End.Sub(ev.Began).Seconds(), Began: ev.Began,
		BoundMs: ms(bound), Error: ev.Error,
	}
	var took []time.Duration
	late, lost := 0, 0
	for _, sc := range checks {
		i := slices.IndexFunc(sc.spans, func(ep EpochSpan) bool {
			return ep.Instance == ev.Instance && !ep.First.IsZero() && !ep.First.After(ev.Began) && ep.Last.After(ev.Began.Add(-faultLead))
		})
		if i < 0 {
			continue
		}
		r.Streams++
		old := sc.spans[i]
		j := slices.IndexFunc(sc.spans[i+1:], func(ep EpochSpan) bool { return !ep.First.IsZero() })
		if j < 0 {
			if old.Last.After(ev.End) { // a short stop: the same epoch went on
				r.Recovered++
			} else if ev.End.Add(bound).Before(fa.stop) {
				lost++
			}
			continue
		}
		d := sc.spans[i+1+j].First.Sub(old.Last)
		took = append(took, d)
		if d > bound {
			late++
			continue
		}
		r.Recovered++
	}
	r.FailoverMs, r.FailoverMaxMs = medianMax(took)
	switch {
	case ev.Error != "":
		r.Problem = "the harness could not carry the fault out: " + ev.Error
	case late > 0 || lost > 0:
		r.Problem = fmt.Sprintf("%d of %d streams pulled again later than %s, %d not at all", late, r.Streams, fmtMs(ms(bound)), lost)
	}
	r.Pass = r.Problem == ""
	return r
}
