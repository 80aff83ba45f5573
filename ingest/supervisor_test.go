package ingest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink/schema"
)

// codecs are every codec the synthetic cameras serve.
var codecs = audio.Codecs()

// checkEpoch asserts the invariants of one epoch's records: a start record
// first, consecutive seq from 0, offsets continuous across audio and gaps,
// and the fixed headers.
func checkEpoch(t *testing.T, recs []schema.Record, codec string) {
	t.Helper()
	if len(recs) == 0 || recs[0].Kind != schema.KindStart {
		t.Fatalf("epoch does not begin with a start record: %v", recs[:min(1, len(recs))])
	}
	var offset int64
	for i, r := range recs {
		if r.Seq != uint64(i) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		if r.SampleRate != 16000 || r.Channels != 1 || r.Codec != codec || r.Epoch != recs[0].Epoch {
			t.Fatalf("record %d: rate %d channels %d codec %q epoch %d", i, r.SampleRate, r.Channels, r.Codec, r.Epoch)
		}
		if r.Offset != offset {
			t.Fatalf("record %d (%s) offset %d, want %d", i, r.Kind, r.Offset, offset)
		}
		switch r.Kind {
		case schema.KindAudio:
			offset += int64(len(r.PCM) / 2)
		case schema.KindGap:
			offset += r.GapMS * 16
		}
	}
}

func TestEveryCodecFlowsAndEndsCleanly(t *testing.T) {
	everyCodecFlows(t, ingest.BackendGortsplib)
}

// everyCodecFlows pulls every codec through backend for 1 s and checks
// the records.
func everyCodecFlows(t *testing.T, backend string) {
	srv := loadtesttest.Cameras(t, codecs...)
	ms := newMemSink()
	var streams []ingest.StreamConfig
	for _, c := range codecs {
		streams = append(streams, ingest.StreamConfig{ID: "s-" + c, URL: srv.URL(c), Transport: "tcp", Backend: backend})
	}
	sup, err := ingest.New(ingest.Config{Streams: streams}, ms)
	if err != nil {
		t.Fatal(err)
	}
	stop := runSupervisor(t, sup)
	// 1 s of audio from every stream.
	got := map[string]int{}
	ms.await(t, "5 chunks per stream", func(r schema.Record) bool {
		if r.Kind == schema.KindAudio {
			got[r.Stream]++
		}
		for _, c := range codecs {
			if got["s-"+c] < 5 {
				return false
			}
		}
		return true
	})
	stop()
	for _, c := range codecs {
		recs := ms.Records("s-" + c)
		checkEpoch(t, recs, c)
		last := recs[len(recs)-1]
		if last.Kind != schema.KindEnd || last.Reason != schema.ReasonShutdown {
			t.Errorf("%s: last record %s/%q, want end/shutdown", c, last.Kind, last.Reason)
		}
		for _, r := range recs {
			if r.Kind == schema.KindAudio && len(r.PCM) != 6400 && r.Seq != last.Seq-1 {
				t.Errorf("%s: audio record %d has %d bytes, want 6400 (200 ms)", c, r.Seq, len(r.PCM))
			}
			if r.Kind == schema.KindGap {
				t.Errorf("%s: unexpected gap %+v", c, r)
			}
		}
	}
	for _, s := range sup.Stats() {
		if s.State != ingest.StateStopped || s.Epochs != 1 || s.Packets == 0 || s.HandoffDropped != 0 || s.DecodeErrors != 0 {
			t.Errorf("stats %+v", s)
		}
	}
}

func TestConfigValidationNamesEveryProblem(t *testing.T) {
	cfg := ingest.Config{
		SampleRate:   44100,
		Chunk:        5 * time.Millisecond,
		MaxStreams:   2,
		ReadCoalesce: 200 * time.Millisecond,
		Streams: []ingest.StreamConfig{
			{ID: "ok", URL: "rtsp://cam/1"},
			{ID: "ok", URL: "rtsp://cam/2"},
			{ID: "bad id!", URL: "http://u:secretpw@cam/3", Transport: "sctp", FollowRedirects: "anywhere"},
			{ID: "..", URL: "rtsp://cam/4"},
		},
	}
	_, err := ingest.New(cfg, newMemSink())
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	msg := err.Error()
	for _, want := range []string{"sample rate 44100", "chunk 5ms", `duplicate id "ok"`, `id "bad id!"`, "scheme must be rtsp", `unknown transport "sctp"`, `unknown redirect policy "anywhere"`, `id ".." is a path element`, "read coalesce 200ms is above 100ms", "too many streams: 4 streams configured, max streams is 2"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "secretpw") {
		t.Errorf("error leaks a password:\n%s", msg)
	}
}

// TestReadCoalesceNegativeIsOff: a negative read coalescing delay, as for
// the other durations that can be turned off, is valid and stays off.
func TestReadCoalesceNegativeIsOff(t *testing.T) {
	off := ingest.Config{ReadCoalesce: -1}
	if got := off.WithDefaults().ReadCoalesce; got >= 0 {
		t.Errorf("read coalesce -1ns became %v with the defaults, want it kept off", got)
	}
	if err := off.Validate(); err != nil {
		t.Errorf("read coalesce off refused: %v", err)
	}
}

