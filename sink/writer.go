package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/sink/schema"
)

// ErrClosed is returned by Write and Ping after Close.
var ErrClosed = errors.New("sink: writer closed")

// ErrTooLarge is returned by Write for a record bigger than the largest
// message the writer may send: BatchBytes, or less if the topic's
// max.message.bytes is smaller (see Ping).
var ErrTooLarge = errors.New("record larger than the largest message")

// ErrBufferFull is returned by Write, without a spool, when BufferBytes are
// held in memory.
var ErrBufferFull = errors.New("sink: memory buffer full and no spool configured")

// ErrUndelivered is wrapped by the error of Close when records were not
// delivered before CloseTimeout: they are in the spool, or lost without
// one. The error is an *UndeliveredError.
var ErrUndelivered = errors.New("undelivered records")

// UndeliveredError is the error of Close when records were not delivered
// before CloseTimeout.
type UndeliveredError struct {
	Topic string
	// Spooled records (SpooledBytes bytes of them) are in the spool
	// directory Dir: a Writer started on it delivers them first.
	Spooled      int
	SpooledBytes int64
	Dir          string
	// Lost records could not be spooled: there is no spool, or the disk
	// failed.
	Lost int
	// LastError is the cause of the last failed produce, if any.
	LastError string
	Timeout   time.Duration
}

func (e *UndeliveredError) Error() string {
	last := e.LastError
	if last == "" {
		last = "none"
	}
	if e.Lost > 0 {
		return fmt.Sprintf("sink: %s: %d records to topic %q were lost: not delivered within CloseTimeout %s and no spool could take them (%d more are in the spool); last error: %s",
			ErrUndelivered, e.Lost, e.Topic, e.Timeout, e.Spooled, last)
	}
	return fmt.Sprintf("sink: %s: %d records (%d bytes) to topic %q left in spool %s, delivered at the next start; last error: %s",
		ErrUndelivered, e.Spooled, e.SpooledBytes, e.Topic, e.Dir, last)
}

func (e *UndeliveredError) Unwrap() error { return ErrUndelivered }

const (
	// Retry pauses after a failed produce: doubling from minBackoff to
	// maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// closeGrace bounds how long Close waits for retired kafka-go writers.
	closeGrace = 5 * time.Second
	// metadataTTL bounds how long a transport serves stale metadata or a
	// stale error, and how often the partition count is refreshed.
	metadataTTL = time.Second
	// recordBatchOverhead is the size of a Kafka record batch without its
	// records, which max.message.bytes counts.
	recordBatchOverhead = 61
)

// Writer produces records to one Kafka topic without ever making its callers
// wait for Kafka. Write accepts a record into memory, or into the on-disk
// spool when memory is full, Kafka is failing, or earlier records are still
// spooled; a single goroutine delivers the oldest records first, one batch
// at a time, retrying a batch until Kafka acknowledges it. Records therefore
// reach their partition in the order they were accepted, at least once
// (duplicates carry the same stream, epoch and seq). Methods are safe for
// concurrent use.
type Writer struct {
	cfg   WriterConfig // defaults applied
	log   *slog.Logger
	sec   dialOptions
	spool *spool // nil without Spool.Dir
	bt    batcher

	mu        sync.Mutex
	mem       []item // accepted records, oldest first; a batch in flight from memory is at the front
	memBytes  int64
	degraded  bool   // a produce failed and the spool has not drained since: new records go to the spool
	closed    bool   // Close was called: Write refuses records
	maxRecord int64  // largest message accepted
	limitBy   string // what sets maxRecord
	// Health, under mu.
	lastAck     time.Time
	progressAt  time.Time // last acknowledgement, or when records became pending after none were
	unreachable bool      // the last attempt failed to reach the brokers
	reason      string    // cause of the last failure, until a success
	stallNoted  bool      // the current stall is counted and logged

	wake    chan struct{} // capacity 1: records accepted or Close called
	closing chan struct{} // closed by Close
	// ctx is cancelled when CloseTimeout passes after Close: the writer's
	// goroutine then stops delivering.
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // closed when the goroutine has finished
	closeOnce sync.Once
	closeErr  error // set by the goroutine before done is closed

	// Owned by the writer's goroutine.
	prod        *producer
	retired     sync.WaitGroup // closing of replaced producers
	partitions  int            // last known partition count of the topic
	partitionAt time.Time
	arrivals    []time.Time
	refusals    uint64 // records the broker refused as too large

	delivered, failed, spooled, retries, stalls, batches atomic.Uint64
}

