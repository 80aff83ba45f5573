package ingest

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"gopkg.in/hraban/opus.v2"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// discardSink accepts every record.
type discardSink struct{}

func (discardSink) Write(context.Context, schema.Record) error { return nil }

// packetPathCases are the tracks the per-packet benchmark runs: one frame
// of 20 ms each, as cameras send them.
var packetPathCases = []struct {
	name  string
	codec sdk.Codec
	frame func(tb testing.TB) []byte
}{
	{"opus 48 kHz mono", sdk.Codec{Name: audio.CodecOpus, ClockRate: 48000, SampleRate: 48000, Channels: 1}, opusFrame},
	{"pcma 8 kHz", sdk.Codec{Name: audio.CodecPCMA, ClockRate: 8000, SampleRate: 8000, Channels: 1}, func(testing.TB) []byte { return make([]byte, 160) }},
}

func opusFrame(tb testing.TB) []byte {
	enc, err := opus.NewEncoder(48000, 1, opus.AppVoIP)
	if err != nil {
		tb.Fatal(err)
	}
	pcm := make([]int16, 960)
	for i := range pcm {
		pcm[i] = int16((i * 37) % 2000)
	}
	buf := make([]byte, 1500)
	n, err := enc.Encode(pcm, buf)
	if err != nil {
		tb.Fatal(err)
	}
	return buf[:n]
}

// benchStream returns the stream "bench" of a supervisor writing to s,
// not running, its timeline begun with codec: the benchmarks drive its
// handoff and worker by hand.
func benchStream(b *testing.B, s Sink, codec sdk.Codec) *stream {
	sup, err := New(Config{Streams: []StreamConfig{{ID: "bench", URL: "rtsp://127.0.0.1/x"}}}, s)
	if err != nil {
		b.Fatal(err)
	}
	sup.writeCtx = context.Background()
	st := sup.streams["bench"]
	if err := st.tl.begin(codec, 1); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkPacketPath measures earshot's work for one RTP packet after the
// SDK: the callback's copy into the handoff, then the worker's decode,
// resample, chunk and record build (the sink discards). Allocations come
// only from the record built once per chunk (every 10 packets).
func BenchmarkPacketPath(b *testing.B) {
	for _, c := range packetPathCases {
		b.Run(c.name, func(b *testing.B) {
			st := benchStream(b, discardSink{}, c.codec)
			payload := c.frame(b)
			step := uint32(c.codec.ClockRate / 50)
			f := sdk.Frame{Data: payload, Codec: &c.codec, Arrival: time.Now()}
			b.ReportAllocs()
			for b.Loop() {
				st.onData(0, &f)
				st.step()
				f.Seq++
				f.Timestamp += step
				f.Arrival = f.Arrival.Add(20 * time.Millisecond)
			}
		})
	}
}

// BenchmarkHandoffBurst measures the hand-over between the SDK callback and
// the stream worker on its own goroutine, as in production: per op, a
// burst of 4 PCMA frames through onData, then the worker's loop processes
// them (decode, resample, chunk; the sink discards) while the producer
// waits. What it adds to BenchmarkPacketPath is the cost of waking the
// worker and of its loop.
func BenchmarkHandoffBurst(b *testing.B) {
	codec := sdk.Codec{Name: audio.CodecPCMA, ClockRate: 8000, SampleRate: 8000, Channels: 1}
	st := benchStream(b, discardSink{}, codec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.stream(ctx, newConn(&st.c))
	}()
	defer func() { cancel(); <-done }()
	f := sdk.Frame{Data: make([]byte, 160), Codec: &codec, Arrival: time.Now()}
	var sent uint64
	b.ReportAllocs()
	for b.Loop() {
		feedPCMA(st, &f, 4, false)
		sent += 4
		for st.c.packets.Load() < sent {
			runtime.Gosched()
		}
	}
}

// BenchmarkChunkToWriter measures one 200 ms chunk from packets to a
// sink.Writer delivering to an embedded broker: ten PCMA packets through
// the worker's decode, resample and chunk, the record built by emitChunk
// and accepted by Write, and the writer's delivery running alongside (the
// broker's allocations count too). Its bytes per op include the PCM buffer
// of each record (6.4 KB) unless the writer recycles it.
func BenchmarkChunkToWriter(b *testing.B) {
	const topic = "audio"
	addr, stop, err := sink.StartEmbeddedBroker(topic, 3)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	w, err := sink.NewWriter(sink.WriterConfig{Brokers: []string{addr}, Topic: topic, BufferBytes: 1 << 30,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	codec := sdk.Codec{Name: audio.CodecPCMA, ClockRate: 8000, SampleRate: 8000, Channels: 1}
	st := benchStream(b, w, codec)
	f := sdk.Frame{Data: make([]byte, 160), Codec: &codec, Arrival: time.Now()}
	var chunks uint64
	b.ReportAllocs()
	for b.Loop() {
		feedPCMA(st, &f, 10, true)
		// At most 64 records wait for Kafka, as when it keeps up: a
		// backlog growing for the whole run would hold every buffer.
		chunks++
		for chunks > w.Stats().Delivered+64 {
			runtime.Gosched()
		}
	}
}

// feedPCMA hands st n PCMA frames of 20 ms following f (which it advances),
// as the SDK's callback does, and runs the worker's step after each when
// step is set.
func feedPCMA(st *stream, f *sdk.Frame, n int, step bool) {
	defer st.onBurstEnd(0)
	for range n {
		st.onData(0, f)
		if step {
			st.step()
		}
		f.Seq++
		f.Timestamp += 160
		f.Arrival = f.Arrival.Add(20 * time.Millisecond)
	}
}
