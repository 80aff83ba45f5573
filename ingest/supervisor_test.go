package ingest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/sink"
)

// codecs are every codec the synthetic cameras serve.
var codecs = audio.Codecs()

// checkEpoch asserts the invariants of one epoch's records: a start record
// first, consecutive seq from 0, offsets continuous across audio and gaps,
// and the fixed headers.
func checkEpoch(t *testing.T, recs []sink.Record, codec string) {
	t.Helper()
	if len(recs) == 0 || recs[0].Kind != sink.KindStart {
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
		case sink.KindAudio:
			offset += int64(len(r.PCM) / 2)
		case sink.KindGap:
			offset += r.GapMS * 16
		}
	}
}

func TestEveryCodecFlowsAndEndsCleanly(t *testing.T) {
	srv := startCameras(t, codecs...)
	ms := newMemSink()
	var streams []ingest.StreamConfig
	for _, c := range codecs {
		streams = append(streams, ingest.StreamConfig{ID: "s-" + c, URL: srv.URL(c), Transport: "tcp"})
	}
	sup, err := ingest.New(ingest.Config{Streams: streams}, ms)
	if err != nil {
		t.Fatal(err)
	}
	stop := runSupervisor(t, sup)
	// 1 s of audio from every stream.
	got := map[string]int{}
	ms.await(t, "5 chunks per stream", func(r sink.Record) bool {
		if r.Kind == sink.KindAudio {
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
		if last.Kind != sink.KindEnd || last.Reason != ingest.ReasonShutdown {
			t.Errorf("%s: last record %s/%q, want end/shutdown", c, last.Kind, last.Reason)
		}
		for _, r := range recs {
			if r.Kind == sink.KindAudio && len(r.PCM) != 6400 && r.Seq != last.Seq-1 {
				t.Errorf("%s: audio record %d has %d bytes, want 6400 (200 ms)", c, r.Seq, len(r.PCM))
			}
			if r.Kind == sink.KindGap {
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
		SampleRate: 44100,
		Chunk:      5 * time.Millisecond,
		Streams: []ingest.StreamConfig{
			{ID: "ok", URL: "rtsp://cam/1"},
			{ID: "ok", URL: "rtsp://cam/2"},
			{ID: "bad id!", URL: "http://u:secretpw@cam/3", Transport: "sctp", FollowRedirects: "anywhere"},
		},
	}
	_, err := ingest.New(cfg, newMemSink())
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	msg := err.Error()
	for _, want := range []string{"sample rate 44100", "chunk 5ms", `duplicate id "ok"`, `id "bad id!"`, "scheme must be rtsp", `unknown transport "sctp"`, `unknown redirect policy "anywhere"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "secretpw") {
		t.Errorf("error leaks a password:\n%s", msg)
	}
}
