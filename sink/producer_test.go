package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/earshot/earshot/sink/schema"
	"github.com/earshot/earshot/sink/schema/schematest"
)

// failProduces makes the broker answer produce requests for partition with
// code, n of them (every one if n < 0), and handle the others normally.
// kafka-go sends one request per partition, so a request is one partition's.
func failProduces(b *EmbeddedBroker, partition int32, code int16, n int) {
	c := b.Cluster()
	var mu sync.Mutex
	c.ControlKey(kmsg.Produce.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ProduceRequest)
		if len(req.Topics) != 1 || len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Partition != partition {
			return nil, nil, false // handled normally; the control stays
		}
		mu.Lock()
		defer mu.Unlock()
		if n == 0 {
			c.DropControl()
			return nil, nil, false
		}
		n--
		c.KeepControl()
		res := req.ResponseKind().(*kmsg.ProduceResponse)
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = req.Topics[0].Topic
		rp := kmsg.NewProduceResponseTopicPartition()
		rp.Partition, rp.ErrorCode = partition, code
		rt.Partitions = append(rt.Partitions, rp)
		res.Topics = append(res.Topics, rt)
		return res, nil, true
	})
}

// streamMessages returns one audio message of each of n streams.
func streamMessages(n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = Message(schematest.Audio(fmt.Sprintf("cam-%d", i), 1), testTopic)
	}
	return msgs
}

// partitionOf is the partition kafka-go's Writer and the batcher assign m
// to, of parts.
func partitionOf(m kafka.Message, parts int) int {
	ids := make([]int, parts)
	for i := range ids {
		ids[i] = i
	}
	return kafka.Murmur2Balancer{}.Balance(m, ids...)
}