// item is a record held in memory with its Kafka message.
type item struct {
	rec  schema.Record
	msg  kafka.Message
	size int64 // messageSize of msg
}

// NewWriter validates cfg, opens and recovers the spool (its records are
// delivered first), and starts the writer's goroutine. It does not contact
// the brokers; see Ping.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	sec, err := cfg.Security.load()
	if err != nil {
		return nil, err
	}
	w := &Writer{
		cfg:       cfg,
		log:       cfg.Logger,
		sec:       sec,
		bt:        batcher{maxRecords: cfg.BatchSize},
		maxRecord: cfg.BatchBytes,
		limitBy:   "BatchBytes",
		wake:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	if cfg.Spool.Dir != "" {
		if w.spool, err = openSpool(cfg.Spool, cfg.Logger); err != nil {
			return nil, err
		}
		// A batch in flight stays in the spool until acknowledged, and a
		// full spool cannot drop it: keep it a small part of the spool.
		w.bt.maxTotal = cfg.Spool.MaxBytes / 8
		if n := w.spool.len(); n > 0 {
			w.progressAt = time.Now()
		}
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.prod = newProducer(&w.cfg, sec)
	go w.run()
	return w, nil
}

// Write accepts r for delivery and returns at once: it never waits for
// Kafka, and ctx is not used. It returns an error wrapping schema.ErrSchema or
// ErrTooLarge for a record it refuses, ErrClosed after Close, ErrBufferFull
// when memory is full and there is no spool, or the spool's disk error. The
// writer keeps r.PCM until the record is delivered: the caller must not
// modify it after Write returns nil. Records of a stream must be written in
// order, from one goroutine at a time.
func (w *Writer) Write(_ context.Context, r schema.Record) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("sink: write: %w", err)
	}
	m := Message(r, w.cfg.Topic)
	n := messageSize(&m)
	w.mu.Lock()
	defer w.mu.Unlock()
	if n > w.maxRecord {
		return fmt.Errorf("sink: write stream %q seq %d: %w: %d bytes, %s allows %d", r.Stream, r.Seq, ErrTooLarge, n, w.limitBy, w.maxRecord)
	}
	if w.closed {
		return ErrClosed
	}
	spooled := 0
	if w.spool != nil {
		spooled = w.spool.len()
	}
	if len(w.mem) == 0 && spooled == 0 {
		w.progressAt = time.Now()
	}
	switch {
	case w.spool != nil && (spooled > 0 || w.degraded || w.memBytes+n > w.cfg.BufferBytes):
		if err := w.spool.append(&r); err != nil {
			w.failed.Add(1)
			return fmt.Errorf("sink: write stream %q seq %d: %w", r.Stream, r.Seq, err)
		}
		w.spooled.Add(1)
	case w.memBytes+n > w.cfg.BufferBytes:
		w.failed.Add(1)
		return fmt.Errorf("sink: write stream %q seq %d: %w (%d bytes)", r.Stream, r.Seq, ErrBufferFull, w.cfg.BufferBytes)
	default:
		w.mem = append(w.mem, item{rec: r, msg: m, size: n})
		w.memBytes += n
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close stops accepting records, keeps delivering what is held for up to
// CloseTimeout, then moves what is left in memory to the spool and stops
// the writer's goroutine. It returns nil if everything was delivered, else
// an error wrapping ErrUndelivered that says how many records are left in
// the spool (or were lost without one). Later calls return the same error.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.closing)
		deadline := time.AfterFunc(w.cfg.CloseTimeout, w.cancel)
		<-w.done
		deadline.Stop()
		w.cancel()
	})
	return w.closeErr
}

