package ingest

import (
	"time"

	"github.com/earshot/earshot/ingest/sdk"
)

// packet is one frame copied out of the SDK callback. Packets are pooled per
// stream and their buffers reused, so the handoff allocates nothing in
// steady state.
type packet struct {
	data    []byte
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
// worker. free holds the unused packets; frames the filled ones. Both have
// room for every packet, so sends never block.
type handoff struct {
	free   chan *packet
	frames chan *packet
}

func newHandoff(n int) handoff {
	h := handoff{free: make(chan *packet, n), frames: make(chan *packet, n)}
	for range n {
		h.free <- &packet{}
	}
	return h
}

// put copies f into a free packet and queues it. When no packet is free the
// worker is behind: the frame is dropped (drop-newest) and put reports
// false. Dropping the newest keeps what is queued contiguous, so the worker
// sees exactly one hole, and the callback never touches the consumer's end
// of the queue.
func (h handoff) put(f *sdk.Frame, dropped uint64) bool {
	var p *packet
	select {
	case p = <-h.free:
	default:
		return false
	}
	p.data = append(p.data[:0], f.Data...)
	p.ts, p.seq, p.marker, p.ssrc = f.Timestamp, f.Seq, f.Marker, f.SSRC
	p.arrival, p.ntp = f.Arrival, f.NTP
	p.dropped, p.sdkDropped, p.sdkDropReason = dropped, f.Dropped, f.DropReason
	h.frames <- p // cannot block: frames has room for every packet
	return true
}

// release returns p to the pool.
func (h handoff) release(p *packet) { h.free <- p }
