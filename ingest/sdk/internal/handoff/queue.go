// Package handoff is the part both SDK backends share between the thread
// that reads a stream and the callbacks: a bounded frame queue per handle
// that counts its drops, and a fixed pool of workers that deliver the
// callbacks of every handle, one handle at a time, in order.
//
// A handle is put on the pool's ready list when its queue turns non-empty
// (or when a burst held with Hold is released), and a worker then drains
// up to Batch items of it per turn: one wake-up per burst, not per packet.
package handoff

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Batch is how many callbacks a worker makes for one handle before the next
// ready handle has a turn.
const Batch = 16

// MaxPendingStatus bounds the statuses waiting for delivery on one handle.
// Statuses are rare (connect, disconnect, overrun reports coalesced per
// second), so only a runaway consumer can fill it.
const MaxPendingStatus = 16

// PoisonByte overwrites frame buffers after each callback when
// Config.Poison is set.
const PoisonByte = 0xDB

// initialSlots is the queue's first allocation; it doubles up to its bound.
// A read burst after PLAY, with reads coalesced every 60 ms, is 3 frames of
// 20 ms (6 of 10 ms): 8 slots hold it. A slot is a header of ~150 bytes
// (frame, buffer pointer, drop count); its payload buffer is lent by the
// Pool only while the slot holds a frame, so a drained queue holds none
// (when each slot kept its own, they were ~4.4 KiB per stream in a heap
// profile at 100 streams).
const initialSlots = 8

// shrinkAfter is how many times a grown queue drains, never holding more
// than initialSlots/2 frames meanwhile, before it gives its slots back
// (~10–20 s at 25–50 bursts a second): a backlog after a pause, such as the
// first read after PLAY, grows a queue to 16 to 64 slot headers that would
// otherwise be kept for the life of the stream (their buffers went back to
// the Pool as the backlog drained).
const shrinkAfter = 512

// Config configures a Queue. F is the backend's frame type, S its status
// type.
type Config[F, S any] struct {
	// Bound is the most frames the queue holds; it grows on demand up to
	// it. BoundReason says why a frame dropped at the bound was.
	Bound       int
	BoundReason string
	// Full, if set, reports why a frame next cannot be queued behind
	// oldest, the oldest of the n queued, or "" if it can. It is called
	// with the queue locked, on the producer's thread.
	Full func(n int, oldest, next *F) string
	// Deliver runs the data callback for f, whose payload is data, valid
	// only until it returns; dropped frames were dropped just before it
	// because of reason. It runs on a worker, and reports false when no
	// callback was installed (the frame counts as dropped).
	Deliver func(f *F, data []byte, dropped uint64, reason string) bool
	// Status delivers one status, on a worker.
	Status func(st S)
	// BurstEnd, if set, is called on the worker once it has delivered one
	// or more frames of the queue and leaves it (the queue is empty, or its
	// turn's Batch is spent): once per burst, after the burst's callbacks.
	BurstEnd func()
	// Poison overwrites each frame's bytes with PoisonByte once Deliver
	// returns, before the buffer goes back to the Pool.
	Poison bool
	// Labels, if set, are the pprof labels of the worker while it serves
	// the queue.
	Labels context.Context
}

// slot is one queued frame. buf, lent by the Pool, holds its payload from
// Push until the worker takes the frame for delivery (it then owns the
// buffer and gives it back after the callback); nil in a free slot.
type slot[F any] struct {
	frame      F
	buf        *[]byte
	dropped    uint64
	dropReason string
}

// Queue is one handle's bounded queue of frames and statuses. It has one
// producer at a time (the reader of the stream) and one consumer at a time
// (the worker serving it).
type Queue[F, S any] struct {
	cfg  Config[F, S]
	pool *Pool

	// busy is held by the worker delivering this queue's callbacks, so
	// that Close can wait for an in-flight callback.
	busy sync.Mutex

	mu         sync.Mutex
	slots      []slot[F]
	head       int // index of the oldest queued frame
	count      int // queued frames
	scheduled  bool
	held       bool // a burst is being read: schedule on Release
	closed     bool
	droppedRun uint64 // frames dropped since the last queued one
	dropReason string // why the first of them was
	statuses   []S
	peak       int // most frames queued since the last shrink check
	drains     int // times the queue drained since then

	cur F // the frame being delivered; the serving worker's

	// incoming is the frame being pushed, under mu: Full gets a pointer to
	// it rather than to the caller's frame, which would then escape to the
	// heap on every push.
	incoming F

	frames, dropped, statusDropped atomic.Uint64
}

