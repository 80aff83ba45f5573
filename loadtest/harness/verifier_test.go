package harness

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/sink/schema"
)

// vt0 is when the runs of verifierCases begin; they stop at 10 s.
var vt0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// vat is s seconds into a run of verifierCases.
func vat(s float64) time.Time { return vt0.Add(time.Duration(s * float64(time.Second))) }

// verifierCase is the records one stream ("cam") delivers, the faults of
// the run and what the verifier and the analysis must conclude.
type verifierCase struct {
	name string
	// life adjusts the stream's life: added at 0 s, until the stop at
	// 10 s, ending with end/shutdown.
	life    func(*streamLife)
	faults  []loadtest.FaultEvent
	records func(g *recGen)

	epochs        int
	seqErrors     uint64
	explainedMs   float64
	unexplainedMs float64
	// gapsMs are gap lengths by reason that must be found (±1 ms).
	gapsMs map[string]float64
	// problems are, in order, substrings of each of the stream's problems;
	// there must be exactly as many problems.
	problems []string
	// duplicates is how many records the verifier dropped as redeliveries.
	duplicates uint64
	// faultProblems are, per fault, a substring of its problem; "" means
	// it must pass.
	faultProblems []string
}

// audioOnly10s is a stream delivering 10 s of audio as earshot does when
// nothing goes wrong.
func audioOnly10s(g *recGen) {
	g.start(vat(0))
	g.audio(vat(0), 10*time.Second)
	g.end(schema.ReasonShutdown)
}

