package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/sink/schema"
)

// allocSink is a Sink that hands out the buffers of the PCM, as sink.Writer
// does, and keeps the records. Only the stream's worker calls it.
type allocSink struct {
	asked   map[*byte]int // the buffers handed out, by the size asked for
	records []schema.Record
}

func (s *allocSink) AllocPCM(n int) []byte {
	b := make([]byte, 0, n)
	s.asked[&b[:1][0]] = n
	return b
}

func (s *allocSink) Write(_ context.Context, r schema.Record) error {
	s.records = append(s.records, r)
	return nil
}

// Every audio record's PCM is in a buffer the sink handed out for its size,
// when the sink hands them out.
func TestChunksUseTheSinksPCMBuffers(t *testing.T) {
	s := &allocSink{asked: make(map[*byte]int)}
	sup, err := New(Config{Streams: []StreamConfig{{ID: "cam", URL: "rtsp://127.0.0.1/x"}}}, s)
	if err != nil {
		t.Fatal(err)
	}
	sup.writeCtx = context.Background()
	st := sup.streams["cam"]
	codec := sdk.Codec{Name: audio.CodecPCMA, ClockRate: 8000, SampleRate: 8000, Channels: 1}
	if err := st.tl.begin(codec, 1); err != nil {
		t.Fatal(err)
	}
	defer st.tl.closeDecoder()
	f := sdk.Frame{Data: make([]byte, 160), Codec: &codec, Arrival: time.Now()}
	feedPCMA(st, &f, 25, true) // 500 ms: two chunks of 200 ms, and 100 ms flushed
	st.tl.flush()
	var chunks int
	for _, r := range s.records {
		if r.Kind != schema.KindAudio {
			continue
		}
		chunks++
		if n, ok := s.asked[&r.PCM[:1][0]]; !ok || n != len(r.PCM) {
			t.Errorf("record seq %d: %d bytes of PCM in a buffer the sink handed out: %v (for %d bytes)", r.Seq, len(r.PCM), ok, n)
		}
	}
	if chunks != 3 || len(s.asked) != 3 {
		t.Errorf("%d audio records, %d buffers handed out; want 3 of each", chunks, len(s.asked))
	}
}
