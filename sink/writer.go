package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// ErrClosed is returned by Write and Ping after Close.
var ErrClosed = errors.New("sink: writer closed")

// ErrTooLarge is returned by Write for a record bigger than BatchBytes.
var ErrTooLarge = errors.New("record larger than BatchBytes")

// ErrUndelivered is wrapped by the error of Close when queued records could
// not be delivered before CloseTimeout.
var ErrUndelivered = errors.New("undelivered records")

// Retry pauses after a failed produce: doubling from minBackoff to maxBackoff.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// closeGrace bounds how long Close waits for kafka-go's writer after
	// closing every broker connection under it.
	closeGrace = 5 * time.Second
	// metadataTTL bounds how long the transport keeps serving stale
	// metadata or a stale error.
	metadataTTL = time.Second
)

// Writer produces records to one Kafka topic. Write queues a record; a
// single goroutine takes queued records in batches and produces one batch at
// a time, retrying a failed batch until it is delivered, so records of a
// stream reach their partition in the order they were written, at least
// once. Methods are safe for concurrent use.
type Writer struct {
	cfg       WriterConfig // defaults applied
	log       *slog.Logger
	kw        *kafka.Writer
	transport *kafka.Transport
	conns     *connTracker
	// stopTransport cancels the context of the transport's goroutines.
	stopTransport context.CancelFunc

	queue chan kafka.Message

	mu      sync.Mutex
	closed  bool
	writes  sync.WaitGroup // Write calls that may still send to queue
	closing chan struct{}  // closed when Close starts

	// ctx is cancelled when Close's deadline passes (or Close returns): the
	// run goroutine then stops retrying.
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // closed when run returns
	closeOnce sync.Once
	closeErr  error // set by run before done is closed

	written, failed, retries, batches atomic.Uint64
}

// NewWriter validates cfg and starts the writer's goroutine. It does not
// contact the brokers; see Ping.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	acks, _ := cfg.requiredAcks()
	codec, _ := cfg.compression()

	tctx, stopTransport := context.WithCancel(context.Background())
	conns := newConnTracker(cfg.Dial)
	transport := &kafka.Transport{
		Dial:     conns.Dial,
		ClientID: "earshot",
		Context:  tctx,
		// The transport serves metadata, and a failure to get it, from a
		// cache refreshed at random within MetadataTTL; kafka-go's 6 s
		// would delay recovery from an outage. Asking only for our topic
		// keeps frequent refreshes cheap.
		MetadataTTL:    metadataTTL,
		MetadataTopics: []string{cfg.Topic},
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		cfg:           cfg,
		log:           cfg.Logger,
		transport:     transport,
		conns:         conns,
		stopTransport: stopTransport,
		kw: &kafka.Writer{
			Addr: kafka.TCP(cfg.Brokers...),
			// Topic is left empty: every message names it.
			Balancer:     &kafka.Murmur2Balancer{},
			MaxAttempts:  1, // Writer retries, batch by batch
			BatchSize:    cfg.BatchSize,
			BatchBytes:   cfg.BatchBytes,
			BatchTimeout: cfg.BatchTimeout,
			ReadTimeout:  cfg.WriteTimeout,
			WriteTimeout: cfg.WriteTimeout,
			RequiredAcks: acks,
			Compression:  codec,
			Transport:    transport,

			AllowAutoTopicCreation: false,
		},
		queue:   make(chan kafka.Message, cfg.QueueSize),
		closing: make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go w.run()
	return w, nil
}

// Write validates r and queues it, blocking while the queue is full until
// ctx is done (backpressure). It returns ctx's error if ctx is done first,
// ErrClosed after Close, and an error wrapping ErrSchema or ErrTooLarge for
// a record it refuses. The writer keeps r.PCM until the record is delivered:
// the caller must not modify it after Write returns nil.
func (w *Writer) Write(ctx context.Context, r Record) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("sink: write: %w", err)
	}
	m := r.Message(w.cfg.Topic)
	if n := messageSize(&m); n > w.cfg.BatchBytes {
		return fmt.Errorf("sink: write stream %q seq %d: %w: %d bytes, BatchBytes is %d", r.Stream, r.Seq, ErrTooLarge, n, w.cfg.BatchBytes)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.writes.Add(1)
	w.mu.Unlock()
	defer w.writes.Done()

	select {
	case w.queue <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.closing:
		return ErrClosed
	}
}

// Close stops accepting records, keeps delivering what is queued for up to
// CloseTimeout, and stops the writer's goroutine. Its error wraps
// ErrUndelivered and the last Kafka error when records were given up. Later
// calls return the same error.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.closing)
		w.writes.Wait() // no Write sends to queue after this
		close(w.queue)
		deadline := time.AfterFunc(w.cfg.CloseTimeout, w.cancel)
		<-w.done
		deadline.Stop()
		w.cancel()
	})
	return w.closeErr
}

