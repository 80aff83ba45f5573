package harness

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// recGen writes the records earshot would write for one stream into a
// verifier, as Kafka messages, at 16 kHz in 200 ms chunks of the clip.
type recGen struct {
	v      *verifier
	clip   []int16
	stream string
	epoch  uint64
	seq    uint64
	offset int64
	t      time.Time // capture time of the next sample
	pos    int       // in the clip
	msgs   int64
}

func (g *recGen) put(r schema.Record) {
	r.Stream, r.Epoch, r.Seq, r.SampleRate, r.Channels, r.Codec, r.Clock = g.stream, g.epoch, g.seq, 16000, 1, "pcma", schema.ClockNTP
	if err := r.Validate(); err != nil {
		panic(err)
	}
	m := sink.Message(r, "t")
	m.Partition, m.Offset = 0, g.msgs
	g.v.add(kafka.Message(m), r.CaptureTime.Add(200*time.Millisecond))
	g.seq++
	g.msgs++
}

// start opens an epoch at.
func (g *recGen) start(at time.Time) {
	g.epoch++
	g.seq, g.offset, g.t = 0, 0, at
	g.put(schema.Record{Kind: schema.KindStart, CaptureTime: at})
}

// audio writes d of audio captured from at (zero: where the last ended).
func (g *recGen) audio(at time.Time, d time.Duration) {
	if !at.IsZero() {
		g.t = at
	}
	for n := samplesIn(d, 16000); n > 0; n -= 3200 {
		k := min(n, 3200)
		pcm := make([]int16, k)
		for i := range pcm {
			pcm[i] = g.clip[(g.pos+i)%len(g.clip)]
		}
		g.pos += k
		g.put(schema.Record{Kind: schema.KindAudio, Offset: g.offset, CaptureTime: g.t, PCM: audio.AppendS16LE(nil, pcm)})
		g.offset += int64(k)
		g.t = g.t.Add(time.Duration(k) * time.Second / 16000)
	}
}

func (g *recGen) gap(reason string, d time.Duration) {
	g.put(schema.Record{Kind: schema.KindGap, Offset: g.offset, CaptureTime: g.t, GapMS: d.Milliseconds(), Reason: reason})
	g.offset += int64(samplesIn(d, 16000))
	g.t = g.t.Add(d)
}

func (g *recGen) end(reason string) {
	g.put(schema.Record{Kind: schema.KindEnd, Offset: g.offset, CaptureTime: g.t, Reason: reason})
}

func TestAnalysisExplainsGapsByFaults(t *testing.T) {
	srv, err := loadtest.NewServer(loadtest.ServerConfig{Streams: []loadtest.StreamSpec{{Name: "a", Codec: "pcma"}}})
	if err != nil {
		t.Fatal(err)
	}
	clip := srv.Clip()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	v := newVerifier(nil, "t")
	for _, s := range []string{"a", "b"} {
		v.fidelity[s] = true
	}
	gen := func(stream string) *recGen { return &recGen{v: v, clip: clip, stream: stream} }

	// a: silent from 3 s to 7 s: no_rtp detected at 6.2 s, reconnected at
	// 6.5 s, audio again at 7 s.
	a := gen("a")
	a.start(at(0))
	a.audio(at(0), 3*time.Second)
	a.gap(schema.ReasonNoRTP, 3200*time.Millisecond)
	a.start(at(6.5))
	a.audio(at(7), 3*time.Second)
	a.end(schema.ReasonShutdown)
	// b: no fault, but a handoff drop, and a record lost.
	b := gen("b")
	b.start(at(0))
	b.audio(at(0), 4*time.Second)
	b.gap(schema.ReasonHandoffDrop, 100*time.Millisecond)
	b.seq++
	b.audio(time.Time{}, 5900*time.Millisecond)
	b.end(schema.ReasonShutdown)
	// c: stops delivering at 5 s.
	c := gen("c")
	c.start(at(0))
	c.audio(at(0), 5*time.Second)
	// d: nothing at all. e: a tcp_reset at 2 s, but a callback_blocked gap.
	e := gen("e")
	e.start(at(0))
	e.audio(at(0), 2*time.Second)
	e.gap(schema.ReasonCallbackBlocked, 300*time.Millisecond)
	e.audio(time.Time{}, 7700*time.Millisecond)
	e.end(schema.ReasonShutdown)
	v.flush()

	var lives []streamLife
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		lives = append(lives, streamLife{Name: s, Codec: "pcma", Added: t0, WantEnd: schema.ReasonShutdown})
	}
	an := &analysis{
		t0: t0, stop: at(10), lives: lives, recovery: 10 * time.Second, permanentRetry: time.Minute, clip: clip,
		faults: []loadtest.FaultEvent{
			{Fault: loadtest.Fault{Stream: "a", Kind: loadtest.FaultSilent}, Began: at(3), Ended: at(7)},
			{Fault: loadtest.Fault{Stream: "e", Kind: loadtest.FaultTCPReset}, Began: at(2), Ended: at(3)},
		},
	}
	streams, faults := an.run(v.checks())
	byName := map[string]StreamResult{}
	for _, s := range streams {
		byName[s.Stream] = s
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1 }

	if s := byName["a"]; s.UnexplainedMs != 0 || !near(s.ExplainedMs, 4000) || len(s.Problems) != 0 || s.Epochs != 2 {
		t.Errorf("a: unexplained %v explained %v problems %q epochs %d; want 0, 4000 (no_rtp, between epochs, unreported), none, 2",
			s.UnexplainedMs, s.ExplainedMs, s.Problems, s.Epochs)
	}
	if s := byName["a"]; s.Fidelity == nil || *s.Fidelity < 0.99 || !near(s.GapsMs[schema.ReasonUnreported], 500) {
		t.Errorf("a: fidelity %v, unreported %v ms", s.Fidelity, s.GapsMs[schema.ReasonUnreported])
	}
	if s := byName["b"]; !near(s.UnexplainedMs, 100) || s.SeqErrors != 1 {
		t.Errorf("b: unexplained %v, seq errors %d; want 100 and 1", s.UnexplainedMs, s.SeqErrors)
	}
	if s := byName["c"]; !near(s.UnexplainedMs, 5000) || !strings.Contains(strings.Join(s.Problems, ";"), "no end record") {
		t.Errorf("c: unexplained %v, problems %q; want 5000 (stopped early) and no end record", s.UnexplainedMs, s.Problems)
	}
	if s := byName["d"]; !near(s.UnexplainedMs, 10000) || s.GapsMs[schema.ReasonNoAudio] == 0 {
		t.Errorf("d: unexplained %v %v; want 10000 of no_audio", s.UnexplainedMs, s.GapsMs)
	}
	if s := byName["e"]; !near(s.UnexplainedMs, 300) || !strings.Contains(strings.Join(s.Problems, ";"), "does not give callback_blocked") {
		t.Errorf("e: unexplained %v problems %q", s.UnexplainedMs, s.Problems)
	}
	if f := faults[0]; !f.Pass || f.Detected != 1 || f.DetectionMs == nil || !near(*f.DetectionMs, 3200) || f.RecoveryMs == nil || !near(*f.RecoveryMs, 0) {
		t.Errorf("silent: %+v; want detected in 3200 ms, recovered at once", f)
	}
	if f := faults[1]; f.Pass || !strings.Contains(f.Problem, "no disconnected gap") {
		t.Errorf("tcp_reset: pass %v problem %q; want it undetected", f.Pass, f.Problem)
	}
}
