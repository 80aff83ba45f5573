package harness

import (
	"testing"
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// TestFleetAnalysis judges a kill of instance a at 2 s from the epochs of
// three streams: one moved to b 3.5 s later, one moved too late, one that
// b pulled all along.
func TestFleetAnalysis(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	kill := instanceEvent{Fault: InstanceFault{Instance: 1, Kind: InstanceKill, At: 2 * time.Second}, Instance: "a", Began: t0.Add(2 * time.Second)}
	kill.End = kill.Began
	f := &fleetRun{session: 3 * time.Second}
	fa := &fleetAnalysis{t0: t0, stop: t0.Add(20 * time.Second), events: []instanceEvent{kill}, bound: f.bound}
	checks := map[string]*streamCheck{}
	add := func(name string, recs ...[]schema.Record) *streamCheck {
		sc := &streamCheck{name: name}
		for _, rs := range recs {
			for i := range rs {
				sc.spans = AddRecord(sc.spans, &rs[i])
			}
		}
		checks[name] = sc
		return sc
	}
	moved := add("moved", epochRecords(1, "a", t0, 2*time.Second, ""), epochRecords(2, "b", t0.Add(5500*time.Millisecond), 4*time.Second, ""))
	add("late", epochRecords(1, "a", t0, 2*time.Second, ""), epochRecords(2, "b", t0.Add(9*time.Second), time.Second, ""))
	add("other", epochRecords(1, "b", t0, 10*time.Second, ""))

	r := fa.faultResult(kill, checks)
	if r.Streams != 2 || r.Recovered != 1 || r.Pass || r.BoundMs != 6000 || r.FailoverMaxMs == nil || *r.FailoverMaxMs != 7000 {
		t.Errorf("%+v, want 2 streams of a, 1 pulled again within 6 s, the other 7 s later: a failure", r)
	}
	// The gap of the moved stream is the handover's; a gap of the stream
	// b pulled all along has no explanation.
	if by := fa.explain(gapPiece{Reason: schema.ReasonBetweenEpochs, Start: t0.Add(2 * time.Second), Length: 3500 * time.Millisecond}, moved); by != "handover a → b" {
		t.Errorf("the moved stream's gap is explained by %q", by)
	}
	if by := fa.explain(gapPiece{Reason: schema.ReasonUnreported, Start: t0.Add(4 * time.Second), Length: time.Second}, checks["other"]); by != "" {
		t.Errorf("a gap of a stream b pulled all along is explained by %q", by)
	}
	fo, problems := fa.failovers(moved)
	if len(fo) != 1 || fo[0].Ms != 3500 || fo[0].From != "a" || fo[0].To != "b" || len(problems) != 0 {
		t.Errorf("failovers %+v, problems %q; want one of 3.5 s from a to b", fo, problems)
	}
}