// Ping asks the brokers for the topic's metadata and reports an error naming
// the topic if it does not exist or has no partitions.
func (w *Writer) Ping(ctx context.Context) error {
	select {
	case <-w.closing:
		return ErrClosed
	default:
	}
	_, err := topicPartitions(ctx, w.transport, w.cfg.Brokers, w.cfg.Topic, w.cfg.WriteTimeout)
	return err
}

// Stats returns the writer's counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{
		Written: w.written.Load(),
		Failed:  w.failed.Load(),
		Retries: w.retries.Load(),
		Batches: w.batches.Load(),
		Queued:  len(w.queue),
	}
}

// run is the writer's goroutine: it produces queued records batch by batch
// until Close closes the queue, then closes the kafka-go writer.
func (w *Writer) run() {
	defer close(w.done)
	b := newBatcher(w.queue, w.cfg.BatchSize, w.cfg.BatchBytes)
	var (
		lastErr error
		failed  int
	)
	for failed == 0 {
		batch, ok := b.next(w.partitionCount)
		if !ok {
			break
		}
		failed, lastErr = w.deliver(batch, lastErr)
	}
	if failed > 0 { // Close's deadline passed: count what is left
		failed += b.drain()
		w.failed.Add(uint64(failed))
		if lastErr == nil {
			lastErr = context.DeadlineExceeded
		}
		w.closeErr = fmt.Errorf("sink: %w: %d records to topic %q were not delivered within CloseTimeout %s; last error: %w",
			ErrUndelivered, failed, w.cfg.Topic, w.cfg.CloseTimeout, lastErr)
	}
	w.closeKafka()
}

// partitionCount returns the topic's partition count from the transport's
// metadata cache, or 0 if it is not known; the write that follows then
// fails and reports why.
func (w *Writer) partitionCount() int {
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.WriteTimeout)
	defer cancel()
	ids, err := topicPartitions(ctx, w.transport, w.cfg.Brokers, w.cfg.Topic, w.cfg.WriteTimeout)
	if err != nil {
		return 0
	}
	return len(ids)
}

// deliver produces batch until Kafka acknowledges every record, retrying
// what failed after a pause, or until Close's deadline passes. It returns how
// many records it gave up on and the last error not caused by the deadline.
func (w *Writer) deliver(batch []kafka.Message, lastErr error) (int, error) {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(w.ctx, w.cfg.WriteTimeout+w.cfg.BatchTimeout)
		err := w.kw.WriteMessages(ctx, batch...)
		cancel()
		if err == nil {
			w.written.Add(uint64(len(batch)))
			w.batches.Add(1)
			if attempt > 1 {
				w.log.Info("sink: kafka write recovered", "topic", w.cfg.Topic, "attempts", attempt)
			}
			return 0, lastErr
		}
		w.retries.Add(1)
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(batch) {
			// Some partitions took their records: retry only the others,
			// in their order.
			left := batch[:0]
			err = nil
			for i, e := range werrs {
				if e != nil {
					left = append(left, batch[i])
					if err == nil {
						err = e
					}
				}
			}
			w.written.Add(uint64(len(batch) - len(left)))
			batch = left
		}
		if w.ctx.Err() != nil {
			return len(batch), lastErr
		}
		lastErr = err
		pause := backoff(attempt)
		w.log.Warn("sink: kafka write failed; retrying", "topic", w.cfg.Topic, "records", len(batch),
			"attempt", attempt, "retry_in", pause, "error", err)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			return len(batch), lastErr
		}
	}
}

// closeKafka closes the kafka-go writer and transport. kafka.Writer.Close
// waits for produce calls in flight; if it has not returned by Close's
// deadline, closing every broker connection makes them fail. If even that
// does not help within closeGrace, the writer is abandoned with a log line
// rather than hanging Close.
func (w *Writer) closeKafka() {
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		w.kw.Close()
	}()
	select {
	case <-closed:
	case <-w.ctx.Done():
	}
	w.conns.closeAll()
	w.stopTransport()
	t := time.NewTimer(closeGrace)
	select {
	case <-closed:
		t.Stop()
	case <-t.C:
		w.log.Error("sink: kafka writer did not close; abandoning it", "topic", w.cfg.Topic)
	}
	w.transport.CloseIdleConnections()
}

// backoff returns the pause after the given failed attempt (from 1).
func backoff(attempt int) time.Duration {
	d := minBackoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// messageSize is an upper bound of the bytes kafka-go counts for m against
// BatchBytes (4+1+1 bytes of framing, length-prefixed key and value, an
// 8-byte timestamp, and headers with varint lengths of at most 5 bytes).
// Counting no less than kafka-go keeps each partition's share of a batch in
// one kafka-go batch (see batcher).
func messageSize(m *kafka.Message) int64 {
	n := 4 + 1 + 1 + 4 + len(m.Key) + 4 + len(m.Value) + 8 + 5
	for _, h := range m.Headers {
		n += 5 + len(h.Key) + 5 + len(h.Value)
	}
	return int64(n)
}
