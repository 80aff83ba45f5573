package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// epochRecords returns the records of one epoch of stream s pulled by
// instance: audio of 200 ms chunks from `from` for d, then an end record
// with reason end unless it is "".
func epochRecords(epoch uint64, instance string, from time.Time, d time.Duration, end string) []schema.Record {
	var out []schema.Record
	chunk := 200 * time.Millisecond
	base := schema.Record{Stream: "s", Epoch: epoch, Instance: instance, SampleRate: 16000, Channels: 1}
	for at := time.Duration(0); at < d; at += chunk {
		r := base
		r.Kind, r.CaptureTime, r.PCM = schema.KindAudio, from.Add(at), make([]byte, 2*16000*chunk/time.Second)
		out = append(out, r)
	}
	if end != "" {
		r := base
		r.Kind, r.CaptureTime, r.Reason = schema.KindEnd, from.Add(d), end
		out = append(out, r)
	}
	return out
}

var continuityCases = []struct {
	name                          string
	recs                          func(t0 time.Time) []schema.Record
	handovers, restarts, problems int
	problem                       string
}{{
	name: "a kill: the next owner continues 4 s later, a handover",
	recs: func(t0 time.Time) []schema.Record {
		return append(epochRecords(1, "a", t0, 2*time.Second, ""), epochRecords(2, "b", t0.Add(6*time.Second), time.Second, schema.ReasonShutdown)...)
	},
	handovers: 1,
}, {
	name: "a fenced instance's audio overlaps the new owner's by a second: pulled twice",
	recs: func(t0 time.Time) []schema.Record {
		return append(epochRecords(2, "b", t0.Add(time.Second), 2*time.Second, ""), epochRecords(1, "a", t0, 2*time.Second, schema.ReasonMoved)...)
	},
	handovers: 1, problems: 2, problem: "pulled twice",
}, {
	name: "a new epoch on the same instance is a restart the caller must explain",
	recs: func(t0 time.Time) []schema.Record {
		return append(epochRecords(1, "a", t0, time.Second, schema.ReasonDisconnected), epochRecords(2, "a", t0.Add(2*time.Second), time.Second, "")...)
	},
	restarts: 1,
}, {
	name: "a stream removed and added again on the same instance is neither",
	recs: func(t0 time.Time) []schema.Record {
		return append(epochRecords(1, "a", t0, time.Second, schema.ReasonRemoved), epochRecords(2, "a", t0.Add(2*time.Second), time.Second, "")...)
	},
}, {
	name: "an epoch without audio between two owners does not count",
	recs: func(t0 time.Time) []schema.Record {
		recs := epochRecords(1, "a", t0, time.Second, schema.ReasonMoved)
		recs = append(recs, epochRecords(2, "b", t0, 0, schema.ReasonMoved)...)
		return append(recs, epochRecords(3, "c", t0.Add(1200*time.Millisecond), time.Second, "")...)
	},
	handovers: 1,
}}

func TestCheckContinuity(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range continuityCases {
		t.Run(tc.name, func(t *testing.T) {
			spans := EpochSpans(tc.recs(t0))["s"]
			c := CheckContinuity(spans)
			if len(c.Handovers) != tc.handovers || len(c.Restarts) != tc.restarts || len(c.Problems) != tc.problems {
				t.Fatalf("%d handovers, %d restarts, problems %q; want %d, %d, %d", len(c.Handovers), len(c.Restarts), c.Problems, tc.handovers, tc.restarts, tc.problems)
			}
			if tc.problem != "" && !strings.Contains(strings.Join(c.Problems, "; "), tc.problem) {
				t.Errorf("problems %q, want one with %q", c.Problems, tc.problem)
			}
		})
	}
	// The failover time is from the old epoch's last audio to the new one's first.
	c := CheckContinuity(EpochSpans(continuityCases[0].recs(t0))["s"])
	if h := c.Handovers[0]; h.Gap() != 4*time.Second || h.From != "a" || h.To != "b" || h.OldEnd != "" {
		t.Errorf("handover %s, gap %s; want a → b after 4 s, the old epoch without an end", h, h.Gap())
	}
}
