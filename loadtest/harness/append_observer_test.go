package harness

import (
	"context"
	"testing"
	"time"

	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// TestAppendObserverTimesAudioRecords writes records with earshot's Kafka
// writer to the embedded broker: the observer times the audio records, not
// the control ones.
func TestAppendObserverTimesAudioRecords(t *testing.T) {
	const topic = "observed"
	b, err := sink.NewEmbeddedBroker(topic, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	o := observeAppends(b.Cluster(), []string{topic})
	w, err := sink.NewWriter(sink.WriterConfig{Brokers: []string{b.Addr()}, Topic: topic, Spool: sink.SpoolConfig{Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	captured := time.Now().Add(-time.Second)
	rec := func(kind schema.Kind, seq uint64, pcm []byte) schema.Record {
		r := schema.Record{Stream: "s", Kind: kind, Epoch: 1, Seq: seq, SampleRate: 16000, Channels: 1, Codec: "pcma",
			CaptureTime: captured, Clock: schema.ClockNTP, PCM: pcm}
		if kind == schema.KindGap {
			r.GapMS, r.Reason = 20, schema.ReasonRTPLoss
		}
		return r
	}
	recs := []schema.Record{rec(schema.KindStart, 0, nil)}
	for i := range 10 {
		recs = append(recs, rec(schema.KindAudio, uint64(1+i), make([]byte, 640)))
	}
	recs = append(recs, rec(schema.KindGap, 11, nil))
	for _, r := range recs {
		if err := w.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil { // delivers everything
		t.Fatal(err)
	}
	h := o.snapshot(topic)
	if h.Count() != 10 {
		t.Fatalf("%d records timed, want the 10 audio ones", h.Count())
	}
	if p := h.Quantile(0.5); p < time.Second || p > time.Minute {
		t.Errorf("median latency %v, want a little over the second since capture", p)
	}
	if o.snapshot("other").Count() != 0 {
		t.Error("a topic not observed has latencies")
	}
}