// Ping asks the brokers for the topic's metadata and reports an error naming
// the topic if it does not exist (wrapping kafka.UnknownTopicOrPartition) or
// has no partitions. It also reads the topic's max.message.bytes, when the
// brokers allow it, and lowers the largest record Write accepts to fit.
func (w *Writer) Ping(ctx context.Context) error {
	select {
	case <-w.closing:
		return ErrClosed
	default:
	}
	transport, _, stop := newTransport(&w.cfg, w.sec)
	defer func() {
		stop()
		transport.CloseIdleConnections()
	}()
	if _, err := topicPartitions(ctx, transport, w.cfg.Brokers, w.cfg.Topic, w.cfg.WriteTimeout); err != nil {
		return err
	}
	limit, err := topicMaxMessageBytes(ctx, transport, w.cfg.Brokers, w.cfg.Topic, w.cfg.WriteTimeout)
	if err != nil {
		w.log.Debug("sink: cannot read the topic's max.message.bytes; records are limited by BatchBytes", "topic", w.cfg.Topic, "error", err)
		return nil
	}
	if max := limit - recordBatchOverhead; max < w.cfg.BatchBytes {
		w.mu.Lock()
		w.maxRecord = max
		w.limitBy = fmt.Sprintf("topic %q max.message.bytes (%d)", w.cfg.Topic, limit)
		w.mu.Unlock()
		w.log.Info("sink: records limited by the topic's max.message.bytes", "topic", w.cfg.Topic, "max_message_bytes", limit, "batch_bytes", w.cfg.BatchBytes)
	}
	return nil
}

// Stats returns the writer's counters and gauges.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	st := WriterStats{MemoryRecords: len(w.mem), MemoryBytes: w.memBytes}
	w.mu.Unlock()
	st.Delivered = w.delivered.Load()
	st.Failed = w.failed.Load()
	st.Spooled = w.spooled.Load()
	st.Retries = w.retries.Load()
	st.Stalls = w.stalls.Load()
	st.Batches = w.batches.Load()
	if w.spool != nil {
		ss := w.spool.stats()
		st.SpoolRecords, st.SpoolBytes = ss.records, ss.bytes
		st.Dropped, st.DropGaps, st.CorruptTails = ss.dropped, ss.dropGaps, ss.corruptTails
	}
	return st
}

// Health returns a snapshot of delivery progress, for a watchdog.
func (w *Writer) Health() Health {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.healthLocked(time.Now())
}

func (w *Writer) healthLocked(now time.Time) Health {
	h := Health{Pending: len(w.mem), LastAck: w.lastAck}
	if w.spool != nil {
		h.Pending += w.spool.len()
	}
	if h.Pending == 0 {
		return h
	}
	waited := now.Sub(w.progressAt)
	if !w.unreachable && waited < w.cfg.StallTimeout {
		return h
	}
	h.Stalled, h.StalledSince, h.Reason = true, w.progressAt, w.reason
	if h.Reason == "" {
		h.Reason = fmt.Sprintf("no produce completed for %s", waited.Round(time.Millisecond))
	}
	return h
}

// batch is the records of one produce call, oldest first.
type batch struct {
	fromSpool bool // the records are pinned in the spool, else at the front of mem
	recs      []schema.Record
	msgs      []kafka.Message
	acked     []bool
	left      int   // records not acknowledged yet
	sent      []int // indexes of the records of the attempt in flight
	// single sends one record per attempt, after the broker refused the
	// batch as too large.
	single bool
}

func (b *batch) add(r schema.Record, m kafka.Message) {
	b.recs = append(b.recs, r)
	b.msgs = append(b.msgs, m)
	b.acked = append(b.acked, false)
	b.left++
}

// pending returns the messages not acknowledged yet (the first of them
// only in single mode) and remembers which they are.
func (b *batch) pending() []kafka.Message {
	b.sent = b.sent[:0]
	out := make([]kafka.Message, 0, b.left)
	for i, m := range b.msgs {
		if !b.acked[i] {
			b.sent = append(b.sent, i)
			out = append(out, m)
			if b.single {
				break
			}
		}
	}
	return out
}