// NewQueue returns an empty queue served by p.
func NewQueue[F, S any](p *Pool, cfg Config[F, S]) *Queue[F, S] {
	return &Queue[F, S]{cfg: cfg, pool: p}
}

// Push copies payload and f into the queue, or drops the frame and counts
// it when the queue is full. It reports whether the frame was dropped.
// It runs on the producer's thread and never blocks beyond the queue's
// mutex.
func (q *Queue[F, S]) Push(payload []byte, f *F) (dropped bool) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.incoming = *f
	if reason := q.full(&q.incoming); reason != "" {
		q.dropped.Add(1)
		if q.droppedRun == 0 {
			q.dropReason = reason
		}
		q.droppedRun++
		q.mu.Unlock()
		return true
	}
	if q.count == len(q.slots) {
		q.grow()
	}
	s := &q.slots[(q.head+q.count)%len(q.slots)]
	s.buf = q.pool.bufs.Copy(payload)
	s.frame = q.incoming
	s.dropped, q.droppedRun = q.droppedRun, 0
	s.dropReason, q.dropReason = q.dropReason, ""
	q.count++
	q.peak = max(q.peak, q.count)
	schedule := q.markScheduled()
	q.mu.Unlock()
	if schedule {
		q.pool.enqueue(q)
	}
	return false
}

// full must be called with q.mu held.
func (q *Queue[F, S]) full(f *F) string {
	if q.count >= q.cfg.Bound {
		return q.cfg.BoundReason
	}
	if q.cfg.Full != nil && q.count > 0 {
		return q.cfg.Full(q.count, &q.slots[q.head].frame, f)
	}
	return ""
}

// grow doubles the ring up to the bound, keeping the queued frames in
// order. It must be called with q.mu held.
func (q *Queue[F, S]) grow() {
	n := min(max(initialSlots, 2*len(q.slots)), q.cfg.Bound)
	grown := make([]slot[F], n)
	for i := range q.count {
		grown[i] = q.slots[(q.head+i)%len(q.slots)]
	}
	q.slots, q.head = grown, 0
}

// shrink gives back the slots of a grown queue that has drained
// shrinkAfter times without holding more than initialSlots/2 frames; Push
// makes initialSlots again. It is called by the serving worker with q.mu
// held and the queue empty, so no slot is in use.
func (q *Queue[F, S]) shrink() {
	if len(q.slots) <= initialSlots {
		return
	}
	if q.drains++; q.drains < shrinkAfter {
		return
	}
	if q.peak <= initialSlots/2 {
		q.slots, q.head = nil, 0
	}
	q.peak, q.drains = 0, 0
}

// PushStatus queues a status for delivery, or drops it and counts it when
// MaxPendingStatus are pending.
func (q *Queue[F, S]) PushStatus(st S) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if len(q.statuses) >= MaxPendingStatus {
		q.statusDropped.Add(1)
		q.mu.Unlock()
		return
	}
	q.statuses = append(q.statuses, st)
	// A status ends any held burst: the reader that held it may have ended
	// without another read (a disconnect is pushed once it has, from
	// another goroutine), and then nothing else would release it.
	q.held = false
	schedule := q.markScheduled()
	q.mu.Unlock()
	if schedule {
		q.pool.enqueue(q)
	}
}

// Hold defers scheduling: frames pushed until Release wait for it, so that
// the packets of one read burst cost one worker wake-up. The producer
// calls it after a read returned data, Release before its next read.
func (q *Queue[F, S]) Hold() {
	q.mu.Lock()
	q.held = true
	q.mu.Unlock()
}

// Release schedules what was pushed since Hold.
func (q *Queue[F, S]) Release() {
	q.mu.Lock()
	if !q.held {
		q.mu.Unlock()
		return
	}
	q.held = false
	schedule := !q.closed && (q.count > 0 || len(q.statuses) > 0) && q.markScheduled()
	q.mu.Unlock()
	if schedule {
		q.pool.enqueue(q)
	}
}

// markScheduled reports whether q must be put on the ready list: it has
// work, is not on it and no burst is held. It must be called with q.mu held.
func (q *Queue[F, S]) markScheduled() bool {
	if q.scheduled || q.held {
		return false
	}
	q.scheduled = true
	return true
}

