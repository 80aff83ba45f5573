package ingest_test

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/sink/schema"
)

// TestSilentMicrophone runs a camera playing a −20 dBFS tone and one
// sending digital silence: the tone reads −20 dBFS and is never flagged;
// the silence is flagged silent_audio once, without a reconnect or a gap,
// while its audio keeps flowing.
func TestSilentMicrophone(t *testing.T) {
	srv := loadtesttest.NewServer(t, loadtest.ServerConfig{Streams: []loadtest.StreamSpec{
		{Name: "tone", Codec: "l16", Signal: loadtest.SignalTone},
		{Name: "muted", Codec: "pcmu", Signal: loadtest.SignalSilence},
	}})
	ms := newMemSink()
	stalls := make(chan ingest.Stall, 16)
	const timeout = 500 * time.Millisecond
	sup, err := ingest.New(ingest.Config{
		Streams: []ingest.StreamConfig{
			{ID: "tone", URL: srv.URL("tone"), Transport: "tcp"},
			{ID: "muted", URL: srv.URL("muted"), Transport: "tcp"},
		},
		SilenceTimeout: timeout,
		OnStall:        func(s ingest.Stall) { stalls <- s },
	}, ms)
	if err != nil {
		t.Fatal(err)
	}
	stop := runSupervisor(t, sup)

	s := receive(t, stalls)
	if s.Stream != "muted" || s.Reason != ingest.ReasonSilentAudio || s.Stage != ingest.StageSource {
		t.Fatalf("stall %+v, want muted silent_audio at source", s)
	}
	if s.For < timeout || s.Bundle != "" {
		t.Errorf("flagged after %s (want ≥ %s), bundle %q (want none)", s.For, timeout, s.Bundle)
	}
	// Audio keeps flowing after the flag: silence is data.
	ms.await(t, "muted audio after the flag", func(r schema.Record) bool {
		return r.Stream == "muted" && r.Kind == schema.KindAudio && r.CaptureTime.After(s.Detected)
	})
	muted, _ := sup.StreamStats("muted")
	if !muted.Silent || muted.Level == nil || muted.Level.RMS != ingest.LevelFloorDBFS {
		t.Errorf("muted stats: silent %t, level %+v; want silent at the floor", muted.Silent, muted.Level)
	}
	tone, _ := sup.StreamStats("tone")
	if tone.Silent || tone.Stall != nil || tone.Level == nil || math.Abs(tone.Level.RMS-loadtest.ToneDBFS) > 0.5 {
		t.Errorf("tone stats: silent %t, stall %+v, level %+v; want %d dBFS and no stall", tone.Silent, tone.Stall, tone.Level, loadtest.ToneDBFS)
	}
	if got := sup.Stalls(); len(got) != 1 || got[0] != (ingest.StallCount{Stage: ingest.StageSource, Reason: ingest.ReasonSilentAudio, Count: 1}) {
		t.Errorf("stall counts %+v, want one silent_audio", got)
	}
	ev, err := sup.Events("muted")
	if err != nil || len(ev) != 1 || ev[0].Kind != ingest.EventStall || ev[0].Reason != ingest.ReasonSilentAudio {
		t.Errorf("muted events %+v, %v; want the one stall", ev, err)
	}
	stop()
	muted, _ = sup.StreamStats("muted")
	if muted.Epochs != 1 || muted.Reconnects != 0 || muted.Gaps != 0 || muted.Stalls != 1 {
		t.Errorf("muted: %d epochs, %d reconnects, %d gaps, %d stalls; want 1, 0, 0, 1", muted.Epochs, muted.Reconnects, muted.Gaps, muted.Stalls)
	}
}

// TestListenIn listens to the tone: frames of at most 20 ms at the tone's
// level; a listener that does not read keeps at most 0.5 s and counts the
// rest as dropped, without holding the stream back.
func TestListenIn(t *testing.T) {
	srv := loadtesttest.NewServer(t, loadtest.ServerConfig{Streams: []loadtest.StreamSpec{{Name: "tone", Codec: "l16", Signal: loadtest.SignalTone}}})
	ms := newMemSink()
	sup, err := ingest.New(ingest.Config{Streams: []ingest.StreamConfig{{ID: "tone", URL: srv.URL("tone"), Transport: "tcp"}}}, ms)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sup.Listen("nope"); err == nil {
		t.Error("listening to an unknown stream succeeded")
	}
	stop := runSupervisor(t, sup)
	l, err := sup.Listen("tone")
	if err != nil {
		t.Fatal(err)
	}
	stuck, err := sup.Listen("tone") // never read
	if err != nil {
		t.Fatal(err)
	}
	var sumSq float64
	n := 0
	for n < 16000 { // one second
		f := receive(t, l.Frames())
		if len(f.PCM) == 0 || len(f.PCM) > 2*320 || f.Arrival.IsZero() {
			t.Fatalf("frame of %d bytes arrived %v; want 1..640 bytes and an arrival", len(f.PCM), f.Arrival)
		}
		for i := 0; i+1 < len(f.PCM); i += 2 {
			v := float64(int16(binary.LittleEndian.Uint16(f.PCM[i:])))
			sumSq += v * v
			n++
		}
	}
	if db := 20 * math.Log10(math.Sqrt(sumSq/float64(n))/32768); math.Abs(db-loadtest.ToneDBFS) > 0.5 {
		t.Errorf("listened level %.2f dBFS, want %d", db, loadtest.ToneDBFS)
	}
	if stuck.Dropped() == 0 || len(stuck.Frames()) != cap(stuck.Frames()) || cap(stuck.Frames()) != 25 {
		t.Errorf("stuck listener: %d dropped, %d/%d queued; want drops and a full queue of 25 (0.5 s)", stuck.Dropped(), len(stuck.Frames()), cap(stuck.Frames()))
	}
	if st, _ := sup.StreamStats("tone"); st.Listeners != 2 {
		t.Errorf("%d listeners, want 2", st.Listeners)
	}
	l.Close()
	l.Close()
	receive(t, l.Done())
	if st, _ := sup.StreamStats("tone"); st.Listeners != 1 {
		t.Errorf("%d listeners after one closed, want 1", st.Listeners)
	}
	stop()
	receive(t, stuck.Done()) // the stream stopped
	stuck.Close()
}