// run is the writer's goroutine: it delivers batches until Close and the
// backlog is empty, or CloseTimeout has passed.
func (w *Writer) run() {
	defer close(w.done)
	var b *batch
	for {
		w.reportDrops()
		if b == nil {
			if b = w.nextBatch(); b == nil {
				break
			}
		}
		if !w.deliver(b) {
			break
		}
		w.acknowledge(b)
		b = nil
	}
	w.finish(b)
}

// nextBatch waits for records and returns the next batch of the oldest, or
// nil once Close was called and nothing is left.
func (w *Writer) nextBatch() *batch {
	for {
		if b := w.takeBatch(); b != nil {
			return b
		}
		w.mu.Lock()
		closed := w.closed
		w.mu.Unlock()
		if closed {
			return nil
		}
		select {
		case <-w.wake:
		case <-w.closing:
		}
		w.reportDrops()
	}
}

// takeBatch returns a batch of the oldest records, from memory if it holds
// any (they are older than anything spooled), else from the spool; nil if
// there are none.
func (w *Writer) takeBatch() *batch {
	parts := w.partitionCount()
	w.mu.Lock()
	w.bt.reset(parts, w.maxRecord)
	if len(w.mem) > 0 {
		b := &batch{}
		for i := range w.mem {
			it := &w.mem[i]
			if !w.bt.add(&it.msg) {
				break
			}
			b.add(it.rec, it.msg)
		}
		w.mu.Unlock()
		return b
	}
	w.mu.Unlock()
	if w.spool == nil {
		return nil
	}
	b := &batch{fromSpool: true}
	recs, _ := w.spool.peek(w.cfg.BatchSize, func(r *schema.Record) bool {
		m := Message(*r, w.cfg.Topic)
		if !w.bt.add(&m) {
			return false
		}
		b.msgs = append(b.msgs, m)
		return true
	})
	if len(recs) == 0 {
		return nil
	}
	b.recs = recs
	b.acked = make([]bool, len(recs))
	b.left = len(recs)
	return b
}

// partitionCount returns the topic's partition count, refreshed at most
// every metadataTTL while Kafka answers; 0 if never known.
func (w *Writer) partitionCount() int {
	if time.Since(w.partitionAt) < metadataTTL {
		return w.partitions
	}
	w.mu.Lock()
	failing := w.reason != ""
	w.mu.Unlock()
	if failing && w.partitions > 0 {
		return w.partitions
	}
	w.partitionAt = time.Now()
	ctx, cancel := context.WithTimeout(w.ctx, min(w.cfg.WriteTimeout, 2*time.Second))
	defer cancel()
	if ids, err := topicPartitions(ctx, w.prod.transport, w.cfg.Brokers, w.cfg.Topic, w.cfg.WriteTimeout); err == nil {
		w.partitions = len(ids)
	}
	return w.partitions
}

// deliver produces b until Kafka has acknowledged every record, retrying
// what failed after a pause. It returns false if CloseTimeout passed first.
func (w *Writer) deliver(b *batch) bool {
	for attempt := 1; ; attempt++ {
		msgs := b.pending()
		start := time.Now()
		ctx, cancel := context.WithTimeout(w.ctx, w.cfg.WriteTimeout)
		err := w.prod.produce(ctx, msgs, w.cfg.WriteTimeout+hangGrace)
		cancel()
		w.acked(b, msgs, err)
		if w.cfg.Observer != nil {
			w.cfg.Observer.Produced(time.Since(start), len(msgs), err)
		}
		if err != nil && w.refused(b, err) {
			attempt = 0
		}
		if b.left == 0 {
			w.succeeded(attempt)
			return true
		}
		if w.ctx.Err() != nil {
			return false
		}
		if attempt == 0 {
			continue
		}
		pause := w.failedAttempt(b, attempt, err)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			return false
		}
	}
}

