package sink_test

// Delivery tests: the Writer against the embedded broker over TCP, read
// back with the consumer package. They run in real time: a broker outage
// is a span of time.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/earshot/earshot/sink/schema"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/consumer"
)

var discardLogger = slog.New(slog.DiscardHandler)

const deliveryTopic = "audio"

// newBroker starts an embedded broker with deliveryTopic in 3 partitions,
// stopped when the test ends.
func newBroker(t *testing.T) *sink.EmbeddedBroker {
	t.Helper()
	b, err := sink.NewEmbeddedBroker(deliveryTopic, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// streamRecord is record seq of a synthetic stream: 200 ms of 16 kHz audio
// per chunk, after a start record; kind end closes it.
func streamRecord(stream string, kind schema.Kind, epoch, seq uint64, t0 time.Time) schema.Record {
	offset := int64(0)
	if seq > 0 {
		offset = int64(seq-1) * 3200
	}
	capture := t0.Add(time.Duration(offset) * time.Second / 16000)
	r := schema.Record{Stream: stream, Kind: kind, Epoch: epoch, Seq: seq, SampleRate: 16000, Channels: 1,
		Codec: "opus", Offset: offset, CaptureTime: capture, Clock: schema.ClockArrival, Arrival: capture}
	switch kind {
	case schema.KindAudio:
		r.PCM = make([]byte, 6400)
		r.PCM[0], r.PCM[1] = byte(seq), byte(seq>>8)
	case schema.KindEnd:
		r.Reason = "shutdown"
	}
	return r
}

// streamer writes live streams into a Writer as stream workers do: a start
// record, then a 200 ms chunk every 200 ms, then an end record when
// stopped. It measures how long each Write takes.
type streamer struct {
	w       *sink.Writer
	streams int

	mu      sync.Mutex
	written map[string][]schema.Record
	durs    []time.Duration
	errs    []error
}

func newStreamer(w *sink.Writer, streams int) *streamer {
	return &streamer{w: w, streams: streams, written: make(map[string][]schema.Record)}
}

// run streams until ctx is done; it returns when every end record is
// written.
func (s *streamer) run(ctx context.Context) {
	var wg sync.WaitGroup
	epoch := uint64(time.Now().UnixMilli())
	for i := range s.streams {
		stream := fmt.Sprintf("cam-%02d", i)
		wg.Go(func() {
			t0 := time.Now()
			s.write(streamRecord(stream, schema.KindStart, epoch, 0, t0))
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			seq := uint64(1)
			for {
				select {
				case <-ctx.Done():
					s.write(streamRecord(stream, schema.KindEnd, epoch, seq, t0))
					return
				case <-tick.C:
					s.write(streamRecord(stream, schema.KindAudio, epoch, seq, t0))
					seq++
				}
			}
		})
	}
	wg.Wait()
}

func (s *streamer) write(r schema.Record) {
	start := time.Now()
	err := s.w.Write(context.Background(), r)
	d := time.Since(start)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.durs = append(s.durs, d)
	if err != nil {
		s.errs = append(s.errs, err)
		return
	}
	s.written[r.Stream] = append(s.written[r.Stream], r)
}

// writeStats returns the median, 99th percentile and largest Write
// duration.
func (s *streamer) writeStats() (p50, p99, longest time.Duration) {
	s.mu.Lock()
	d := slices.Clone(s.durs)
	s.mu.Unlock()
	slices.Sort(d)
	if len(d) == 0 {
		return 0, 0, 0
	}
	return d[len(d)/2], d[len(d)*99/100], d[len(d)-1]
}

func (s *streamer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, recs := range s.written {
		n += len(recs)
	}
	return n
}

// readBack reads the topic until every record of want (by stream, epoch
// and seq) arrived, failing after timeout. It returns each stream's
// deduplicated records in arrival order and the duplicates count.
func readBack(t *testing.T, addr string, want map[string][]schema.Record, timeout time.Duration) (map[string][]schema.Record, uint64) {
	t.Helper()
	missing := make(map[consumer.Key]bool)
	for _, recs := range want {
		for _, r := range recs {
			missing[consumer.Key{Stream: r.Stream, Epoch: r.Epoch, Seq: r.Seq}] = true
		}
	}
	return readUntil(t, addr, timeout, fmt.Sprintf("%d records", len(missing)), func(r schema.Record) bool {
		delete(missing, consumer.Key{Stream: r.Stream, Epoch: r.Epoch, Seq: r.Seq})
		return len(missing) == 0
	})
}

// readUntil reads the topic, passing each record not seen before to done,
// until done returns true; it fails after timeout, saying it waited for
// what. It returns each stream's deduplicated records in arrival order and
// the duplicates count.
func readUntil(t *testing.T, addr string, timeout time.Duration, what string, done func(schema.Record) bool) (map[string][]schema.Record, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var dedup consumer.Deduplicator
	got := make(map[string][]schema.Record)
	errDone := errors.New("done")
	err := sink.ReadTopic(ctx, []string{addr}, deliveryTopic, func(r schema.Record) error {
		if !dedup.Fresh(consumer.Key{Stream: r.Stream, Epoch: r.Epoch, Seq: r.Seq}) {
			return nil
		}
		got[r.Stream] = append(got[r.Stream], r)
		if done(r) {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("reading back: %v; waiting for %s", err, what)
	}
	return got, dedup.Duplicates
}

// checkExactlyOnce asserts that got holds, per stream, exactly the records
// written, in order, and no gap.
func checkExactlyOnce(t *testing.T, written, got map[string][]schema.Record) {
	t.Helper()
	for stream, want := range written {
		recs := got[stream]
		if len(recs) != len(want) {
			t.Errorf("%s: %d records after dedup, %d written", stream, len(recs), len(want))
			continue
		}
		for i, r := range recs {
			if r.Epoch != want[i].Epoch || r.Seq != want[i].Seq || r.Kind != want[i].Kind || r.Offset != want[i].Offset {
				t.Errorf("%s: record %d is %s seq %d, want %s seq %d", stream, i, r.Kind, r.Seq, want[i].Kind, want[i].Seq)
				break
			}
			if r.Kind == schema.KindGap {
				t.Errorf("%s: gap record %q", stream, r.Reason)
			}
		}
	}
}

func TestBrokerOutageOf60Seconds(t *testing.T) {
	if testing.Short() {
		t.Skip("a 60-second outage")
	}
	const outage = 60 * time.Second
	broker := newBroker(t)
	w, err := sink.NewWriter(sink.WriterConfig{
		Brokers: []string{broker.Addr()}, Topic: deliveryTopic, StallTimeout: 5 * time.Second,
		Spool: sink.SpoolConfig{Dir: t.TempDir(), SegmentBytes: 1 << 20, MaxBytes: 256 << 20}, Logger: discardLogger,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := newStreamer(w, 8)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.run(ctx)
	}()
	defer func() { stop(); <-done }()

	testkit.WaitFor(t, 30*time.Second, "records delivered before the outage", func() bool { return w.Stats().Delivered >= 100 })
	if err := broker.SetReachable(false); err != nil {
		t.Fatal(err)
	}
	outageStart := time.Now()
	var stalled sink.Health
	testkit.WaitFor(t, 30*time.Second, "the writer to report the outage", func() bool {
		stalled = w.Health()
		return stalled.Stalled
	})
	t.Logf("health %s into the outage: %+v", time.Since(outageStart).Round(time.Millisecond), stalled)
	if stalled.Reason == "" || stalled.StalledSince.IsZero() || stalled.Pending == 0 {
		t.Errorf("stalled health without reason, start or pending records: %+v", stalled)
	}
	<-time.After(time.Until(outageStart.Add(outage)))
	mid := w.Stats()
	if mid.SpoolRecords < 1000 || mid.MemoryRecords > 0 {
		t.Errorf("after the outage: %d records spooled, %d in memory; want them all on disk", mid.SpoolRecords, mid.MemoryRecords)
	}
	if err := broker.SetReachable(true); err != nil {
		t.Fatal(err)
	}
	recovered := time.Now()
	testkit.WaitFor(t, 2*time.Minute, "the backlog to drain", func() bool { return w.Health().Pending == 0 })
	t.Logf("backlog of %d records (%d bytes) drained %s after the broker came back",
		mid.SpoolRecords, mid.SpoolBytes, time.Since(recovered).Round(time.Millisecond))
	if h := w.Health(); h.Stalled || h.LastAck.Before(recovered) {
		t.Errorf("health after recovery %+v", h)
	}
	stop()
	<-done
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	p50, p99, maxWrite := s.writeStats()
	t.Logf("%d records written; Write took median %s, p99 %s, max %s", s.total(), p50, p99, maxWrite)
	if len(s.errs) > 0 {
		t.Fatalf("%d Writes failed, first: %v", len(s.errs), s.errs[0])
	}
	// Write never waited for Kafka: far below the outage (milliseconds on
	// an idle machine; the bound leaves room for a loaded one).
	if maxWrite > outage/10 {
		t.Errorf("a Write took %s during a %s outage", maxWrite, outage)
	}
	st := w.Stats()
	if st.Dropped != 0 || st.Failed != 0 || st.SpoolRecords != 0 || st.Delivered < uint64(s.total()) || st.Stalls == 0 {
		t.Errorf("stats %+v", st)
	}
	got, dups := readBack(t, broker.Addr(), s.written, time.Minute)
	t.Logf("read back %d records, %d redelivered", s.total(), dups)
	checkExactlyOnce(t, s.written, got)
}

// slowProduces makes the broker answer every produce request after delay.
func slowProduces(b *sink.EmbeddedBroker, delay time.Duration) {
	c := b.Cluster()
	c.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		time.Sleep(delay)
		return nil, nil, false // then handled normally
	})
}

func TestSlowBrokerKeepsUpThroughTheSpool(t *testing.T) {
	broker := newBroker(t)
	// kafka-go sends one produce request per partition and kfake answers
	// them one at a time: a batch over 3 partitions takes 450 ms.
	slowProduces(broker, 150*time.Millisecond)
	w, err := sink.NewWriter(sink.WriterConfig{
		Brokers: []string{broker.Addr()}, Topic: deliveryTopic, BufferBytes: 32 << 10, StallTimeout: 3 * time.Second,
		Spool: sink.SpoolConfig{Dir: t.TempDir(), SegmentBytes: 256 << 10, MaxBytes: 64 << 20}, Logger: discardLogger,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := newStreamer(w, 8)
	ctx, stop := context.WithTimeout(context.Background(), 8*time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.run(ctx)
	}()
	// Sample the backlog while streaming: it must stay bounded.
	maxPending, stalls := 0, 0
	tick := time.NewTicker(100 * time.Millisecond)
sample:
	for {
		select {
		case <-done:
			break sample
		case <-tick.C:
			h := w.Health()
			maxPending = max(maxPending, h.Pending)
			if h.Stalled {
				stalls++
			}
		}
	}
	tick.Stop()
	stop()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := w.Stats()
	_, _, maxWrite := s.writeStats()
	t.Logf("%d records; %d through the spool; largest backlog %d records; %d batches; max Write %s",
		s.total(), st.Spooled, maxPending, st.Batches, maxWrite)
	if st.Spooled == 0 {
		t.Error("nothing went through the spool: the test did not exercise it")
	}
	// 40 records a second, 450 ms per batch: a backlog of 2 seconds means
	// it did not keep up.
	if maxPending > 80 || stalls > 0 {
		t.Errorf("backlog reached %d records, stalled in %d samples", maxPending, stalls)
	}
	got, _ := readBack(t, broker.Addr(), s.written, time.Minute)
	checkExactlyOnce(t, s.written, got)
}

// countingObserver counts delivery events.
type countingObserver struct {
	mu                          sync.Mutex
	attempts, failed, acked     int
	zeroArrivals, droppedRecord int
	drops                       []sink.Drop
}

func (o *countingObserver) Produced(_ time.Duration, _ int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attempts++
	if err != nil {
		o.failed++
	}
}

func (o *countingObserver) Acknowledged(arrivals []time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.acked += len(arrivals)
	for _, a := range arrivals {
		if a.IsZero() {
			o.zeroArrivals++
		}
	}
}

func (o *countingObserver) Dropped(d sink.Drop) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.drops = append(o.drops, d)
	o.droppedRecord += d.Records
}

func TestFullSpoolDropsOldestWithGaps(t *testing.T) {
	broker := newBroker(t)
	if err := broker.SetReachable(false); err != nil {
		t.Fatal(err)
	}
	obs := &countingObserver{}
	w, err := sink.NewWriter(sink.WriterConfig{
		Brokers: []string{broker.Addr()}, Topic: deliveryTopic, Observer: obs, Logger: discardLogger,
		Spool: sink.SpoolConfig{Dir: t.TempDir(), SegmentBytes: 32 << 10, MaxBytes: 256 << 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	// 4 streams of 100 chunks (2.6 MB) into a 256 KiB spool while the
	// broker is down.
	const streams, chunks = 4, 100
	epoch := uint64(time.Now().UnixMilli())
	t0 := time.Now()
	for seq := range uint64(chunks + 2) {
		for i := range streams {
			kind := schema.KindAudio
			switch seq {
			case 0:
				kind = schema.KindStart
			case chunks + 1:
				kind = schema.KindEnd
			}
			if err := w.Write(context.Background(), streamRecord(fmt.Sprintf("cam-%d", i), kind, epoch, seq, t0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	testkit.WaitFor(t, 30*time.Second, "drops", func() bool { return w.Stats().Dropped > 0 && w.Stats().MemoryRecords == 0 })
	if err := broker.SetReachable(true); err != nil {
		t.Fatal(err)
	}
	// Close reports the drops: nothing is left or lost without a gap.
	err = w.Close()
	st := w.Stats()
	t.Logf("stats %+v", st)
	var undelivered *sink.UndeliveredError
	if !errors.As(err, &undelivered) || undelivered.Dropped != int(st.Dropped) || undelivered.Lost != 0 || undelivered.Spooled != 0 {
		t.Fatalf("Close: %v, want an UndeliveredError with %d dropped, none lost or spooled", err, st.Dropped)
	}

	// Read everything back through the reassembler: each stream's timeline
	// is continuous, the dropped part is a sink_drop gap, nothing is
	// unexplained.
	var dedup consumer.Deduplicator
	var asm consumer.Reassembler
	end := map[string]int64{}
	dropGaps, originals := 0, 0
	ended := 0
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errDone := errors.New("done")
	place := func(p consumer.Piece) {
		switch {
		case p.Kind == consumer.PieceGap && p.Reason == schema.ReasonSinkDrop:
			dropGaps++
		case p.Kind == consumer.PieceGap:
			t.Errorf("%s: unexpected gap %s of %d samples at %d", p.Stream, p.Reason, p.Samples, p.Offset)
		}
		if p.Kind == consumer.PieceEnd {
			return
		}
		if e, ok := end[p.Stream]; ok && p.Offset != e {
			t.Errorf("%s: piece at %d after the timeline reached %d", p.Stream, p.Offset, e)
		}
		end[p.Stream] = p.Offset + p.Samples
	}
	err = sink.ReadTopic(ctx, []string{broker.Addr()}, deliveryTopic, func(r schema.Record) error {
		e := consumer.FromRecord(r, consumer.Position{})
		if !dedup.Fresh(e.Key()) {
			return nil
		}
		if r.Kind != schema.KindGap {
			originals++
		}
		asm.Add(e, place)
		if r.Kind == schema.KindEnd {
			if ended++; ended == streams {
				return errDone
			}
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("reading back: %v (%d streams ended); timelines %v", err, ended, end)
	}
	for i := range streams {
		if e := end[fmt.Sprintf("cam-%d", i)]; e != chunks*3200 {
			t.Errorf("cam-%d: timeline ends at %d, want %d", i, e, chunks*3200)
		}
	}
	written := streams * (chunks + 2)
	if st.Dropped == 0 || st.Dropped != uint64(written-originals) {
		t.Errorf("Dropped %d, but %d of %d records were not delivered", st.Dropped, written-originals, written)
	}
	if dropGaps < streams || uint64(dropGaps) > st.DropGaps {
		t.Errorf("%d sink_drop gaps read, %d written, %d streams", dropGaps, st.DropGaps, streams)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if uint64(obs.droppedRecord) != st.Dropped || obs.failed == 0 || obs.acked != int(st.Delivered) {
		t.Errorf("observer: %d dropped, %d failed attempts, %d acknowledged; stats %+v", obs.droppedRecord, obs.failed, obs.acked, st)
	}
}

// TestReadBackOfALargeBacklog: a topic holding more than a fetch's worth
// per partition (15 MB, as after a long outage) reads back whole and
// promptly. Fetches of the whole backlog at once used to time out on
// every retry, and nothing was read.
func TestReadBackOfALargeBacklog(t *testing.T) {
	broker := newBroker(t)
	w, err := sink.NewWriter(sink.WriterConfig{
		Brokers: []string{broker.Addr()}, Topic: deliveryTopic,
		Spool: sink.SpoolConfig{Dir: t.TempDir()}, Logger: discardLogger,
	})
	if err != nil {
		t.Fatal(err)
	}
	written := make(map[string][]schema.Record)
	t0 := time.Now()
	for i := range 8 {
		stream := fmt.Sprintf("cam-%02d", i)
		for seq := range uint64(300) {
			r := streamRecord(stream, schema.KindAudio, 1, seq+1, t0)
			if err := w.Write(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			written[stream] = append(written[stream], r)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	start := time.Now()
	got, _ := readBack(t, broker.Addr(), written, time.Minute)
	t.Logf("read back 2400 records (15 MB) in %s", time.Since(start).Round(time.Millisecond))
	checkExactlyOnce(t, written, got)
}
