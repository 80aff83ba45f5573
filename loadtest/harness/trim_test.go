package harness

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// trimStream writes one stream's records, as earshot does, with earshot's
// Kafka writer: 200 ms of audio a record, captured back to back.
type trimStream struct {
	name   string
	t0     time.Time
	seq    uint64
	offset int64 // samples
}

func (s *trimStream) put(t *testing.T, w *sink.Writer, r schema.Record) {
	t.Helper()
	r.Stream, r.Epoch, r.Seq, r.SampleRate, r.Channels, r.Codec, r.Clock = s.name, 1, s.seq, 16000, 1, "pcma", schema.ClockNTP
	r.Offset, r.CaptureTime = s.offset, s.t0.Add(time.Duration(s.offset)*time.Second/16000)
	if err := w.Write(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	s.seq++
}

func (s *trimStream) audio(t *testing.T, w *sink.Writer, records int) {
	for range records {
		s.put(t, w, schema.Record{Kind: schema.KindAudio, PCM: make([]byte, 6400)})
		s.offset += 3200
	}
}

// TestTrimmerDeletesWhatTheVerifierRead writes 2.5 MB of audio of four
// streams to the embedded broker in two halves, with the verifier reading
// and the trimmer trimming behind it: after each half every partition's
// log start offset has reached its end (the verifier read it all), and
// the verifier still has every record, in sequence, without a hole.
func TestTrimmerDeletesWhatTheVerifierRead(t *testing.T) {
	const topic, partitions = "trimmed", 2
	b, err := sink.NewEmbeddedBroker(topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	v := newVerifier([]string{b.Addr()}, topic)
	ctx, cancel := context.WithCancel(context.Background())
	verDone := make(chan error, 1)
	go func() { verDone <- v.run(ctx) }()
	defer func() {
		cancel()
		if err := <-verDone; err != nil {
			t.Errorf("verifier: %v", err)
		}
	}()
	var logs bytes.Buffer
	tr, err := startTrimmer(b.Addr(), map[string]*verifier{topic: v}, slog.New(slog.NewTextHandler(&logs, nil)), 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	trimming := true
	defer func() {
		if trimming {
			tr.stop()
		}
	}()

	w, err := sink.NewWriter(sink.WriterConfig{Brokers: []string{b.Addr()}, Topic: topic, Spool: sink.SpoolConfig{Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	t0 := time.Now().Add(-time.Minute)
	var streams []*trimStream
	for i := range 4 {
		s := &trimStream{name: "cam" + strconv.Itoa(i), t0: t0}
		streams = append(streams, s)
		s.put(t, w, schema.Record{Kind: schema.KindStart})
	}
	var written uint64
	trimmedBehindVerifier := func(half string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		poll := time.NewTicker(20 * time.Millisecond)
		defer poll.Stop()
		for {
			starts, err := adm.ListStartOffsets(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			ends, err := adm.ListEndOffsets(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			var total, trimmed int64
			var seen string // partition: start/end
			ends.Each(func(e kadm.ListedOffset) {
				total += e.Offset
				s, _ := starts.Lookup(topic, e.Partition)
				if s.Offset == e.Offset {
					trimmed += e.Offset
				}
				seen += fmt.Sprintf(" %d:%d/%d", e.Partition, s.Offset, e.Offset)
			})
			if total == int64(written) && trimmed == total && v.totals().Records == written {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: verifier read %d records of %d; partition:start/end offsets%s: not trimmed to the end", half, v.totals().Records, written, seen)
			}
			<-poll.C
		}
	}
	for _, s := range streams {
		s.audio(t, w, 50)
	}
	written = 4 * 51
	trimmedBehindVerifier("first half")
	for _, s := range streams {
		s.audio(t, w, 50)
		s.put(t, w, schema.Record{Kind: schema.KindEnd, Reason: schema.ReasonShutdown})
	}
	written += 4 * 51
	trimmedBehindVerifier("second half")

	tr.stop()
	trimming = false
	if logs.Len() > 0 {
		t.Errorf("trimmer logged: %s", logs.String())
	}
	rs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := rs.On(topic, nil); err != nil || !hasConfig(c.Configs, "segment.bytes", strconv.Itoa(trimSegmentBytes)) {
		t.Errorf("topic configs %+v (%v): want segment.bytes %d", c.Configs, err, trimSegmentBytes)
	}

	v.flush()
	checks := v.checks()
	for _, s := range streams {
		c := checks[s.name]
		if c == nil || c.records != 102 || c.audioRecords != 100 || c.seqErrors != 0 || len(c.epochs) != 1 || !c.ended {
			t.Errorf("%s: %+v; want 102 records (100 audio) in sequence in one ended epoch", s.name, c)
		}
	}
	tot := v.totals()
	if tot.Audio != 4*20*time.Second || len(tot.Gaps) != 0 {
		t.Errorf("audio %v, gaps %v; want 80 s without a gap", tot.Audio, tot.Gaps)
	}
}

func hasConfig(cs []kadm.Config, name, value string) bool {
	for _, c := range cs {
		if c.Key == name {
			return c.Value != nil && *c.Value == value
		}
	}
	return false
}
