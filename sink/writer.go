package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/earshot/earshot/sink/schema"

	"github.com/segmentio/kafka-go"
)

// ErrClosed is wrapped by the errors of Write and Ping after Close.
var ErrClosed = errors.New("writer closed")

// ErrTooLarge is wrapped by the error of Write for a record bigger than the
// largest message the writer may send: BatchBytes, or less if the topic's
// max.message.bytes is smaller (see Ping).
var ErrTooLarge = errors.New("record larger than the largest message")

// ErrBufferFull is wrapped by the error of Write, without a spool, when
// BufferBytes are held in memory.
var ErrBufferFull = errors.New("memory buffer full and no spool configured")

// ErrUndelivered is wrapped by the error of Close when records were not
// delivered: left in the spool after CloseTimeout, or lost while the writer
// ran or at Close. The error is an *UndeliveredError.
var ErrUndelivered = errors.New("undelivered records")

// UndeliveredError is the error of Close when records were not delivered.
type UndeliveredError struct {
	Topic string
	// Spooled records (SpooledBytes bytes of them) are in the spool
	// directory Dir: a Writer started on it delivers them first.
	Spooled      int
	SpooledBytes int64
	Dir          string
	// Dropped records were lost while the writer ran, each covered by a
	// sink_drop gap record of exactly its audio: dropped from a full spool,
	// from full memory while the spool could not write, or skipped over
	// damage in a spool segment. See WriterStats.Dropped.
	Dropped int
	// Lost records were lost without a gap record: not delivered within
	// CloseTimeout with no spool to take them (or a failing one), refused
	// by the broker as too large, or unreadable in the spool. See
	// WriterStats.Lost.
	Lost int
	// LastError is the cause of the last failed produce, if any.
	LastError string
	Timeout   time.Duration
}

func (e *UndeliveredError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sink: %s to topic %q:", ErrUndelivered, e.Topic)
	if e.Dropped > 0 {
		fmt.Fprintf(&b, " %d records were dropped and replaced by sink_drop gap records;", e.Dropped)
	}
	if e.Lost > 0 {
		fmt.Fprintf(&b, " %d records were lost without a gap record;", e.Lost)
	}
	if e.Spooled > 0 {
		fmt.Fprintf(&b, " %d records (%d bytes) not delivered within CloseTimeout %s are left in spool %s, delivered at the next start;",
			e.Spooled, e.SpooledBytes, e.Timeout, e.Dir)
	}
	last := e.LastError
	if last == "" {
		last = "none"
	}
	fmt.Fprintf(&b, " last produce error: %s", last)
	return b.String()
}

func (e *UndeliveredError) Unwrap() error { return ErrUndelivered }

const (
	// Retry pauses after a failed produce: doubling from minBackoff to
	// maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// closeGrace bounds how long Close waits for retired producers' calls.
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
	spare *batch   // an acknowledged batch kept for reuse; the writer goroutine's
	pcm   *pcmPool // buffers of AllocPCM, taken back once delivered or spooled

	// mu guards the queues. Write holds it across a spool append (disk
	// I/O), so Health and Stats never take it.
	mu sync.Mutex
	// mem holds accepted records older than anything spooled, oldest
	// first; memPinned of them, at the front, are in flight.
	mem       []item
	memBytes  int64
	memPinned int
	// over holds the records the spool could not take (its disk is full
	// or failing), newer than anything spooled, oldest first; overPinned
	// of them, at the front, are in flight. While it holds any, new
	// records join it.
	over       []item
	overBytes  int64
	overPinned int
	degraded   bool   // a produce failed and the spool has not drained since: new records go to the spool
	closed     bool   // Close was called: Write refuses records
	maxRecord  int64  // largest message accepted
	limitBy    string // what sets maxRecord
	drops      []Drop // memory drops not yet reported to the observer
	shedRounds uint64 // memory drops so far

	// hmu guards the health state. It is never held across I/O, nor
	// while taking mu.
	hmu         sync.Mutex
	lastAck     time.Time
	progressAt  time.Time // last acknowledgement, or when records became pending after none were
	unreachable bool      // the last attempt failed to reach the brokers
	reason      string    // cause of the last failure, until a success
	stallNoted  bool      // the current stall is counted and logged
	spoolErr    string    // why the spool cannot write, until over has drained

	// held and heldBytes mirror the records and bytes of mem and over.
	held, heldBytes atomic.Int64

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
	linger      *time.Timer // the wait of records for BatchTimeout
	arrivals    []time.Time
	refusals    uint64 // records the broker refused as too large

	delivered, failed, spooled, retries, stalls, batches atomic.Uint64
	// memDropped and memDropGaps count memory drops (see shed); lost the
	// records lost without a gap; spoolErrors the failed spool writes.
	memDropped, memDropGaps, lost, spoolErrors atomic.Uint64
}