var verifierCases = []verifierCase{
	{
		name:    "a stream delivering 10 s of audio and end/shutdown has nothing to report",
		records: audioOnly10s,
		epochs:  1,
	},
	{
		name: "a no_rtp gap and the reconnection during a silent fault are explained by it",
		faults: []loadtest.FaultEvent{
			{Fault: loadtest.Fault{Stream: "cam", Kind: loadtest.FaultSilent}, Began: vat(3), Ended: vat(7)},
		},
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 3*time.Second)
			g.gap(schema.ReasonNoRTP, 3200*time.Millisecond)
			g.start(vat(6.5))
			g.audio(vat(7), 3*time.Second)
			g.end(schema.ReasonShutdown)
		},
		epochs:        2,
		explainedMs:   4000,
		gapsMs:        map[string]float64{schema.ReasonNoRTP: 3200, schema.ReasonBetweenEpochs: 300, schema.ReasonUnreported: 500},
		faultProblems: []string{""},
	},
	{
		name: "a gap no fault is on for is unexplained",
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 4*time.Second)
			g.gap(schema.ReasonHandoffDrop, 100*time.Millisecond)
			g.audio(time.Time{}, 5900*time.Millisecond)
			g.end(schema.ReasonShutdown)
		},
		epochs:        1,
		unexplainedMs: 100,
		gapsMs:        map[string]float64{schema.ReasonHandoffDrop: 100},
		problems:      []string{"handoff_drop gap of 100 ms at 4.0 s unexplained"},
	},
	{
		name: "a gap of a reason the fault on does not give is unexplained, and the fault undetected",
		faults: []loadtest.FaultEvent{
			{Fault: loadtest.Fault{Stream: "cam", Kind: loadtest.FaultTCPReset}, Began: vat(2), Ended: vat(3)},
		},
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 2*time.Second)
			g.gap(schema.ReasonCallbackBlocked, 300*time.Millisecond)
			g.audio(time.Time{}, 7700*time.Millisecond)
			g.end(schema.ReasonShutdown)
		},
		epochs:        1,
		unexplainedMs: 300,
		problems:      []string{"callback_blocked gap of 300 ms at 2.0 s unexplained (during tcp_reset"},
		faultProblems: []string{"1 of 1 streams show no disconnected gap"},
	},
	{
		name: "a fault on another stream explains none of this stream's gaps",
		faults: []loadtest.FaultEvent{
			{Fault: loadtest.Fault{Stream: "other", Kind: loadtest.FaultSilent}, Began: vat(3), Ended: vat(7)},
		},
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 3*time.Second)
			g.gap(schema.ReasonNoRTP, 3*time.Second)
			g.audio(time.Time{}, 4*time.Second)
			g.end(schema.ReasonShutdown)
		},
		epochs:        1,
		unexplainedMs: 3000,
		problems:      []string{"no_rtp gap of 3000 ms at 3.0 s unexplained"},
		faultProblems: []string{""},
	},
	{
		name: "a gap long after the fault's recovery window is unexplained",
		faults: []loadtest.FaultEvent{
			{Fault: loadtest.Fault{Stream: "cam", Kind: loadtest.FaultTCPReset}, Began: vat(0.5), Ended: vat(1)},
		},
		life: func(l *streamLife) { l.Added = vat(0) },
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 500*time.Millisecond)
			g.gap(schema.ReasonDisconnected, 500*time.Millisecond)
			g.audio(time.Time{}, 7500*time.Millisecond)
			g.gap(schema.ReasonDisconnected, 500*time.Millisecond)
			g.audio(time.Time{}, time.Second)
			g.end(schema.ReasonShutdown)
		},
		epochs:        1,
		explainedMs:   500,
		unexplainedMs: 500,
		problems:      []string{"disconnected gap of 500 ms at 8.5 s unexplained"},
		faultProblems: []string{""},
	},
	{
		name: "audio missing without a record is an unreported gap",
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 3*time.Second)
			g.audio(vat(4), 6*time.Second)
			g.end(schema.ReasonShutdown)
		},
		epochs:        1,
		unexplainedMs: 1000,
		gapsMs:        map[string]float64{schema.ReasonUnreported: 1000},
		problems:      []string{"unreported gap of 1000 ms at 3.0 s unexplained"},
	},
	{
		name: "a capture-time jump within the tolerance is no gap",
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 3*time.Second)
			g.audio(vat(3.2), 6800*time.Millisecond)
			g.end(schema.ReasonShutdown)
		},
		epochs: 1,
	},
	{
		name: "a hole in seq within an epoch is a seq error",
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 4*time.Second)
			g.seq++
			g.audio(time.Time{}, 6*time.Second)
			g.end(schema.ReasonShutdown)
		},
		epochs:    1,
		seqErrors: 1,
		problems:  []string{"epoch 1: seq 22 after 20"},
	},
	{
		name: "seven seq holes count seven errors and report the first five",
		records: func(g *recGen) {
			g.start(vat(0))
			for range 7 {
				g.seq++
				g.audio(time.Time{}, time.Second)
			}
			g.audio(time.Time{}, 3*time.Second)
			g.end(schema.ReasonShutdown)
		},
		epochs:    1,
		seqErrors: 7,
		problems:  []string{"seq 2 after 0", "seq 8 after 6", "seq 14 after 12", "seq 20 after 18", "seq 26 after 24"},
	},
	{
		name: "a later epoch that does not begin at seq 0 is a seq error",
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 5*time.Second)
			g.epoch++
			g.seq, g.offset = 3, 0
			g.audio(time.Time{}, 5*time.Second)
			g.end(schema.ReasonShutdown)
		},
		epochs:    2,
		seqErrors: 1,
		problems:  []string{"epoch 2 begins at seq 3"},
	},
	{
		name: "a record of an earlier epoch after a later one is dropped as a redelivery",
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 5*time.Second)
			g.start(vat(5))
			g.audio(vat(5), 5*time.Second)
			g.epoch, g.seq = 1, 26
			g.end(schema.ReasonShutdown)
			g.epoch, g.seq = 2, 26
			g.end(schema.ReasonShutdown)
		},
		epochs:     2,
		duplicates: 1,
	},
	{
		name: "a stream without an end record when one is wanted is a problem",
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 10*time.Second)
		},
		epochs:   1,
		problems: []string{"ends with no end record, want an end record with reason shutdown"},
	},
	{
		name: "an end record with another reason than wanted is a problem",
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 10*time.Second)
			g.end(schema.ReasonRemoved)
		},
		epochs:   1,
		problems: []string{"ends with reason removed, want an end record with reason shutdown"},
	},
	{
		name: "a stream earshot keeps pulling (black-box) needs no end record",
		life: func(l *streamLife) { l.WantEnd = "" },
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 10*time.Second)
		},
		epochs: 1,
	},
	{
		name: "a stream removed at 6 s with end/removed is judged until 6 s",
		life: func(l *streamLife) { l.Removed, l.WantEnd = vat(6), schema.ReasonRemoved },
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 6*time.Second)
			g.end(schema.ReasonRemoved)
		},
		epochs: 1,
	},
	{
		name: "a timeline that ends 5 s before the stop has an unexplained stopped_early gap",
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 5*time.Second)
			g.end(schema.ReasonShutdown)
		},
		epochs:        1,
		unexplainedMs: 5000,
		gapsMs:        map[string]float64{schema.ReasonStoppedEarly: 5000},
		problems:      []string{"stopped_early gap of 5000 ms at 5.0 s unexplained"},
	},
	{
		name: "a timeline that ends within the tail slack of the stop has not stopped early",
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 10*time.Second-tailSlack+100*time.Millisecond)
			g.end(schema.ReasonShutdown)
		},
		epochs: 1,
	},
	{
		name:          "a stream that never delivered has an unexplained no_audio gap of its whole life",
		records:       func(*recGen) {},
		unexplainedMs: 10000,
		gapsMs:        map[string]float64{schema.ReasonNoAudio: 10000},
		problems:      []string{"no_audio gap of 10.0 s at 0.0 s unexplained"},
	},
	{
		name:          "a stream with a start record and no audio has a no_audio gap and no end record",
		records:       func(g *recGen) { g.start(vat(0)) },
		epochs:        1,
		unexplainedMs: 10000,
		gapsMs:        map[string]float64{schema.ReasonNoAudio: 10000},
		problems:      []string{"no_audio gap of 10.0 s at 0.0 s unexplained", "ends with no end record"},
	},
	{
		name: "a stream that stops during a permanent fault still on at the stop is explained",
		faults: []loadtest.FaultEvent{
			{Fault: loadtest.Fault{Stream: "cam", Kind: loadtest.FaultUnauthorized}, Began: vat(5)},
		},
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 5*time.Second)
			g.gap(schema.ReasonDisconnected, time.Second)
			g.end(schema.ReasonShutdown)
		},
		epochs:        1,
		explainedMs:   5000,
		gapsMs:        map[string]float64{schema.ReasonDisconnected: 1000, schema.ReasonStoppedEarly: 4000},
		faultProblems: []string{""},
	},
	{
		name: "a stream that stays silent after its fault ended did not recover",
		faults: []loadtest.FaultEvent{
			{Fault: loadtest.Fault{Stream: "cam", Kind: loadtest.FaultSilent}, Began: vat(3), Ended: vat(5)},
		},
		records: func(g *recGen) {
			g.start(vat(0))
			g.audio(vat(0), 3*time.Second)
			g.gap(schema.ReasonNoRTP, 3*time.Second)
			g.end(schema.ReasonShutdown)
		},
		epochs:        1,
		explainedMs:   7000,
		gapsMs:        map[string]float64{schema.ReasonNoRTP: 3000, schema.ReasonStoppedEarly: 4000},
		faultProblems: []string{"1 of 1 streams did not recover"},
	},
	{
		name: "a fault the cameras could not carry out fails with their error",
		faults: []loadtest.FaultEvent{
			{Fault: loadtest.Fault{Stream: "cam", Kind: loadtest.FaultUDPLoss}, Began: vat(3), Ended: vat(4), Error: "the stream is served over TCP"},
		},
		records:       audioOnly10s,
		epochs:        1,
		faultProblems: []string{"could not carry the fault out: the stream is served over TCP"},
	},
}

