package ingest

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest/avenc"
	"github.com/earshot/earshot/sink/schema"
)

// recordingSink keeps every record.
type recordingSink struct {
	mu      sync.Mutex
	records []schema.Record
}

func (s *recordingSink) Write(_ context.Context, r schema.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, r)
	return nil
}

// aacPayload wraps one AU header (13-bit size, 3-bit index) around data,
// announcing an access unit of size bytes.
func aacPayload(size int, data []byte) []byte {
	return append([]byte{0, 16, byte(size >> 5), byte(size << 3)}, data...)
}

// TestStreamTurnsARejectedAccessUnitIntoAGap drives a stream worker with
// AAC packets as a camera sends them: 1024 ticks apart, one access unit
// fragmented over two packets sharing a timestamp, and one access unit
// libavcodec rejects. The rejected unit's 64 ms become a decode_error gap,
// the fragments none, and the audio goes on after both.
func TestStreamTurnsARejectedAccessUnitIntoAGap(t *testing.T) {
	tone := make([]int16, 30*1024)
	for i := range tone {
		tone[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/16000))
	}
	enc, err := avenc.Encode(avenc.Config{Codec: "aac", SampleRate: 16000, Channels: 1, BitRate: 32000}, tone)
	if err != nil {
		t.Fatal(err)
	}
	asc, err := (&mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 16000, ChannelCount: 1}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	codec := sdk.Codec{Name: audio.CodecAAC, ClockRate: 16000, SampleRate: 16000, Channels: 1,
		AAC: audio.AACConfig{Config: string(asc), SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}}

	rec := &recordingSink{}
	sup, err := New(Config{Streams: []StreamConfig{{ID: "cam", URL: "rtsp://127.0.0.1/cam"}}}, rec)
	if err != nil {
		t.Fatal(err)
	}
	sup.writeCtx = context.Background()
	st := sup.streams["cam"]
	if err := st.tl.begin(codec); err != nil {
		t.Fatal(err)
	}
	defer st.tl.closeDecoder()

	const rejected, fragmented = 10, 5
	seq := uint16(100)
	send := func(ts uint32, data []byte, marker bool) {
		st.tl.process(&packet{data: data, ts: ts, seq: seq, marker: marker, arrival: time.Now()})
		seq++
	}
	for i, au := range enc.Packets[:20] {
		ts := uint32(5000 + i*1024)
		switch i {
		case rejected:
			send(ts, aacPayload(1, []byte{0}), true)
		case fragmented:
			half := len(au) / 2
			send(ts, aacPayload(len(au), au[:half]), false)
			send(ts, aacPayload(len(au), au[half:]), true)
		default:
			send(ts, aacPayload(len(au), au), true)
		}
	}
	st.tl.flush()

	var gaps []schema.Record
	var offset, audioSamples int64
	for _, r := range rec.records {
		if r.Offset != offset {
			t.Fatalf("record %d (%s) at offset %d, want %d", r.Seq, r.Kind, r.Offset, offset)
		}
		switch r.Kind {
		case schema.KindAudio:
			offset += int64(len(r.PCM) / 2)
			audioSamples += int64(len(r.PCM) / 2)
		case schema.KindGap:
			gaps = append(gaps, r)
			offset += r.GapMS * 16
		}
	}
	if len(gaps) != 1 || gaps[0].Reason != schema.ReasonDecodeError || gaps[0].GapMS != 64 {
		t.Fatalf("gaps %+v, want one decode_error gap of 64 ms", gaps)
	}
	if want := int64(19 * 1024); audioSamples != want {
		t.Errorf("%d samples of audio, want %d (19 access units)", audioSamples, want)
	}
	if s := st.stats(); s.DecodeErrors != 1 || s.Packets != 21 {
		t.Errorf("stats %+v, want 1 decode error in 21 packets", s)
	}
}