// newTestBroker starts an embedded broker with testTopic in 3 partitions,
// closed when the test ends.
func newTestBroker(t testing.TB) *EmbeddedBroker {
	t.Helper()
	b, err := NewEmbeddedBroker(testTopic, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// newTestProducer returns a producer to addr with cfg (defaults for its
// zero fields), retired when the test ends.
func newTestProducer(t testing.TB, addr string, cfg WriterConfig) *producer {
	t.Helper()
	cfg.Brokers, cfg.Topic = []string{addr}, testTopic
	cfg.setDefaults()
	p := newProducer(&cfg, dialOptions{})
	t.Cleanup(func() {
		var wg sync.WaitGroup
		p.retire(&wg)
		wg.Wait()
	})
	return p
}

// A produce call whose request for one partition fails and whose others
// succeed reports the failed partition's messages, and only those, as
// kafka-go's Writer did; retried, they arrive, and nothing twice.
func TestProduceFailsOnlyTheFailedPartition(t *testing.T) {
	b := newTestBroker(t)
	failProduces(b, 1, int16(kafka.NotLeaderForPartition), 1)
	p := newTestProducer(t, b.Addr(), WriterConfig{})
	msgs := streamMessages(30)
	failed := 0
	for _, m := range msgs {
		if partitionOf(m, 3) == 1 {
			failed++
		}
	}
	if failed == 0 || failed == len(msgs) {
		t.Fatalf("%d of %d messages on partition 1: the test needs some on each side", failed, len(msgs))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.produce(ctx, msgs, 3, time.Minute)
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
		t.Fatalf("produce: %v, want WriteErrors for %d messages", err, len(msgs))
	}
	var retry []kafka.Message
	for i, m := range msgs {
		part := partitionOf(m, 3)
		if part == 1 && !errors.Is(werrs[i], kafka.NotLeaderForPartition) || part != 1 && werrs[i] != nil {
			t.Errorf("message %d (partition %d): error %v", i, part, werrs[i])
		}
		if werrs[i] != nil {
			retry = append(retry, m)
		}
	}
	if err := p.produce(ctx, retry, 3, time.Minute); err != nil {
		t.Fatalf("produce of the %d failed messages again: %v", len(retry), err)
	}

	got := readAll(t, b.Addr(), testTopic, len(msgs))
	seen := make(map[string]bool)
	for _, m := range got {
		if seen[string(m.Key)] || m.Partition != partitionOf(m, 3) {
			t.Errorf("read %s from partition %d (seen before: %t)", m.Key, m.Partition, seen[string(m.Key)])
		}
		seen[string(m.Key)] = true
	}
	if n := topicRecords(t, b.Addr(), 3); n != int64(len(msgs)) {
		t.Errorf("the topic holds %d records, %d were produced", n, len(msgs))
	}
}

// Every record reaches the topic intact, in the partition the batcher
// counted it in, whatever the acknowledgements and compression asked for;
// with the partition count unknown, produce asks the brokers for it.
func TestProduceSendsEveryRecord(t *testing.T) {
	for _, cfg := range []WriterConfig{
		{RequiredAcks: "none", Compression: "none"},
		{RequiredAcks: "one", Compression: "zstd"},
		{RequiredAcks: "all", Compression: "lz4"},
	} {
		t.Run(cfg.RequiredAcks+"/"+cfg.Compression, func(t *testing.T) {
			b := newTestBroker(t)
			p := newTestProducer(t, b.Addr(), cfg)
			msgs := streamMessages(30)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := p.produce(ctx, msgs, 0, time.Minute); err != nil {
				t.Fatalf("produce: %v", err)
			}
			want := make(map[string][]byte)
			for _, m := range msgs {
				want[string(m.Key)] = m.Value
			}
			for _, m := range readAll(t, b.Addr(), testTopic, len(msgs)) {
				if !bytes.Equal(m.Value, want[string(m.Key)]) || m.Partition != partitionOf(m, 3) {
					t.Errorf("read %s from partition %d: %d value bytes, want %d", m.Key, m.Partition, len(m.Value), len(want[string(m.Key)]))
				}
				delete(want, string(m.Key))
			}
			if len(want) != 0 {
				t.Errorf("%d records missing, others read twice", len(want))
			}
		})
	}
}

// stallProduces holds the broker's answers to produce requests for
// partition until release is called, and answers the others at once.
// release also waits, up to 10 s, for every held control to have resumed:
// kfake's Close while a control function sleeps can leave its run loop
// blocked on its control mutex, a goroutine that goleak then reports.
func stallProduces(t *testing.T, b *EmbeddedBroker, partition int32) (release func()) {
	c := b.Cluster()
	held := make(chan struct{})
	var slept atomic.Int64
	resumed := make(chan struct{}, 64)
	c.ControlKey(kmsg.Produce.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ProduceRequest)
		if req.Topics[0].Partitions[0].Partition == partition {
			slept.Add(1)
			c.SleepControl(func() { <-held })
			resumed <- struct{}{}
		}
		c.KeepControl()
		return nil, nil, false // then handled normally
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(held)
			deadline := time.After(10 * time.Second)
			for range slept.Load() {
				select {
				case <-resumed:
				case <-deadline:
					t.Error("a held produce did not resume within 10 s of its release")
					return
				}
			}
		})
	}
}

// A produce whose deadline passes while one partition has not answered
// fails only that partition's messages: the others were acknowledged, and
// are not sent again. (kafka-go's Writer returned the context's error, so
// the Writer sent all of them again.)
func TestProduceDeadlineFailsOnlyThePartitionsWithoutAnswer(t *testing.T) {
	b := newTestBroker(t)
	release := stallProduces(t, b, 1)
	defer release()
	p := newTestProducer(t, b.Addr(), WriterConfig{})
	msgs := streamMessages(30)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := p.produce(ctx, msgs, 3, time.Minute)
	release()
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
		t.Fatalf("produce: %v, want WriteErrors for %d messages", err, len(msgs))
	}
	for i, m := range msgs {
		part := partitionOf(m, 3)
		if part == 1 && !errors.Is(werrs[i], context.DeadlineExceeded) || part != 1 && werrs[i] != nil {
			t.Errorf("message %d (partition %d): error %v", i, part, werrs[i])
		}
	}
}

// topicRecords returns how many records the topic's partitions hold.
func topicRecords(t *testing.T, addr string, parts int) int64 {
	t.Helper()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for i := range parts {
		req.Topics[testTopic] = append(req.Topics[testTopic], kafka.FirstOffsetOf(i), kafka.LastOffsetOf(i))
	}
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(addr), Transport: tr, Timeout: 10 * time.Second}
	res, err := c.ListOffsets(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, po := range res.Topics[testTopic] {
		if po.Error != nil {
			t.Fatalf("offsets of partition %d: %v", po.Partition, po.Error)
		}
		n += po.LastOffset - po.FirstOffset
	}
	return n
}