// verify feeds the records of tc to a verifier and analyses the run.
func (tc *verifierCase) verify() (s StreamResult, faults []FaultResult, duplicates uint64) {
	v := newVerifier(nil, "t")
	g := &recGen{v: v, clip: []int16{0, 1000, 0, -1000}, stream: "cam"}
	tc.records(g)
	v.flush()
	l := streamLife{Name: "cam", Codec: "pcma", Added: vt0, WantEnd: schema.ReasonShutdown}
	if tc.life != nil {
		tc.life(&l)
	}
	an := &analysis{
		t0: vt0, stop: vat(10), lives: []streamLife{l}, faults: tc.faults,
		recovery: 3 * time.Second, permanentRetry: time.Minute,
	}
	streams, faults := an.run(v.checks())
	duplicates, _, _ = v.duplicates()
	return streams[0], faults, duplicates
}

// TestVerifierCases checks, from synthetic records and without sockets,
// what the verifier and the analysis make of one stream's timeline.
func TestVerifierCases(t *testing.T) {
	near := func(got, want float64) bool { return math.Abs(got-want) < 1 }
	for _, tc := range verifierCases {
		t.Run(tc.name, func(t *testing.T) {
			s, faults, duplicates := tc.verify()
			if s.Epochs != tc.epochs || s.SeqErrors != tc.seqErrors || duplicates != tc.duplicates {
				t.Errorf("%d epochs, %d seq errors, %d redeliveries; want %d, %d, %d", s.Epochs, s.SeqErrors, duplicates, tc.epochs, tc.seqErrors, tc.duplicates)
			}
			if !near(s.ExplainedMs, tc.explainedMs) || !near(s.UnexplainedMs, tc.unexplainedMs) {
				t.Errorf("explained %v ms, unexplained %v ms; want %v, %v (gaps %v)", s.ExplainedMs, s.UnexplainedMs, tc.explainedMs, tc.unexplainedMs, s.GapsMs)
			}
			for reason, want := range tc.gapsMs {
				if !near(s.GapsMs[reason], want) {
					t.Errorf("%s gaps %v ms, want %v (gaps %v)", reason, s.GapsMs[reason], want, s.GapsMs)
				}
			}
			if len(s.Problems) != len(tc.problems) {
				t.Errorf("problems %q, want %d: %q", s.Problems, len(tc.problems), tc.problems)
			} else {
				for i, want := range tc.problems {
					if !strings.Contains(s.Problems[i], want) {
						t.Errorf("problem %d %q, want %q in it", i, s.Problems[i], want)
					}
				}
			}
			if len(faults) != len(tc.faultProblems) {
				t.Fatalf("%d fault results, want %d", len(faults), len(tc.faultProblems))
			}
			for i, want := range tc.faultProblems {
				f := faults[i]
				if want == "" && (!f.Pass || f.Problem != "") || want != "" && (f.Pass || !strings.Contains(f.Problem, want)) {
					t.Errorf("fault %s: pass %v, problem %q; want %q", f.Fault, f.Pass, f.Problem, want)
				}
			}
		})
	}
}

