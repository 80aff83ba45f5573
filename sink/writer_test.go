package sink

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink/schema"
	"github.com/earshot/earshot/sink/schema/schematest"
)

// errBrokerDown is what dialing a stopped broker gives.
var errBrokerDown = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

// downDial is a WriterConfig.Dial for a broker that cannot be reached.
func downDial(context.Context, string, string) (net.Conn, error) {
	return nil, errBrokerDown
}

// discardLogger drops every line.
var discardLogger = slog.New(slog.DiscardHandler)

// startBroker starts an embedded broker with topic of 3 partitions and stops
// it when the test ends.
func startBroker(t testing.TB, topic string) string {
	t.Helper()
	addr, stop, err := StartEmbeddedBroker(topic, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

func TestWriteNeverWaitsForKafka(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := schematest.Audio("cam-1", 0)
		m := Message(rec, testTopic)
		size := messageSize(&m)
		w, err := NewWriter(WriterConfig{
			Brokers: []string{"kafka:9092"}, Topic: testTopic, BufferBytes: 3*size + 100,
			CloseTimeout: time.Minute, Dial: downDial, Logger: discardLogger,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for seq := range uint64(3) {
			if err := w.Write(ctx, schematest.Audio("cam-1", seq)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(DefaultBatchTimeout) // the records wait for others to go with them
		synctest.Wait()                 // the goroutine took a batch and keeps failing
		// Without a spool, memory is all there is: the fourth record is
		// refused at once rather than waited on.
		if err := w.Write(ctx, schematest.Audio("cam-1", 3)); !errors.Is(err, ErrBufferFull) {
			t.Fatalf("Write with memory full: %v, want ErrBufferFull", err)
		}
		h := w.Health()
		if h.Pending != 3 || !h.Stalled || !strings.Contains(h.Reason, "broker unreachable") || h.StalledSince.IsZero() {
			t.Errorf("health %+v, want 3 pending, stalled: broker unreachable", h)
		}

		start := time.Now()
		err = w.Close()
		if !errors.Is(err, ErrUndelivered) || !strings.Contains(err.Error(), `topic "audio": 3 records were lost without a gap record`) {
			t.Errorf("Close: %v", err)
		}
		if d := time.Since(start); d != time.Minute {
			t.Errorf("Close took %v, want CloseTimeout", d)
		}
		st := w.Stats()
		if st.Delivered != 0 || st.Failed != 4 || st.Retries == 0 || st.MemoryRecords != 0 || st.Stalls != 1 {
			t.Errorf("stats %+v", st)
		}
		if err := w.Write(ctx, schematest.Audio("cam-1", 4)); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Close: %v, want ErrClosed", err)
		}
		if err := w.Close(); !errors.Is(err, ErrUndelivered) {
			t.Errorf("second Close: %v, want the first one's error", err)
		}
	})
}

func TestWriterRefusesRecords(t *testing.T) {
	w, err := NewWriter(WriterConfig{
		Brokers: []string{"kafka:9092"}, Topic: testTopic, BatchBytes: 8192, Dial: downDial, Logger: discardLogger,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range schematest.Invalid {
		if err := w.Write(ctx, tc.Record); !errors.Is(err, schema.ErrSchema) {
			t.Errorf("%s: Write: %v, want ErrSchema", tc.Name, err)
		}
	}
	big := schematest.Audio("cam-1", 0)
	big.PCM = make([]byte, 8192)
	if err := w.Write(ctx, big); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), `stream "cam-1" seq 0`) {
		t.Errorf("Write of a record larger than BatchBytes: %v, want ErrTooLarge", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close with nothing queued: %v", err)
	}
	if err := w.Write(ctx, schematest.Audio("cam-1", 0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if err := w.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close: %v, want ErrClosed", err)
	}
}

func TestWriterCloseDeliversQueued(t *testing.T) {
	addr := startBroker(t, testTopic)
	w, err := NewWriter(WriterConfig{Brokers: []string{addr}, Topic: testTopic, BatchSize: 32, Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		if err := w.Write(context.Background(), schematest.Audio("cam-"+string(rune('a'+i%5)), uint64(i/5))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := w.Stats()
	if st.Delivered != n || st.Failed != 0 || st.MemoryRecords != 0 || st.Batches < n/32 {
		t.Errorf("stats %+v", st)
	}
	if got := len(readAll(t, addr, testTopic, n)); got != n {
		t.Errorf("read %d records, want %d", got, n)
	}
}

func TestWriterMissingTopic(t *testing.T) {
	addr := startBroker(t, testTopic)
	var log testkit.SyncBuffer
	w, err := NewWriter(WriterConfig{
		Brokers: []string{addr}, Topic: "missing", CloseTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Ping(context.Background())
	if !errors.Is(err, kafka.UnknownTopicOrPartition) || !strings.Contains(err.Error(), `topic "missing"`) {
		t.Errorf("Ping: %v, want UnknownTopicOrPartition naming the topic", err)
	}
	if err := w.Write(context.Background(), schematest.Audio("cam-1", 0)); err != nil {
		t.Fatal(err)
	}
	err = w.Close()
	if !errors.Is(err, ErrUndelivered) || !strings.Contains(err.Error(), "Unknown Topic Or Partition") ||
		!strings.Contains(err.Error(), `topic "missing": 1 records were lost`) {
		t.Errorf("Close: %v, want ErrUndelivered naming the topic and the error", err)
	}
	if !strings.Contains(log.String(), "kafka write failed; retrying") || !strings.Contains(log.String(), "topic=missing") {
		t.Errorf("log does not name the failure and topic:\n%s", log.String())
	}
	if err := w.Ping(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close: %v", err)
	}
}

func TestWriterRetriesUntilBrokerIsBack(t *testing.T) {
	addr := startBroker(t, testTopic)
	var failures atomic.Int32
	var log testkit.SyncBuffer
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		if failures.Add(1) <= 3 {
			return nil, errBrokerDown
		}
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
	w, err := NewWriter(WriterConfig{
		Brokers: []string{addr}, Topic: testTopic, Dial: dial,
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for seq := range 10 {
		if err := w.Write(context.Background(), schematest.Audio("cam-1", uint64(seq))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := w.Stats()
	if st.Delivered != 10 || st.Retries == 0 || st.Failed != 0 {
		t.Errorf("stats %+v, want 10 written after retries", st)
	}
	if !strings.Contains(log.String(), "kafka write recovered") {
		t.Errorf("log has no recovery line:\n%s", log.String())
	}
	recs := readAll(t, addr, testTopic, 10)
	for i, m := range recs {
		if r, _ := ParseMessage(m); r.Seq != uint64(i) {
			t.Errorf("record %d has seq %d", i, r.Seq)
		}
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := backoff(1000); got != maxBackoff {
		t.Errorf("backoff(1000) = %v", got)
	}
}

// startBlackHole listens on 127.0.0.1 and accepts connections that never get
// an answer, like a hung broker. Everything is closed when the test ends.
func startBlackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestWriterCloseIsBoundedWhenBrokerHangs(t *testing.T) {
	addr := startBlackHole(t)
	w, err := NewWriter(WriterConfig{
		Brokers: []string{addr}, Topic: testTopic, WriteTimeout: time.Minute,
		CloseTimeout: 200 * time.Millisecond, Logger: discardLogger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), schematest.Audio("cam-1", 0)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = w.Close()
	if !errors.Is(err, ErrUndelivered) || !strings.Contains(err.Error(), "1 records") {
		t.Errorf("Close: %v, want 1 undelivered record", err)
	}
	// Far below WriteTimeout: Close must not wait for the hung produce.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %v", d)
	}
}

func TestHungBrokerIsReportedStalledAndRecordsSpooled(t *testing.T) {
	addr := startBlackHole(t)
	dir := t.TempDir()
	var log testkit.SyncBuffer
	w, err := NewWriter(WriterConfig{
		Brokers: []string{addr}, Topic: testTopic, WriteTimeout: 300 * time.Millisecond, StallTimeout: time.Second,
		CloseTimeout: 200 * time.Millisecond, Logger: slogTo(&log), Spool: SpoolConfig{Dir: dir},
	})
	if err != nil {
		t.Fatal(err)
	}
	for seq := range uint64(3) {
		if err := w.Write(context.Background(), schematest.Audio("cam-1", seq)); err != nil {
			t.Fatal(err)
		}
	}
	// Each attempt times out after WriteTimeout and is retried on a fresh
	// kafka-go writer; after StallTimeout the writer reports the stall.
	var h Health
	testkit.Poll(20*time.Second, func() bool { h = w.Health(); return h.Stalled })
	if !h.Stalled || h.Pending != 3 || !strings.Contains(h.Reason, "produce timed out after 300ms") {
		t.Errorf("health %+v, want 3 pending, stalled: produce timed out", h)
	}
	if !h.LastAck.IsZero() || h.StalledSince.IsZero() {
		t.Errorf("health %+v: no acknowledgement yet, a stall start", h)
	}
	err = w.Close()
	var u *UndeliveredError
	if !errors.As(err, &u) || u.Spooled != 3 || u.Lost != 0 || u.Dir != dir || !strings.Contains(err.Error(), "left in spool") {
		t.Errorf("Close: %v, want 3 records left in the spool", err)
	}
	if st := w.Stats(); st.Stalls != 1 || st.Retries == 0 || st.SpoolRecords != 3 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(log.String(), "stalled") {
		t.Errorf("stall not logged:\n%s", log.String())
	}
}

// BenchmarkWrite measures Write into memory, the path of every record while
// Kafka keeps up.
func BenchmarkWrite(b *testing.B) {
	addr := startBroker(b, testTopic)
	// Memory large enough that the benchmark never outruns the broker into
	// ErrBufferFull.
	w, err := NewWriter(WriterConfig{Brokers: []string{addr}, Topic: testTopic, Logger: discardLogger, BufferBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	r := schematest.Audio("cam-1", 1)
	b.ReportAllocs()
	for b.Loop() {
		r.Seq++
		if err := w.Write(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteToSpool measures Write into the spool, the path of every
// record while Kafka is down (page cache; FsyncInterval).
func BenchmarkWriteToSpool(b *testing.B) {
	w, err := NewWriter(WriterConfig{
		Brokers: []string{"kafka:9092"}, Topic: testTopic, Dial: downDial, Logger: discardLogger, CloseTimeout: time.Millisecond,
		BufferBytes: 1, Spool: SpoolConfig{Dir: b.TempDir(), MaxBytes: 256 << 20},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	r := schematest.Audio("cam-1", 1)
	b.ReportAllocs()
	for b.Loop() {
		r.Seq++
		if err := w.Write(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}

// Health and Stats, called by the watchdog, /metrics and /readyz, answer
// while a spool write is in progress: it holds the writer's queue lock and
// the spool's lock, which they never take.
func TestHealthAndStatsDoNotWaitForTheSpool(t *testing.T) {
	w, err := NewWriter(WriterConfig{Brokers: []string{"127.0.0.1:1"}, Topic: testTopic, Dial: downDial, Logger: discardLogger,
		CloseTimeout: time.Millisecond, Spool: SpoolConfig{Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), schematest.Audio("cam-1", 0)); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.spool.mu.Lock()
	answered := make(chan Health)
	go func() {
		w.Stats()
		answered <- w.Health()
	}()
	select {
	case h := <-answered:
		if h.Pending != 1 {
			t.Errorf("health %+v, want 1 pending", h)
		}
	case <-time.After(10 * time.Second):
		t.Error("Health and Stats wait for the spool's locks")
		defer func() { <-answered }()
	}
	w.spool.mu.Unlock()
	w.mu.Unlock()
	w.Close()
}

// TestRecordsWaitBatchTimeoutForOthers: the first record waits
// BatchTimeout for others before the writer attempts to produce, unless a
// whole batch is waiting.
func TestRecordsWaitBatchTimeoutForOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		newWriter := func() *Writer {
			w, err := NewWriter(WriterConfig{
				Brokers: []string{"kafka:9092"}, Topic: testTopic, BatchSize: 4, CloseTimeout: time.Second,
				Dial: downDial, Logger: discardLogger,
			})
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
		write := func(w *Writer, seq uint64) {
			if err := w.Write(ctx, schematest.Audio("cam-1", seq)); err != nil {
				t.Fatal(err)
			}
		}

		w := newWriter()
		write(w, 0)
		time.Sleep(DefaultBatchTimeout - time.Millisecond)
		write(w, 1)
		synctest.Wait()
		if n := w.Stats().Retries; n != 0 {
			t.Fatalf("%d produce attempts %v after the first record, want none before BatchTimeout", n, DefaultBatchTimeout-time.Millisecond)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if w.Stats().Retries == 0 {
			t.Fatalf("no produce attempt BatchTimeout after the first record")
		}
		if err := w.Close(); !errors.Is(err, ErrUndelivered) {
			t.Errorf("Close: %v, want ErrUndelivered", err)
		}

		w = newWriter()
		for seq := range uint64(4) {
			write(w, seq)
		}
		synctest.Wait()
		if w.Stats().Retries == 0 {
			t.Errorf("a full batch (BatchSize 4) waited for BatchTimeout")
		}
		if err := w.Close(); !errors.Is(err, ErrUndelivered) {
			t.Errorf("Close: %v, want ErrUndelivered", err)
		}
	})
}