// The Writer delivers every record exactly once when one partition refuses
// produce requests for a while and the others take theirs at once: it
// retries only the refused partition's records.
func TestWriterRetriesOnlyTheFailedPartition(t *testing.T) {
	b := newTestBroker(t)
	failProduces(b, 1, int16(kafka.NotLeaderForPartition), 2)
	w, err := NewWriter(WriterConfig{Brokers: []string{b.Addr()}, Topic: testTopic, Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := range n {
		if err := w.Write(context.Background(), schematest.Audio(fmt.Sprintf("cam-%d", i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := w.Stats(); st.Delivered != n || st.Retries == 0 || st.Failed != 0 {
		t.Errorf("stats %+v, want %d delivered after retries", st, n)
	}
	got := readAll(t, b.Addr(), testTopic, n)
	seen := make(map[string]bool)
	for _, m := range got {
		if seen[string(m.Key)] {
			t.Errorf("read %s twice", m.Key)
		}
		seen[string(m.Key)] = true
	}
	if got := topicRecords(t, b.Addr(), 3); got != n {
		t.Errorf("the topic holds %d records, %d were written", got, n)
	}
}

// Reading a share's records allocates nothing: kafka-go calls ReadRecord
// for every record produced.
func TestShareRecordsDoNotAllocate(t *testing.T) {
	msgs := streamMessages(8)
	var r shareRecords
	allocs := testing.AllocsPerRun(100, func() {
		r.reset()
		for i := range msgs {
			r.msgs = append(r.msgs, msgs[i])
			r.idx = append(r.idx, int32(i))
		}
		for {
			rec, err := r.ReadRecord()
			if err == io.EOF {
				break
			}
			if rec.Value.Len() != len(msgs[r.idx[r.next-1]].Value) {
				t.Fatalf("record %d: %d value bytes, want %d", r.next-1, rec.Value.Len(), len(msgs[r.idx[r.next-1]].Value))
			}
		}
	})
	if allocs != 0 {
		t.Errorf("reading %d records allocated %.1f times", len(msgs), allocs)
	}
}

// BenchmarkProduce measures one produce call of 5 records, one of each of
// 5 streams, to 3 partitions: at 100 streams earshot produces ~5 records
// every ~10 ms. The embedded broker runs in the process: its allocations
// are counted too.
func BenchmarkProduce(b *testing.B) {
	broker := newTestBroker(b)
	p := newTestProducer(b, broker.Addr(), WriterConfig{})
	msgs := streamMessages(5)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.produce(ctx, msgs, 3, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// ackCounter passes the number of records each attempt acknowledged to a
// channel with room for all of them.
type ackCounter chan int

func (c ackCounter) Produced(time.Duration, int, error) {}
func (c ackCounter) Acknowledged(arrivals []time.Time)  { c <- len(arrivals) }
func (c ackCounter) Dropped(Drop)                       {}

// BenchmarkWriterDelivery measures the Writer delivering 5 records of 100
// streams, waiting out BatchTimeout and then produced together, as at 100
// streams (~500 records a second, a produce every ~10 ms). The embedded
// broker runs in the process: its allocations are counted too.
func BenchmarkWriterDelivery(b *testing.B) {
	broker := newTestBroker(b)
	acks := make(ackCounter, 5)
	w, err := NewWriter(WriterConfig{Brokers: []string{broker.Addr()}, Topic: testTopic, Observer: acks, Logger: discardLogger})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	const streams, perOp = 100, 5
	recs := make([]schema.Record, streams)
	for i := range recs {
		recs[i] = schematest.Audio(fmt.Sprintf("cam-%d", i), 0)
	}
	ctx := context.Background()
	next := 0
	b.ReportAllocs()
	for b.Loop() {
		for range perOp {
			r := &recs[next%streams]
			r.Seq++
			if err := w.Write(ctx, *r); err != nil {
				b.Fatal(err)
			}
			next++
		}
		for n := 0; n < perOp; n += <-acks {
		}
	}
}