// acked marks the records of msgs that Kafka acknowledged, given the
// attempt's error, and reports them.
func (w *Writer) acked(b *batch, msgs []kafka.Message, err error) {
	var werrs kafka.WriteErrors
	partial := errors.As(err, &werrs) && len(werrs) == len(msgs)
	if err != nil && !partial {
		return
	}
	w.arrivals = w.arrivals[:0]
	for j, i := range b.sent {
		if err == nil || werrs[j] == nil {
			b.acked[i] = true
			b.left--
			w.arrivals = append(w.arrivals, b.recs[i].Arrival)
		}
	}
	if len(w.arrivals) == 0 {
		return
	}
	w.delivered.Add(uint64(len(w.arrivals)))
	now := time.Now()
	w.mu.Lock()
	w.lastAck, w.progressAt = now, now
	w.mu.Unlock()
	if w.cfg.Observer != nil {
		w.cfg.Observer.Acknowledged(w.arrivals)
	}
}

// refused handles the broker refusing records as too large, which no
// retry can deliver: a batch is retried one record at a time, and a single
// record is given up (counted as failed). It reports whether err was such a
// refusal.
func (w *Writer) refused(b *batch, err error) bool {
	if !errors.Is(firstError(err), kafka.MessageSizeTooLarge) {
		return false
	}
	if !b.single && len(b.sent) > 1 {
		b.single = true
		return true
	}
	i := b.sent[0]
	r := &b.recs[i]
	b.acked[i] = true
	b.left--
	// Logged at powers of two: every record of a stream may be refused.
	w.refusals++
	if n := w.refusals; n&(n-1) == 0 {
		w.log.Error("sink: the broker refused a record as too large; it is dropped", "topic", w.cfg.Topic,
			"stream", r.Stream, "epoch", r.Epoch, "seq", r.Seq, "bytes", messageSize(&b.msgs[i]), "refused", n)
	}
	w.failed.Add(1)
	return true
}

// succeeded records a produce call that delivered the rest of its batch.
func (w *Writer) succeeded(attempt int) {
	w.batches.Add(1)
	w.mu.Lock()
	wasStalled := w.stallNoted
	w.reason, w.unreachable, w.stallNoted = "", false, false
	w.mu.Unlock()
	if attempt > 1 || wasStalled {
		w.log.Info("sink: kafka write recovered", "topic", w.cfg.Topic, "attempts", attempt)
	}
}

// failedAttempt handles a failed produce call: it records the cause for
// Health, replaces the producer if the call timed out or hung, moves what
// memory holds to the spool, and returns the pause before the next attempt.
func (w *Writer) failedAttempt(b *batch, attempt int, err error) time.Duration {
	w.retries.Add(1)
	reason, unreachable, replace := classify(err, w.cfg.WriteTimeout)
	if replace {
		w.prod.retire(&w.retired)
		w.prod = newProducer(&w.cfg, w.sec)
	}
	w.mu.Lock()
	w.reason, w.unreachable = reason, unreachable
	if !w.degraded && w.spool != nil {
		w.log.Warn("sink: kafka is failing; records go to the spool until it has caught up", "topic", w.cfg.Topic, "reason", reason)
	}
	w.degraded = true
	w.evacuate(b)
	h := w.healthLocked(time.Now())
	newStall := h.Stalled && !w.stallNoted
	w.stallNoted = w.stallNoted || h.Stalled
	w.mu.Unlock()
	if newStall {
		w.stalls.Add(1)
		w.log.Error("sink: stalled: kafka is not acknowledging records", "topic", w.cfg.Topic,
			"since", h.StalledSince, "pending", h.Pending, "reason", h.Reason)
	}
	pause := backoff(attempt)
	w.log.Warn("sink: kafka write failed; retrying", "topic", w.cfg.Topic, "records", b.left,
		"attempt", attempt, "retry_in", pause, "error", reason)
	return pause
}