// serve delivers up to Batch callbacks, statuses first, and reports
// whether q still has work (it is then put back on the ready list).
func (q *Queue[F, S]) serve() (more bool) {
	q.busy.Lock()
	defer q.busy.Unlock()
	delivered := false
	if q.cfg.BurstEnd != nil {
		// Before busy is released: no BurstEnd runs once Close returned.
		defer func() {
			if delivered {
				q.cfg.BurstEnd()
			}
		}()
	}
	for range Batch {
		q.mu.Lock()
		if q.closed {
			q.scheduled = false
			q.mu.Unlock()
			return false
		}
		if len(q.statuses) > 0 {
			st := q.statuses[0]
			n := copy(q.statuses, q.statuses[1:])
			var zero S
			q.statuses[n] = zero
			q.statuses = q.statuses[:n]
			q.mu.Unlock()
			q.cfg.Status(st)
			continue
		}
		if q.count == 0 {
			q.shrink()
			q.scheduled = false
			q.mu.Unlock()
			return false
		}
		// The worker takes the slot's buffer: from here on it alone
		// holds it (Close gives back only the buffers still in slots),
		// until it gives it back below, after the callback.
		sl := q.slots[q.head]
		q.slots[q.head].buf = nil
		q.mu.Unlock()

		// The slot cannot be reused while it is counted: Push writes
		// only free slots (and grow only copies them). Deliver gets a
		// copy of the frame, which it may write.
		q.cur = sl.frame
		delivered = true
		data := *sl.buf
		if q.cfg.Deliver(&q.cur, data, sl.dropped, sl.dropReason) {
			q.frames.Add(1)
		} else {
			q.dropped.Add(1)
		}
		if q.cfg.Poison {
			for i := range data {
				data[i] = PoisonByte
			}
		}
		q.pool.bufs.Put(sl.buf)
		var zero F
		q.cur = zero // Deliver may have kept data in it

		q.mu.Lock()
		if !q.closed {
			q.head = (q.head + 1) % len(q.slots)
			q.count--
		}
		q.mu.Unlock()
	}
	q.mu.Lock()
	more = !q.closed && (q.count > 0 || len(q.statuses) > 0)
	if !more {
		q.scheduled = false
	}
	q.mu.Unlock()
	return more
}

func (q *Queue[F, S]) labels() context.Context { return q.cfg.Labels }

// Close discards what is queued and waits for a callback in flight: when
// it returns, no callback of q runs or will run. Pushes after it are
// ignored. It must not be called from a callback.
func (q *Queue[F, S]) Close() {
	q.mu.Lock()
	q.closed = true
	q.count = 0
	q.statuses = nil
	q.mu.Unlock()
	q.busy.Lock()
	// No worker serves q any more (serve finds it closed): the buffers
	// still in slots, of frames never delivered, go back to the Pool. The
	// one of a frame in delivery when Close began was given back by its
	// worker.
	q.mu.Lock()
	for i := range q.slots {
		if b := q.slots[i].buf; b != nil {
			q.slots[i].buf = nil
			q.pool.bufs.Put(b)
		}
	}
	q.slots, q.head = nil, 0
	q.mu.Unlock()
	q.busy.Unlock()
}

// Counts are a queue's counters.
type Counts struct {
	// Frames counts frames delivered (the data callback returned).
	Frames uint64
	// Dropped counts frames dropped because the queue was full.
	Dropped uint64
	// StatusDropped counts statuses dropped because MaxPendingStatus
	// were pending.
	StatusDropped uint64
	// Queued is the number of frames waiting for a worker.
	Queued int
}

// Counts returns q's counters.
func (q *Queue[F, S]) Counts() Counts {
	q.mu.Lock()
	n := q.count
	q.mu.Unlock()
	return Counts{Frames: q.frames.Load(), Dropped: q.dropped.Load(), StatusDropped: q.statusDropped.Load(), Queued: n}
}

// Clock marks when callbacks start and end, for the progress a handle's
// Stats report: Start and End around each data callback.
type Clock struct {
	since atomic.Int64 // start of the callback in flight, 0 if none
	last  atomic.Int64 // end of the last callback, 0 for never
}

// Start records the start of a callback and returns its time.
func (c *Clock) Start() time.Time {
	t := time.Now()
	c.since.Store(t.UnixNano())
	return t
}

// End records the end of a callback and returns its time.
func (c *Clock) End() time.Time {
	t := time.Now()
	c.since.Store(0)
	c.last.Store(t.UnixNano())
	return t
}

// Since is when the callback in flight started; zero when none runs.
func (c *Clock) Since() time.Time { return UnixNano(c.since.Load()) }

// Last is when the last callback returned; zero for never.
func (c *Clock) Last() time.Time { return UnixNano(c.last.Load()) }

// UnixNano converts a stored time; 0 stays the zero time.
func UnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