// TestRemovingAStuckStreamIsBounded: a worker stuck in one step (as in a
// cgo decode) holds neither Remove, bounded by its context, nor the API's
// DELETE, bounded by RemoveTimeout; the stream is gone from the list at
// once and writes its end record when the step returns.
func TestRemovingAStuckStreamIsBounded(t *testing.T) {
	srv := loadtesttest.Cameras(t, "pcma-1", "pcmu-2")
	ms := newMemSink()
	const removeTimeout = 300 * time.Millisecond
	sup, err := ingest.New(ingest.Config{RemoveTimeout: removeTimeout, HandoffLen: 4, Streams: []ingest.StreamConfig{
		{ID: "s1", URL: srv.URL("pcma-1"), Transport: "tcp"},
		{ID: "s2", URL: srv.URL("pcmu-2"), Transport: "tcp"},
	}}, ms)
	if err != nil {
		t.Fatal(err)
	}
	gates := map[string]*gate{"s1": newGate(), "s2": newGate()}
	for _, g := range gates {
		defer g.open()
	}
	ingest.SetStepHook(sup, func(id string) { gates[id].wait() })
	stop := runSupervisor(t, sup)
	for id, g := range gates {
		ms.await(t, id+" audio", func(r schema.Record) bool { return r.Stream == id && r.Kind == schema.KindAudio })
		g.close()
		receive(t, g.entered)
	}

	// Remove: the caller's context ends long before RemoveTimeout would.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err = sup.Remove(ctx, "s1")
	cancel()
	if !errors.Is(err, ingest.ErrStillEnding) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"s1"`) {
		t.Errorf("Remove of a stuck stream: %v, want ErrStillEnding naming s1", err)
	}

	// DELETE: RemoveTimeout bounds it; 202, the stream no longer listed.
	api := httptest.NewServer(sup.Handler())
	defer api.Close()
	req, _ := http.NewRequest("DELETE", api.URL+"/api/streams/s2", nil)
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if took := time.Since(start); res.StatusCode != http.StatusAccepted || took < removeTimeout || took > waitTimeout/2 {
		t.Errorf("DELETE of a stuck stream: %d after %s: %s; want 202 after about %s", res.StatusCode, took, body, removeTimeout)
	}
	if !strings.Contains(string(body), "still ending") {
		t.Errorf("DELETE answer does not say the stream is still ending: %s", body)
	}
	if n := len(sup.Stats()); n != 0 {
		t.Errorf("%d streams listed after removing both", n)
	}

	for id, g := range gates {
		g.open()
		end := ms.await(t, id+" end record", func(r schema.Record) bool { return r.Stream == id && r.Kind == schema.KindEnd })
		if end.Reason != schema.ReasonRemoved {
			t.Errorf("%s ends with %q, want %q", id, end.Reason, schema.ReasonRemoved)
		}
	}
	stop()
	http.DefaultClient.CloseIdleConnections()
}

// TestReloadIsSerialisedWithAddAndRemove: while a reload waits for a
// removed stream, an API add waits for it (here until its own context
// ends) instead of racing the reload's view of the streams; the reload
// reports the stream still ending after RemoveTimeout.
func TestReloadIsSerialisedWithAddAndRemove(t *testing.T) {
	srv := loadtesttest.Cameras(t, "pcma-1", "pcmu-2")
	ms := newMemSink()
	s1 := ingest.StreamConfig{ID: "s1", URL: srv.URL("pcma-1"), Transport: "tcp"}
	s2 := ingest.StreamConfig{ID: "s2", URL: srv.URL("pcmu-2"), Transport: "tcp"}
	sup, err := ingest.New(ingest.Config{RemoveTimeout: time.Second, HandoffLen: 4, Streams: []ingest.StreamConfig{s1}}, ms)
	if err != nil {
		t.Fatal(err)
	}
	g := newGate()
	defer g.open()
	ingest.SetStepHook(sup, func(id string) {
		if id == "s1" {
			g.wait()
		}
	})
	stop := runSupervisor(t, sup)
	ms.await(t, "s1 audio", func(r schema.Record) bool { return r.Stream == "s1" && r.Kind == schema.KindAudio })
	g.close()
	receive(t, g.entered)

	type result struct {
		ch  ingest.Changes
		err error
	}
	reloaded := make(chan result, 1)
	go func() {
		ch, err := sup.Reload(context.Background(), []ingest.StreamConfig{s2})
		reloaded <- result{ch, err}
	}()
	// s1 leaves the list while the reload holds the change lock, which it
	// keeps until s1 ends or RemoveTimeout passes.
	testkit.WaitFor(t, waitTimeout, "the reload to remove s1", func() bool {
		_, err := sup.StreamStats("s1")
		return errors.Is(err, ingest.ErrUnknownStream)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err = sup.Add(ctx, ingest.StreamConfig{ID: "s3", URL: srv.URL("pcma-1"), Transport: "tcp"})
	cancel()
	if err == nil || !strings.Contains(err.Error(), "waiting for another change") {
		t.Errorf("an add during a reload: %v, want it to wait for the reload", err)
	}
	r := receive(t, reloaded)
	if !errors.Is(r.err, ingest.ErrStillEnding) || !slices.Equal(r.ch.Removed, []string{"s1"}) || !slices.Equal(r.ch.Added, []string{"s2"}) {
		t.Errorf("reload: %+v, %v; want s1 removed (still ending), s2 added", r.ch, r.err)
	}
	if err := sup.Add(context.Background(), ingest.StreamConfig{ID: "s3", URL: srv.URL("pcma-1"), Transport: "tcp"}); err != nil {
		t.Errorf("an add after the reload: %v", err)
	}
	g.open()
	ms.await(t, "s1 end record", func(r schema.Record) bool { return r.Stream == "s1" && r.Kind == schema.KindEnd })
	stop()
}
