package ingest

import (
	"sync/atomic"
	"time"

	"github.com/earshot/earshot/ingest/internal/bufpool"
	"github.com/earshot/earshot/ingest/sdk"
)

// packet is one frame copied out of the SDK callback. Packets are pooled per
// stream; their payload buffers are lent by the supervisor's pool, shared by
// every stream, from put until the worker releases the packet, so that a
// stream holds buffers only for the packets queued or being processed. The
// handoff allocates nothing in steady state.
type packet struct {
	// data is the payload, *buf; both are nil in a free packet.
	data    []byte
	buf     *[]byte
	ts      uint32
	seq     uint16
	marker  bool
	ssrc    uint32
	arrival time.Time
	ntp     time.Time
	// dropped counts frames dropped at the handoff just before this one;
	// sdkDropped those the SDK dropped from its own queue, for
	// sdkDropReason.
	dropped, sdkDropped uint64
	sdkDropReason       string
}

// handoff is the bounded queue between a stream's SDK callback and its
// worker: single-producer single-consumer rings (the SDK serves a handle's
// callbacks on one worker at a time; the stream's run goroutine consumes)
// with a parked flag, so that the callback wakes the worker only when it
// waits, once per burst rather than per packet, and the worker takes every
// packet queued per wake-up. Packets go back to the producer through a
// second ring and are reused; they are made as the queue first needs them,
// so a stream whose worker keeps up holds a few, not HandoffLen. Their
// payload buffers go back to bufs as they are released: a drained handoff
// holds packets (128 bytes each), no payload.
type handoff struct {
	queue, free spsc
	bufs        *bufpool.Pool // shared by the streams
	made        int           // packets made so far, at most len(queue.ring); producer's
	// parked says the consumer waits on wake, or is about to.
	parked atomic.Bool
	wake   chan struct{} // capacity 1
}

// spsc is a ring of packets with one producer and one consumer. head is
// the next to take, written by the consumer; tail the next to fill,
// written by the producer; both only grow.
type spsc struct {
	ring       []*packet
	head, tail atomic.Uint64
}

func (r *spsc) len() int { return int(r.tail.Load() - r.head.Load()) }

// push adds p; the caller makes sure there is room.
func (r *spsc) push(p *packet) {
	t := r.tail.Load()
	r.ring[t%uint64(len(r.ring))] = p
	r.tail.Store(t + 1)
}

// pop takes the oldest packet, or nil.
func (r *spsc) pop() *packet {
	h := r.head.Load()
	if h == r.tail.Load() {
		return nil
	}
	i := h % uint64(len(r.ring))
	p := r.ring[i]
	r.ring[i] = nil
	r.head.Store(h + 1)
	return p
}

// newHandoff returns a handoff of n packets whose payload buffers come from
// bufs.
func newHandoff(n int, bufs *bufpool.Pool) *handoff {
	return &handoff{queue: spsc{ring: make([]*packet, n)}, free: spsc{ring: make([]*packet, n)}, bufs: bufs,
		wake: make(chan struct{}, 1)}
}

// put copies f into a free packet and queues it; notify then wakes the
// consumer. When no packet is free the worker is behind: the frame is
// dropped (drop-newest) and put reports false. Dropping the newest keeps
// what is queued contiguous, so the worker sees exactly one hole.
func (h *handoff) put(f *sdk.Frame, dropped uint64) bool {
	p := h.free.pop()
	if p == nil {
		if h.made == len(h.queue.ring) {
			return false
		}
		p = new(packet)
		h.made++
	}
	p.buf = h.bufs.Copy(f.Data)
	p.data = *p.buf
	p.ts, p.seq, p.marker, p.ssrc = f.Timestamp, f.Seq, f.Marker, f.SSRC
	p.arrival, p.ntp = f.Arrival, f.NTP
	p.dropped, p.sdkDropped, p.sdkDropReason = dropped, f.Dropped, f.DropReason
	h.queue.push(p) // room: at most len(ring) packets exist
	return true
}

// notify wakes the consumer if it is parked. The producer calls it after
// a burst of puts (the SDK's OnBurstEnd), not in each put: one wake-up per
// burst, outside the data callbacks' time.
func (h *handoff) notify() {
	if h.parked.CompareAndSwap(true, false) {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// queued is the number of packets waiting for the consumer.
func (h *handoff) queued() int { return h.queue.len() }

// capacity is the most packets the handoff holds.
func (h *handoff) capacity() int { return len(h.queue.ring) }

// take returns the oldest queued packet, or nil; the consumer gives it back
// with release once processed.
func (h *handoff) take() *packet { return h.queue.pop() }

// release gives p's buffer back to the pool and p to the producer; the
// consumer must not read p.data afterwards.
func (h *handoff) release(p *packet) {
	h.bufs.Put(p.buf)
	p.buf, p.data = nil, nil
	h.free.push(p)
}

// park marks the consumer as waiting and reports whether it may wait on
// wake: false if a packet came in meanwhile (the consumer then stays
// unparked). The flag is set before the queue is checked, and put checks
// it after queueing a packet: one of the two sees the other.
func (h *handoff) park() bool {
	h.parked.Store(true)
	if h.queue.len() != 0 {
		h.parked.Store(false)
		return false
	}
	return true
}

// unpark clears the flag once the consumer waits no more.
func (h *handoff) unpark() { h.parked.Store(false) }