// item is a record held in memory with its Kafka message.
type item struct {
	rec  schema.Record
	msg  kafka.Message
	size int64     // messageSize of msg
	at   time.Time // when Write accepted it (for BatchTimeout)
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
		pcm:       newPCMPool(),
	}
	if cfg.Spool.Dir != "" {
		if w.spool, err = openSpool(cfg.Spool, cfg.Logger); err != nil {
			return nil, fmt.Errorf("sink: %w", err)
		}
		// A batch in flight stays in the spool until acknowledged, and a
		// full spool cannot drop it: keep it a small part of the spool.
		w.bt.maxTotal = cfg.Spool.MaxBytes / 8
		if w.spool.len() > 0 {
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
// ErrTooLarge for a record it refuses, ErrClosed after Close, or
// ErrBufferFull when memory is full and there is no spool. When the spool
// cannot write (disk full or failing), r is held in memory instead, the
// oldest records making room for it (see WriterStats.Dropped). The writer
// keeps r.PCM until the record is delivered: the caller must not modify it
// after Write returns nil. Records of a stream must be written in order,
// from one goroutine at a time. See AllocPCM for the buffer of r.PCM.
func (w *Writer) Write(_ context.Context, r schema.Record) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("sink: write: %w", err)
	}
	m := Message(r, w.cfg.Topic)
	it := item{rec: r, msg: m, size: messageSize(&m), at: time.Now()}
	w.mu.Lock()
	defer w.mu.Unlock()
	if it.size > w.maxRecord {
		return fmt.Errorf("sink: write stream %q seq %d: %w: %d bytes, %s allows %d", r.Stream, r.Seq, ErrTooLarge, it.size, w.limitBy, w.maxRecord)
	}
	if w.closed {
		return fmt.Errorf("sink: write stream %q seq %d: %w", r.Stream, r.Seq, ErrClosed)
	}
	spooled := 0
	if w.spool != nil {
		spooled = w.spool.len()
	}
	if len(w.mem) == 0 && len(w.over) == 0 && spooled == 0 {
		w.hmu.Lock()
		w.progressAt = time.Now()
		w.hmu.Unlock()
	}
	full := w.memBytes+it.size > w.cfg.BufferBytes
	switch {
	case w.spool == nil && full:
		w.failed.Add(1)
		return fmt.Errorf("sink: write stream %q seq %d: %w (%d bytes)", r.Stream, r.Seq, ErrBufferFull, w.cfg.BufferBytes)
	case w.spool == nil:
		w.push(&w.mem, &w.memBytes, it)
		if w.joinsWaiting() {
			return nil
		}
	case len(w.over) > 0:
		w.overflow(it)
	case spooled > 0 || w.degraded || full:
		if err := w.spool.append(&r); err != nil {
			w.spoolFailed(err)
			w.overflow(it)
			break
		}
		w.spooled.Add(1)
		// The spool copied the record: its PCM is free.
		w.pcm.put(r.PCM)
	default:
		w.push(&w.mem, &w.memBytes, it)
		if w.joinsWaiting() {
			return nil
		}
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// AllocPCM returns an empty buffer for exactly n bytes of an audio record's
// PCM, for the caller to fill and pass to Write as r.PCM. The writer takes
// the buffer back once nothing can read it any more, and hands it out
// again: the record was acknowledged by a produce that returned (and was in
// no produce that failed, timed out or hung, which may still be sending
// it), or was copied into the spool by Write. Records otherwise delivered,
// dropped or refused by the broker leave their buffer to the GC. So once
// Write accepts the record (returns nil), the buffer is the writer's: the
// caller must neither keep nor modify it; a record Write returns an error
// for keeps its buffer, the caller's to write again or drop. A buffer filled
// with other than n bytes is not taken back. Ingest's stream workers call
// it, concurrently; it does not allocate once buffers are coming back.
func (w *Writer) AllocPCM(n int) []byte {
	return w.pcm.get(n)
}

// push appends it to a queue; mu is held.
func (w *Writer) push(q *[]item, bytes *int64, it item) {
	*q = append(*q, it)
	*bytes += it.size
	w.held.Add(1)
	w.heldBytes.Add(it.size)
}

// overflow holds it in memory after the records the spool could not take,
// dropping the oldest records held to make room if needed; mu is held.
func (w *Writer) overflow(it item) {
	if w.memBytes+w.overBytes+it.size > w.cfg.BufferBytes {
		w.shed(it.size)
	}
	w.push(&w.over, &w.overBytes, it)
}

// spoolFailed records that the spool could not write: Health reports it
// until the records held instead have been delivered.
func (w *Writer) spoolFailed(err error) {
	w.spoolErrors.Add(1)
	w.hmu.Lock()
	first := w.spoolErr == ""
	w.spoolErr = err.Error()
	w.hmu.Unlock()
	if first {
		w.log.Error("sink: the spool cannot write; records are held in memory, and the oldest replaced by sink_drop gaps when it is full",
			"topic", w.cfg.Topic, "buffer_bytes", w.cfg.BufferBytes, "error", err)
	}
}

// shed drops the oldest records held in memory that are not in flight,
// those of mem before those of over, until n more bytes fit in BufferBytes
// with a sixteenth of it to spare, and puts sink_drop gap records covering
// exactly their audio in their place (as a full spool does: see dropGaps).
// mu is held.
func (w *Writer) shed(n int64) {
	need := w.memBytes + w.overBytes + n - (w.cfg.BufferBytes - w.cfg.BufferBytes/16)
	var drops []Drop
	var gaps int
	for _, q := range [...]struct {
		items  *[]item
		bytes  *int64
		pinned int
	}{{&w.mem, &w.memBytes, w.memPinned}, {&w.over, &w.overBytes, w.overPinned}} {
		if need <= 0 {
			break
		}
		items := *q.items
		end := q.pinned
		var freed int64
		for end < len(items) && freed < need {
			freed += items[end].size
			end++
		}
		if end == q.pinned {
			continue
		}
		dropped := make([]schema.Record, 0, end-q.pinned)
		for i := q.pinned; i < end; i++ {
			dropped = append(dropped, items[i].rec)
		}
		gapRecs, d := dropGaps(dropped)
		repl := make([]item, 0, len(gapRecs))
		var added int64
		for _, g := range gapRecs {
			m := Message(g, w.cfg.Topic)
			repl = append(repl, item{rec: g, msg: m, size: messageSize(&m)})
			added += repl[len(repl)-1].size
		}
		*q.items = slices.Replace(items, q.pinned, end, repl...)
		*q.bytes += added - freed
		w.held.Add(int64(len(repl) - (end - q.pinned)))
		w.heldBytes.Add(added - freed)
		need -= freed - added
		drops = append(drops, d...)
		gaps += len(gapRecs)
	}
	var lost int
	var audio time.Duration
	for _, d := range drops {
		lost, audio = lost+d.Records, audio+d.Audio
	}
	total := w.memDropped.Add(uint64(lost))
	w.memDropGaps.Add(uint64(gaps))
	w.drops = append(w.drops, drops...)
	// Rounds follow each other every BufferBytes/16 while the spool cannot
	// write: logged at powers of two.
	w.shedRounds++
	if n := w.shedRounds; len(drops) > 0 && n&(n-1) == 0 {
		w.log.Warn("sink: spool cannot write and memory is full: dropped the oldest records, replaced by sink_drop gaps",
			"records", lost, "audio", audio, "records_dropped_so_far", total, "rounds", n, "buffer_bytes", w.cfg.BufferBytes)
	}
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
		return fmt.Errorf("sink: ping: %w", ErrClosed)
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
	if largest := limit - recordBatchOverhead; largest < w.cfg.BatchBytes {
		w.mu.Lock()
		w.maxRecord = largest
		w.limitBy = fmt.Sprintf("topic %q max.message.bytes (%d)", w.cfg.Topic, limit)
		w.mu.Unlock()
		w.log.Info("sink: records limited by the topic's max.message.bytes", "topic", w.cfg.Topic, "max_message_bytes", limit, "batch_bytes", w.cfg.BatchBytes)
	}
	return nil
}

// Stats returns the writer's counters and gauges. It never waits for disk
// I/O or Kafka.
func (w *Writer) Stats() WriterStats {
	st := WriterStats{
		MemoryRecords:    int(w.held.Load()),
		MemoryBytes:      w.heldBytes.Load(),
		Delivered:        w.delivered.Load(),
		Failed:           w.failed.Load(),
		Spooled:          w.spooled.Load(),
		Retries:          w.retries.Load(),
		Stalls:           w.stalls.Load(),
		Batches:          w.batches.Load(),
		Dropped:          w.memDropped.Load(),
		DropGaps:         w.memDropGaps.Load(),
		Lost:             w.lost.Load(),
		SpoolWriteErrors: w.spoolErrors.Load(),
	}
	if w.spool != nil {
		ss := w.spool.stats()
		st.SpoolRecords, st.SpoolBytes = ss.records, ss.bytes
		st.Dropped += ss.dropped
		st.DropGaps += ss.dropGaps
		st.Lost += ss.unreadable
		st.CorruptTails, st.CorruptSkips = ss.corruptTails, ss.corruptSkips
	}
	w.hmu.Lock()
	st.SpoolFailing = w.spoolErr != ""
	w.hmu.Unlock()
	return st
}

// Health returns a snapshot of delivery progress, for a watchdog. It never
// waits for disk I/O or Kafka.
func (w *Writer) Health() Health {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	return w.healthLocked(time.Now())
}

// healthLocked returns the health at now; hmu is held.
func (w *Writer) healthLocked(now time.Time) Health {
	h := Health{Pending: int(w.held.Load()), LastAck: w.lastAck, SpoolError: w.spoolErr}
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

// source is where a batch's records are held, pinned, until acknowledged.
type source int

const (
	srcMem   source = iota // the front of Writer.mem
	srcSpool               // the spool
	srcOver                // the front of Writer.over
)

// batch is the records of one produce call, oldest first.
type batch struct {
	src   source
	recs  []schema.Record
	msgs  []kafka.Message
	acked []bool
	// failed marks the records that were in an attempt that failed: the
	// producer may still be sending them (a timed-out or hung call), so
	// their PCM is never taken back (see recycle).
	failed []bool
	left   int   // records not acknowledged yet
	sent   []int // indexes of the records of the attempt in flight
	// single sends one record per attempt, after the broker refused the
	// batch as too large.
	single bool
}

func (b *batch) add(r schema.Record, m kafka.Message) {
	b.recs = append(b.recs, r)
	b.msgs = append(b.msgs, m)
	b.acked = append(b.acked, false)
	b.failed = append(b.failed, false)
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
		w.recycle(b)
		b = nil
	}
	w.finish(b)
}

// nextBatch waits for records and returns the next batch of the oldest, or
// nil once Close was called and nothing is left.
func (w *Writer) nextBatch() *batch {
	for {
		b, wait := w.takeBatch()
		if b != nil {
			return b
		}
		w.mu.Lock()
		closed := w.closed
		w.mu.Unlock()
		// Records that were waiting when Close came go once the loop
		// comes round (lingers is then 0); only an empty writer stops.
		if closed && wait == 0 {
			return nil
		}
		var expired <-chan time.Time
		if wait > 0 {
			if w.linger == nil {
				w.linger = time.NewTimer(wait)
			} else {
				w.linger.Reset(wait)
			}
			expired = w.linger.C
		}
		select {
		case <-w.wake:
		case <-w.closing:
		case <-expired:
		}
		if w.linger != nil {
			w.linger.Stop()
		}
		w.reportDrops()
	}
}

// joinsWaiting reports whether the record just added to mem joins records
// that wait out BatchTimeout without making them a full batch; mu is held.
// The writer then needs no wake-up: it waits on the timer of the oldest, or
// is delivering and takes mem when it is done. The first record of mem
// always wakes it, since it waits without a timer while mem is empty.
func (w *Writer) joinsWaiting() bool {
	return len(w.mem) > 1 && w.lingers(time.Now()) > 0
}

// lingers returns how much longer the records in memory wait for others
// (BatchTimeout after the oldest was written), or 0 if they go now: they
// fill a batch, or Close was called; mu is held.
func (w *Writer) lingers(now time.Time) time.Duration {
	if w.cfg.BatchTimeout <= 0 || w.closed || len(w.mem) >= w.cfg.BatchSize || w.memBytes >= w.cfg.BatchBytes {
		return 0
	}
	return max(0, w.cfg.BatchTimeout-now.Sub(w.mem[0].at))
}

// takeBatch returns a batch of the oldest records: from memory if it holds
// any (they are older than anything spooled), else from the spool, else
// from the records the spool could not take; nil if there are none, or
// if those in memory wait for others (see lingers) for wait.
func (w *Writer) takeBatch() (_ *batch, wait time.Duration) {
	parts := w.partitionCount()
	w.mu.Lock()
	w.bt.reset(parts, w.maxRecord)
	if len(w.mem) > 0 {
		if wait := w.lingers(time.Now()); wait > 0 {
			w.mu.Unlock()
			return nil, wait
		}
		b := w.batchOf(w.mem, srcMem)
		w.memPinned = len(b.recs)
		w.mu.Unlock()
		return b, 0
	}
	w.mu.Unlock()
	if w.spool != nil {
		b := &batch{src: srcSpool}
		recs, _ := w.spool.peek(w.cfg.BatchSize, func(r *schema.Record) bool {
			m := Message(*r, w.cfg.Topic)
			if !w.bt.add(&m) {
				return false
			}
			b.msgs = append(b.msgs, m)
			return true
		})
		if len(recs) > 0 {
			b.recs = recs
			b.acked = make([]bool, len(recs))
			b.failed = make([]bool, len(recs))
			b.left = len(recs)
			return b, 0
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.over) == 0 {
		return nil, 0
	}
	b := w.batchOf(w.over, srcOver)
	w.overPinned = len(b.recs)
	return b, 0
}

// batchOf returns a batch of the first records of q; mu is held. A batch
// pins at most half of BufferBytes (and at least one record): what is in
// flight cannot be shed, so the other half stays free for shed to make room
// in, and the records held never pass BufferBytes.
func (w *Writer) batchOf(q []item, src source) *batch {
	b := w.spare
	if b == nil {
		b = &batch{}
	}
	w.spare = nil
	b.src = src
	var bytes int64
	for i := range q {
		it := &q[i]
		if i > 0 && bytes+it.size > w.cfg.BufferBytes/2 {
			break
		}
		if !w.bt.add(&it.msg) {
			break
		}
		b.add(it.rec, it.msg)
		bytes += it.size
	}
	return b
}

// partitionCount returns the topic's partition count, refreshed at most
// every metadataTTL while Kafka answers; 0 if never known.
func (w *Writer) partitionCount() int {
	if time.Since(w.partitionAt) < metadataTTL {
		return w.partitions
	}
	w.hmu.Lock()
	failing := w.reason != ""
	w.hmu.Unlock()
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
		err := w.prod.produce(ctx, msgs, w.partitions, w.cfg.WriteTimeout+hangGrace)
		cancel()
		b.markFailed(err)
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
	w.hmu.Lock()
	w.lastAck, w.progressAt = now, now
	w.hmu.Unlock()
	if w.cfg.Observer != nil {
		w.cfg.Observer.Acknowledged(w.arrivals)
	}
}

// markFailed marks the records of the attempt that err failed: all of them,
// or those with an error of a kafka.WriteErrors (the others were
// acknowledged, their request sent whole).
func (b *batch) markFailed(err error) {
	if err == nil {
		return
	}
	var werrs kafka.WriteErrors
	partial := errors.As(err, &werrs) && len(werrs) == len(b.sent)
	for j, i := range b.sent {
		if !partial || werrs[j] != nil {
			b.failed[i] = true
		}
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
	w.lost.Add(1)
	return true
}

// succeeded records a produce call that delivered the rest of its batch.
func (w *Writer) succeeded(attempt int) {
	w.batches.Add(1)
	w.hmu.Lock()
	wasStalled := w.stallNoted
	w.reason, w.unreachable, w.stallNoted = "", false, false
	w.hmu.Unlock()
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
	w.hmu.Lock()
	w.reason, w.unreachable = reason, unreachable
	w.hmu.Unlock()
	w.mu.Lock()
	if !w.degraded && w.spool != nil {
		w.log.Warn("sink: kafka is failing; records go to the spool until it has caught up", "topic", w.cfg.Topic, "reason", reason)
	}
	w.degraded = true
	w.mu.Unlock()
	w.evacuate(b)
	w.hmu.Lock()
	h := w.healthLocked(time.Now())
	newStall := h.Stalled && !w.stallNoted
	w.stallNoted = w.stallNoted || h.Stalled
	w.hmu.Unlock()
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

// evacuate moves the records held in mem to the front of the spool, b's
// unacknowledged records first, so that they survive a crash and keep their
// place before everything spooled after them; b then counts as a batch from
// the spool. Without a spool, or on a disk error, they stay in memory. It
// writes to the spool without holding mu: Write, degraded or closed by now,
// adds nothing to mem meanwhile, and shed leaves mem alone (all of it is
// pinned).
func (w *Writer) evacuate(b *batch) {
	w.mu.Lock()
	if w.spool == nil || len(w.mem) == 0 || b.src != srcMem {
		w.mu.Unlock()
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
	w.memPinned = len(w.mem)
	w.mu.Unlock()

	err := w.spool.prepend(recs, pinned)

	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.memPinned = len(b.recs)
		w.log.Error("sink: cannot move records to the spool; they stay in memory", "records", len(recs), "error", err)
		w.spoolFailed(err)
		return
	}
	w.spooled.Add(uint64(len(recs)))
	w.held.Add(-int64(len(w.mem)))
	w.heldBytes.Add(-w.memBytes)
	clear(w.mem)
	w.mem, w.memBytes, w.memPinned = w.mem[:0], 0, 0
	*b = batch{src: srcSpool, recs: b.recs[:0], msgs: b.msgs[:0], acked: b.acked[:0], failed: b.failed[:0]}
	for _, r := range recs[:pinned] {
		b.add(r, Message(r, w.cfg.Topic))
	}
}

// recycle keeps an acknowledged batch taken from memory for the next one,
// so that steady delivery does not allocate a batch's slices each time, and
// gives the PCM of its records back to AllocPCM: acknowledge has removed
// them from mem, the producer returned and keeps no message, and the
// observer was given their arrivals only. Not the PCM of a record that was
// in a failed attempt (the producer may still send it), nor of records
// refused (failed too) or held in over (rare: the spool cannot write; left
// to the GC). A batch from the spool is not kept: its records are the
// spool's, and those evacuated to it from memory were all in a failed
// attempt.
func (w *Writer) recycle(b *batch) {
	if b.src == srcSpool {
		return
	}
	if b.src == srcMem {
		for i := range b.recs {
			if b.acked[i] && !b.failed[i] {
				w.pcm.put(b.recs[i].PCM)
			}
		}
	}
	clear(b.recs)
	clear(b.msgs)
	*b = batch{recs: b.recs[:0], msgs: b.msgs[:0], acked: b.acked[:0], failed: b.failed[:0], sent: b.sent[:0]}
	w.spare = b
}

// acknowledge removes a delivered batch from where it is held, and goes
// back to memory once the spool has drained.
func (w *Writer) acknowledge(b *batch) {
	if b.src == srcSpool {
		w.spool.ack(len(b.recs))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch b.src {
	case srcMem:
		w.dequeue(&w.mem, &w.memBytes, len(b.recs))
		w.memPinned = 0
	case srcOver:
		w.dequeue(&w.over, &w.overBytes, len(b.recs))
		w.overPinned = 0
		if len(w.over) == 0 {
			w.hmu.Lock()
			failing := w.spoolErr != ""
			w.spoolErr = ""
			w.hmu.Unlock()
			if failing {
				w.log.Info("sink: records held while the spool could not write are delivered; the spool is tried again", "topic", w.cfg.Topic)
			}
		}
	}
	if w.degraded && (w.spool == nil || w.spool.len() == 0) && len(w.over) == 0 {
		w.degraded = false
		w.log.Info("sink: spool drained; records go through memory again", "topic", w.cfg.Topic)
	}
}

// dequeue removes the first n records of a queue; mu is held.
func (w *Writer) dequeue(q *[]item, bytes *int64, n int) {
	var size int64
	for _, it := range (*q)[:n] {
		size += it.size
	}
	// Move what is left to the front when it is no more than what went, so
	// that appends reuse the array (amortised: each item moves at most once
	// per item dequeued); else let the slice's start advance.
	if rest := len(*q) - n; rest <= n {
		copy(*q, (*q)[n:])
		clear((*q)[rest:])
		*q = (*q)[:rest]
	} else {
		clear((*q)[:n])
		*q = (*q)[n:]
	}
	*bytes -= size
	w.held.Add(-int64(n))
	w.heldBytes.Add(-size)
}

// finish runs once deliveries stop: it moves what memory holds to the
// spool (mem to its head, over to its tail), closes the producers and the
// spool, and sets closeErr.
func (w *Writer) finish(b *batch) {
	if b == nil {
		b = &batch{}
	}
	w.evacuate(b)
	w.mu.Lock()
	lost := len(w.mem) // no spool, or it failed; b's acknowledged records are not lost
	if b.src == srcMem {
		for i := range min(len(b.acked), len(w.mem)) {
			if b.acked[i] {
				lost--
			}
		}
	}
	var over []schema.Record
	for i, it := range w.over {
		if b.src == srcOver && i < len(b.acked) && b.acked[i] {
			continue
		}
		over = append(over, it.rec)
	}
	w.held.Store(0)
	w.heldBytes.Store(0)
	w.mem, w.memBytes, w.over, w.overBytes = nil, 0, nil, 0
	w.mu.Unlock()
	for i := range over {
		if err := w.spool.append(&over[i]); err != nil {
			lost += len(over) - i
			w.log.Error("sink: cannot move records to the spool at close; they are lost", "records", len(over)-i, "error", err)
			break
		}
		w.spooled.Add(1)
	}
	w.hmu.Lock()
	reason := w.reason
	w.hmu.Unlock()
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
		w.log.Error("sink: a retired producer's call did not return; abandoning it", "topic", w.cfg.Topic)
	}

	var left int
	var leftBytes int64
	if w.spool != nil {
		ss := w.spool.stats()
		left, leftBytes = ss.records, ss.bytes
		w.spool.close()
	}
	w.failed.Add(uint64(lost))
	w.lost.Add(uint64(lost))
	st := w.Stats()
	if st.Lost > 0 || st.Dropped > 0 || left > 0 {
		w.closeErr = &UndeliveredError{Topic: w.cfg.Topic, Spooled: left, SpooledBytes: leftBytes, Dir: w.cfg.Spool.Dir,
			Dropped: int(st.Dropped), Lost: int(st.Lost), LastError: reason, Timeout: w.cfg.CloseTimeout}
	}
}

// reportDrops passes the drops of the spool and of memory to the observer.
func (w *Writer) reportDrops() {
	if w.cfg.Observer == nil {
		return
	}
	var drops []Drop
	if w.spool != nil {
		drops = w.spool.takeDrops()
	}
	w.mu.Lock()
	drops = append(drops, w.drops...)
	w.drops = nil
	w.mu.Unlock()
	for _, d := range drops {
		w.cfg.Observer.Dropped(d)
	}
}

// classify turns a produce error into a short, credentials-free reason, and
// says whether the brokers were unreachable and whether the producer must be
// replaced (the call timed out or hung: kafka-go may still send a request).
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

// messageSize is an upper bound of the bytes m takes in a produce request's
// record batch, counted as kafka-go's Writer counted it against BatchBytes
// (4+1+1 bytes of framing, length-prefixed key and value, an 8-byte
// timestamp, and headers with varint lengths of at most 5 bytes): the
// batcher keeps each partition's share within the broker's limit by it.
func messageSize(m *kafka.Message) int64 {
	n := 4 + 1 + 1 + 4 + len(m.Key) + 4 + len(m.Value) + 8 + 5
	for _, h := range m.Headers {
		n += 5 + len(h.Key) + 5 + len(h.Value)
	}
	return int64(n)
}
