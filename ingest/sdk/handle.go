package sdk

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
)

// Handle identifies an opened stream, as in vendor SDKs.
type Handle int64

// maxPendingStatus bounds the statuses waiting for delivery on one handle.
// Statuses are rare (connect, disconnect, overrun reports coalesced per
// second), so only a runaway consumer can fill it.
const maxPendingStatus = 16

// slot is one entry of a handle's frame queue. Its buffer is reused.
type slot struct {
	frame Frame
	buf   []byte
}

// handle is the SDK side of one opened stream: the RTSP client, the bounded
// frame queue the reader fills and the callback workers drain, and counters.
type handle struct {
	id     Handle
	url    string // redacted
	codec  *Codec
	client *gortsplib.Client
	done   chan struct{} // closed when the wait goroutine has returned

	onData   atomic.Pointer[DataCallback]
	onStatus atomic.Pointer[StatusCallback]

	// busy is held by the worker delivering this handle's callbacks, so that
	// Close can wait for an in-flight callback.
	busy sync.Mutex

	mu        sync.Mutex
	slots     []slot
	head      int // index of the oldest queued frame
	count     int // queued frames
	scheduled bool
	closed    bool
	statuses  []Status
	// overrun reports are coalesced: at most one per overrunReportPeriod.
	overrunPending  uint64
	overrunMax      time.Duration
	overrunReported time.Time

	frames        atomic.Uint64
	dropped       atomic.Uint64
	overruns      atomic.Uint64
	statusDropped atomic.Uint64
}

// push copies one packet into the queue. It reports whether the handle must
// be scheduled on a worker, and whether the frame was dropped because the
// queue was full. It runs on gortsplib's reader goroutine and never blocks
// beyond the queue mutex.
func (h *handle) push(payload []byte, f *Frame) (schedule, dropped bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false, false
	}
	if h.count == len(h.slots) {
		h.dropped.Add(1)
		return false, true
	}
	s := &h.slots[(h.head+h.count)%len(h.slots)]
	s.buf = append(s.buf[:0], payload...)
	s.frame = *f
	s.frame.Data = s.buf
	h.count++
	return h.markScheduled(), false
}

// pushStatus queues a status for delivery; it reports whether the handle
// must be scheduled.
func (h *handle) pushStatus(st Status) (schedule bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if len(h.statuses) >= maxPendingStatus {
		h.statusDropped.Add(1)
		return false
	}
	h.statuses = append(h.statuses, st)
	return h.markScheduled()
}

// markScheduled must be called with h.mu held.
func (h *handle) markScheduled() bool {
	if h.scheduled {
		return false
	}
	h.scheduled = true
	return true
}

// HandleStats are a handle's counters.
type HandleStats struct {
	// Frames counts frames delivered to the data callback.
	Frames uint64
	// Dropped counts frames dropped because the handle's queue was full.
	Dropped uint64
	// Overruns counts data callbacks that took longer than the budget.
	Overruns uint64
	// Queued is the number of frames waiting for a worker.
	Queued int
}

func (h *handle) stats() HandleStats {
	h.mu.Lock()
	q := h.count
	h.mu.Unlock()
	return HandleStats{Frames: h.frames.Load(), Dropped: h.dropped.Load(), Overruns: h.overruns.Load(), Queued: q}
}