// TestStreamCheckFlagsAnEarlierEpoch: the deduplicator drops a record of
// an earlier epoch before the stream check sees it (see verifierCases); a
// stream check given one directly reports it and keeps its epochs.
func TestStreamCheckFlagsAnEarlierEpoch(t *testing.T) {
	sc := &streamCheck{name: "cam"}
	for _, r := range []schema.Record{
		{Kind: schema.KindStart, Epoch: 2, Seq: 0, CaptureTime: vat(0)},
		{Kind: schema.KindEnd, Epoch: 1, Seq: 7, CaptureTime: vat(1), Reason: schema.ReasonShutdown},
	} {
		sc.record(&r)
	}
	if len(sc.epochs) != 1 || sc.seqErrors != 1 || len(sc.seqMessages) != 1 || sc.seqMessages[0] != "epoch 1 seq 7 after epoch 2" {
		t.Errorf("epochs %+v, %d seq errors %q; want epoch 2 only and \"epoch 1 seq 7 after epoch 2\"", sc.epochs, sc.seqErrors, sc.seqMessages)
	}
}

// BenchmarkVerifierCases measures the verifier's work per record (decode,
// deduplicate, reassemble, check) and the analysis, over verifierCases.
func BenchmarkVerifierCases(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for i := range verifierCases {
			verifierCases[i].verify()
		}
	}
}