// evacuate moves the records held in memory to the front of the spool, b's
// unacknowledged records first, so that they survive a crash and keep their
// place before everything spooled after them; b then counts as a batch from
// the spool. Without a spool, or on a disk error, they stay in memory. It is
// called with mu held.
func (w *Writer) evacuate(b *batch) {
	if w.spool == nil || len(w.mem) == 0 || b.fromSpool {
		return
	}
	recs := make([]schema.Record, 0, len(w.mem))
	for i, r := range b.recs {
		if !b.acked[i] {
			recs = append(recs, r)
		}
	}
	pinned := len(recs)
	for _, it := range w.mem[len(b.recs):] {
		recs = append(recs, it.rec)
	}
	if err := w.spool.prepend(recs, pinned); err != nil {
		w.log.Error("sink: cannot move records to the spool; they stay in memory", "records", len(recs), "error", err)
		return
	}
	w.spooled.Add(uint64(len(recs)))
	clear(w.mem)
	w.mem, w.memBytes = w.mem[:0], 0
	*b = batch{fromSpool: true, recs: b.recs[:0], msgs: b.msgs[:0], acked: b.acked[:0]}
	for _, r := range recs[:pinned] {
		b.add(r, Message(r, w.cfg.Topic))
	}
}

// acknowledge removes a delivered batch from memory or the spool, and goes
// back to memory once the spool has drained.
func (w *Writer) acknowledge(b *batch) {
	if b.fromSpool {
		w.spool.ack(len(b.recs))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !b.fromSpool {
		for _, it := range w.mem[:len(b.recs)] {
			w.memBytes -= it.size
		}
		clear(w.mem[:len(b.recs)])
		w.mem = w.mem[len(b.recs):]
	}
	if w.degraded && (w.spool == nil || w.spool.len() == 0) {
		w.degraded = false
		w.log.Info("sink: spool drained; records go through memory again", "topic", w.cfg.Topic)
	}
}

// finish runs once deliveries stop: it moves what memory holds to the
// spool, closes the producers and the spool, and sets closeErr.
func (w *Writer) finish(b *batch) {
	w.mu.Lock()
	if b == nil {
		b = &batch{}
	}
	lost := 0
	if len(w.mem) > 0 {
		if w.spool != nil && !b.fromSpool {
			w.evacuate(b)
		}
		lost = len(w.mem)
		clear(w.mem)
		w.mem, w.memBytes = nil, 0
	}
	reason := w.reason
	w.mu.Unlock()
	w.reportDrops()

	w.prod.retire(&w.retired)
	retired := make(chan struct{})
	go func() {
		w.retired.Wait()
		close(retired)
	}()
	select {
	case <-retired:
	case <-time.After(closeGrace):
		w.log.Error("sink: a kafka-go writer did not close; abandoning it", "topic", w.cfg.Topic)
	}

	var left int
	var leftBytes int64
	if w.spool != nil {
		ss := w.spool.stats()
		left, leftBytes = ss.records, ss.bytes
		w.spool.close()
	}
	w.failed.Add(uint64(lost))
	if lost > 0 || left > 0 {
		w.closeErr = &UndeliveredError{Topic: w.cfg.Topic, Spooled: left, SpooledBytes: leftBytes, Dir: w.cfg.Spool.Dir,
			Lost: lost, LastError: reason, Timeout: w.cfg.CloseTimeout}
	}
}

// reportDrops passes the spool's drops to the observer.
func (w *Writer) reportDrops() {
	if w.spool == nil || w.cfg.Observer == nil {
		return
	}
	for _, d := range w.spool.takeDrops() {
		w.cfg.Observer.Dropped(d)
	}
}

// classify turns a produce error into a short, credentials-free reason, and
// says whether the brokers were unreachable and whether the producer must be
// replaced (the call timed out or hung: kafka-go may still hold its batch).
func classify(err error, timeout time.Duration) (reason string, unreachable, replace bool) {
	err = firstError(err)
	var op *net.OpError
	switch {
	case errors.Is(err, errHung):
		return "produce hung: " + err.Error(), false, true
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("produce timed out after %s", timeout), false, true
	case errors.As(err, &op) && op.Op == "dial",
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "broker unreachable: " + err.Error(), true, false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return "broker connection lost: " + err.Error(), true, false
	}
	return "produce failed: " + err.Error(), false, false
}

// firstError returns the first error of a kafka.WriteErrors, else err.
func firstError(err error) error {
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil {
				return e
			}
		}
	}
	return err
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
