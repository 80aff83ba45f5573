package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/sink/schema"
	"github.com/earshot/earshot/sink/schema/schematest"
)

// errEnough stops a read once the test has what it wants.
var errEnough = errors.New("enough")

// readAll reads n messages of topic, in arrival order, failing the test
// after 30 seconds.
func readAll(t *testing.T, addr, topic string, n int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var msgs []kafka.Message
	err := readMessages(ctx, []string{addr}, topic, dialOptions{}, func(m kafka.Message) error {
		msgs = append(msgs, m)
		if len(msgs) == n {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("read %d of %d messages: %v", len(msgs), n, err)
	}
	return msgs
}

// streamRecords returns the records one stream worker would write for
// epoch: start, audio, a gap, more audio, end.
func streamRecords(stream string, epoch uint64) []schema.Record {
	var recs []schema.Record
	next := func(r schema.Record) {
		r.Stream, r.Epoch, r.Seq = stream, epoch, uint64(len(recs))
		recs = append(recs, r)
	}
	next(schematest.With(schematest.StartRecord, func(r *schema.Record) { r.Offset = 0 }))
	offset := int64(0)
	for i := range 25 {
		if i == 15 {
			next(schematest.With(schematest.GapRecord, func(r *schema.Record) { r.Offset, r.GapMS = offset, 400 }))
			offset += 6400
		}
		a := schematest.Audio(stream, 0)
		a.Offset, a.PCM = offset, fmt.Appendf(nil, "%s/%d/%03d", stream, epoch, i) // 16 bytes
		next(a)
		offset += int64(len(a.PCM) / 2)
	}
	next(schematest.With(schematest.EndRecord, func(r *schema.Record) { r.Offset = offset }))
	return recs
}

func TestWriteAndReadTopic(t *testing.T) {
	addr := startBroker(t, testTopic)
	w, err := NewWriter(WriterConfig{Brokers: []string{addr}, Topic: testTopic, BatchSize: 16, Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}

	// One goroutine per stream, as the stream workers write; odd streams
	// reconnect once.
	want := map[string]schema.Record{} // by stream/epoch/seq
	var all [][]schema.Record
	for i := range 8 {
		stream := fmt.Sprintf("site-%d/cam", i)
		var recs []schema.Record
		for epoch := range uint64(1 + i%2) {
			recs = append(recs, streamRecords(stream, epoch+1)...)
		}
		for _, r := range recs {
			want[fmt.Sprintf("%s/%d/%d", r.Stream, r.Epoch, r.Seq)] = r
		}
		all = append(all, recs)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(all))
	for _, recs := range all {
		wg.Go(func() {
			for _, r := range recs {
				if err := w.Write(context.Background(), r); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	msgs := readAll(t, addr, testTopic, len(want))
	seen := map[string]bool{}
	partitionOf := map[string]int{}
	last := map[string][2]uint64{} // stream → last (epoch, seq)
	partitions := map[int]bool{}
	for _, m := range msgs {
		r, err := ParseMessage(m)
		if err != nil {
			t.Fatalf("partition %d offset %d: %v", m.Partition, m.Offset, err)
		}
		id := fmt.Sprintf("%s/%d/%d", r.Stream, r.Epoch, r.Seq)
		if seen[id] {
			t.Errorf("record %s arrived twice", id)
		}
		seen[id] = true
		if !schematest.Same(r, want[id]) {
			t.Errorf("record %s =\n%+v\nwant\n%+v", id, r, want[id])
		}
		l, ok := last[r.Stream]
		if inOrder := ok && (r.Epoch == l[0] && r.Seq == l[1]+1 || r.Epoch > l[0] && r.Seq == 0) || !ok && r.Seq == 0; !inOrder {
			t.Errorf("stream %s: epoch %d seq %d arrived after epoch %d seq %d", r.Stream, r.Epoch, r.Seq, l[0], l[1])
		}
		last[r.Stream] = [2]uint64{r.Epoch, r.Seq}
		p := kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(r.Stream)}, 0, 1, 2)
		if m.Partition != p {
			t.Errorf("stream %s in partition %d, murmur2 says %d", r.Stream, m.Partition, p)
		}
		if q, ok := partitionOf[r.Stream]; ok && q != m.Partition {
			t.Errorf("stream %s in partitions %d and %d", r.Stream, q, m.Partition)
		}
		partitionOf[r.Stream] = m.Partition
		partitions[m.Partition] = true
		if !m.Time.Equal(r.CaptureTime.Truncate(time.Millisecond)) {
			t.Errorf("record %s has Kafka timestamp %v, want capture time %v", id, m.Time, r.CaptureTime)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("read %d distinct records, want %d", len(seen), len(want))
	}
	if len(partitions) < 2 {
		t.Errorf("records landed in partitions %v only; the test needs several", partitions)
	}
}

// TestMurmur2MatchesJava checks kafka-go's balancer against murmur2 values
// of the Java client (from librdkafka's test vectors): records land where
// Java producers would put them.
func TestMurmur2MatchesJava(t *testing.T) {
	for _, tc := range []struct {
		key  string
		hash uint32
	}{
		{"kafka", 0xd067cf64},
		{"giberish123456789", 0x8f552b0c},
		{"1234", 0x9fc97b14},
		{"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424f1c},
	} {
		for _, n := range []int{3, 17} {
			parts := make([]int, n)
			for i := range parts {
				parts[i] = i
			}
			got := kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(tc.key)}, parts...)
			if want := int(tc.hash&0x7fffffff) % n; got != want {
				t.Errorf("key %q over %d partitions: %d, want %d", tc.key, n, got, want)
			}
		}
	}
}

func TestReadTopicSkipsUnparseable(t *testing.T) {
	addr := startBroker(t, testTopic)
	// A foreign producer writes junk between two good records.
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	kw := &kafka.Writer{Addr: kafka.TCP(addr), Topic: testTopic, Transport: transport, Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond}
	good := []schema.Record{schematest.Audio("cam-1", 0), schematest.Audio("cam-1", 1)}
	junk := kafka.Message{Key: []byte("cam-1"), Value: []byte("not audio")}
	m0, m1 := Message(good[0], ""), Message(good[1], "")
	if err := kw.WriteMessages(context.Background(), m0, junk, m1); err != nil {
		t.Fatal(err)
	}
	if err := kw.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []schema.Record
	err := ReadTopic(ctx, []string{addr}, testTopic, func(r schema.Record) error {
		got = append(got, r)
		if len(got) == len(good) {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("ReadTopic: %v", err)
	}
	for i := range good {
		if !schematest.Same(got[i], good[i]) {
			t.Errorf("record %d = %+v, want %+v", i, got[i], good[i])
		}
	}
}

func TestReadTopicStopsWithContext(t *testing.T) {
	addr := startBroker(t, testTopic)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ReadTopic(ctx, []string{addr}, testTopic, func(schema.Record) error { return nil })
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("ReadTopic after cancel: %v, want context.Canceled", err)
	}
}

func TestReadTopicMissingTopic(t *testing.T) {
	addr := startBroker(t, testTopic)
	err := ReadTopic(context.Background(), []string{addr}, "missing", func(schema.Record) error { return nil })
	if !errors.Is(err, kafka.UnknownTopicOrPartition) || !errorContains(err, `topic "missing"`) {
		t.Errorf("ReadTopic of a missing topic: %v", err)
	}
}

func TestStartEmbeddedBrokerValidates(t *testing.T) {
	for _, tc := range []struct {
		topic      string
		partitions int
	}{{"", 1}, {"a b", 1}, {"audio", 0}} {
		if _, _, err := StartEmbeddedBroker(tc.topic, tc.partitions); err == nil {
			t.Errorf("StartEmbeddedBroker(%q, %d) succeeded", tc.topic, tc.partitions)
		}
	}
}

// errorContains reports whether err's text contains s.
func errorContains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}
