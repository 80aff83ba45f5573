package ingest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/sink/schema"
)

// The stall scenario shared by the two tests below: two SDK workers, two
// streams whose consumer is stuck (held sink writes) and one healthy stream.
var (
	stuckStreams  = []string{"pcma-stuck1", "pcma-stuck2"}
	healthyStream = "pcmu-healthy"
)

// stallBudget is far above what copying a frame costs and far below how
// long the sink is held: a callback over it was blocked by the sink.
const stallBudget = 200 * time.Millisecond

// TestSlowConsumerNeverBlocksSDKWorkers: with earshot's adapter, stuck
// consumers drop frames at their handoff and report the hole as a gap,
// while the healthy stream sharing the SDK workers keeps flowing and no
// callback waits on the sink.
func TestSlowConsumerNeverBlocksSDKWorkers(t *testing.T) {
	srv := loadtesttest.Cameras(t, append(stuckStreams, healthyStream)...)
	ms := newMemSink()
	var releases []func()
	for _, s := range stuckStreams {
		releases = append(releases, ms.Hold(s))
	}
	var slowest atomic.Int64
	stalls := make(chan ingest.Stall, 16)
	cfg := ingest.Config{
		HandoffLen:   5,
		StallTimeout: 500 * time.Millisecond,
		OnStall:      func(s ingest.Stall) { stalls <- s },
		SDK: sdk.Options{Workers: 2, CallbackBudget: stallBudget, CallbackObserver: func(d time.Duration) {
			for cur := slowest.Load(); int64(d) > cur && !slowest.CompareAndSwap(cur, int64(d)); cur = slowest.Load() {
			}
		}},
	}
	for _, s := range append(stuckStreams, healthyStream) {
		cfg.Streams = append(cfg.Streams, ingest.StreamConfig{ID: s, URL: srv.URL(s), Transport: "tcp"})
	}
	sup, err := ingest.New(cfg, ms)
	if err != nil {
		t.Fatal(err)
	}
	stop := runSupervisor(t, sup)

	// 2 s of healthy audio while the others are stuck.
	n := 0
	ms.await(t, "healthy audio", func(r schema.Record) bool {
		if r.Stream == healthyStream && r.Kind == schema.KindAudio {
			n++
		}
		return n == 10
	})
	for _, st := range sup.Stats() {
		if st.ID != healthyStream && st.HandoffDropped == 0 {
			t.Errorf("%s: stuck for 2 s with a 5-frame handoff but no drops counted", st.ID)
		}
		if st.ID == healthyStream && st.HandoffDropped != 0 {
			t.Errorf("healthy stream dropped %d frames", st.HandoffDropped)
		}
	}
	if d := time.Duration(slowest.Load()); d >= stallBudget {
		t.Errorf("an SDK callback took %s: it waited on the sink", d)
	}

	// The watchdog blames the sink, once for all the streams waiting on it.
	if s := receive(t, stalls); s.Stage != ingest.StageSink || s.Reason != schema.ReasonSinkStalled || s.Stream != "" {
		t.Errorf("stall %+v, want one sink_stalled at stage sink", s)
	}
	for _, release := range releases {
		release()
	}
	gaps := map[string]bool{}
	ms.await(t, "a gap of each stuck stream", func(r schema.Record) bool {
		if r.Kind == schema.KindGap && r.Reason == schema.ReasonSinkStalled && r.GapMS > 0 {
			gaps[r.Stream] = true
		}
		return len(gaps) == len(stuckStreams)
	})
	stop()
	for _, s := range append(stuckStreams, healthyStream) {
		checkEpoch(t, ms.Records(s), s[:4])
	}
	select {
	case s := <-stalls:
		t.Errorf("another stall reported: %+v", s)
	default:
	}
}

// naiveAdapter is the seed's bug kept as a fixture: it decodes and writes
// to the sink inside the SDK callback, so a stuck sink blocks the SDK
// worker that runs it.
type naiveAdapter struct {
	id   string
	dec  *audio.Decoder
	sink *memSink
	seq  uint64
}

func (n *naiveAdapter) onData(_ sdk.Handle, f *sdk.Frame) {
	samples, err := n.dec.Decode(f.Data, f.Marker)
	if err != nil {
		return
	}
	n.sink.Write(context.Background(), schema.Record{
		Stream: n.id, Kind: schema.KindAudio, Epoch: 1, Seq: n.seq, SampleRate: 16000, Channels: 1,
		Codec: f.Codec.Name, CaptureTime: f.Arrival, Clock: "arrival", PCM: audio.AppendS16LE(nil, samples),
	})
	n.seq++
}

// TestNaiveAdapterStallsOtherStreams reproduces the seed's failure: with the
// slow work inside the callback, two stuck consumers occupy both SDK
// workers and the healthy stream stops pulling.
func TestNaiveAdapterStallsOtherStreams(t *testing.T) {
	srv := loadtesttest.Cameras(t, append(stuckStreams, healthyStream)...)
	ms := newMemSink()
	var releases []func()
	for _, s := range stuckStreams {
		releases = append(releases, ms.Hold(s))
	}
	drops := make(chan sdk.Handle, 256)
	s, err := sdk.New(sdk.Options{Workers: 2, QueueLen: 4, DropObserver: func(h sdk.Handle) {
		select {
		case drops <- h:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	defer func() {
		for _, release := range releases {
			release() // Shutdown waits for the blocked callbacks
		}
	}()
	open := func(name string) sdk.Handle {
		f := map[string]audio.Format{"pcma": {Codec: audio.CodecPCMA, SampleRate: 8000, Channels: 1}, "pcmu": {Codec: audio.CodecPCMU, SampleRate: 8000, Channels: 1}}[name[:4]]
		dec, err := audio.NewDecoder(f, 16000)
		if err != nil {
			t.Fatal(err)
		}
		a := &naiveAdapter{id: name, dec: dec, sink: ms}
		h, err := s.Open(srv.URL(name), sdk.OpenOptions{Transport: sdk.TransportTCP, OnData: a.onData})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for _, name := range stuckStreams {
		open(name)
	}
	for stuck := map[string]bool{}; len(stuck) < len(stuckStreams); {
		stuck[receive(t, ms.held)] = true
	}
	// Both workers are now stuck in the stuck streams' callbacks.
	healthy := open(healthyStream)
	for n := 0; n < 20; {
		if receive(t, drops) == healthy {
			n++
		}
	}
	if got := len(ms.Records(healthyStream)); got != 0 {
		t.Fatalf("healthy stream wrote %d records while both workers were stuck", got)
	}
	st, err := s.Stats(healthy)
	if err != nil {
		t.Fatal(err)
	}
	if st.Frames != 0 || st.Dropped < 20 {
		t.Fatalf("healthy handle stats %+v: want no frames delivered and drops", st)
	}
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatal("timed out")
		panic("unreachable")
	}
}
