package sdk

import (
	"context"
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

	// pprof labels of the reader goroutine and of the callbacks.
	readerLabels, callbackLabels context.Context

	onData   atomic.Pointer[DataCallback]
	onStatus atomic.Pointer[StatusCallback]

	// aborted holds the cause of an end the SDK decided itself; closers is
	// the goroutine closing the client then (gortsplib's Close waits for
	// the reader goroutine, so the reader cannot call it).
	aborted   atomic.Pointer[error]
	closers   sync.WaitGroup
	abortOnce sync.Once

	// busy is held by the worker delivering this handle's callbacks, so that
	// Close can wait for an in-flight callback.
	busy sync.Mutex

	// maxFrames, if not 0, bounds the queue in frames instead of
	// queueDuration (Options.QueueLen and QueueDuration).
	maxFrames     int
	queueDuration time.Duration

	mu sync.Mutex
	// slots is a ring that grows on demand up to the queue's bound.
	slots     []slot
	head      int // index of the oldest queued frame
	count     int // queued frames
	scheduled bool
	closed    bool
	// droppedRun counts frames dropped since the last queued one, and
	// dropReason says why the first of them was.
	droppedRun uint64
	dropReason string
	statuses   []Status
	// overrun reports are coalesced: at most one per overrunReportPeriod.
	overrunPending  uint64
	overrunMax      time.Duration
	overrunReported time.Time

	frames        atomic.Uint64
	dropped       atomic.Uint64
	overruns      atomic.Uint64
	statusDropped atomic.Uint64

	// Progress of each stage, read by Stats for stall attribution. Times
	// are Unix nanoseconds, 0 for never.
	sr            atomic.Pointer[senderReport] // the last one received
	received      atomic.Uint64                // RTP packets of the track from the reader
	lastRTP       atomic.Int64
	lastRTCP      atomic.Int64
	lost          atomic.Uint64 // RTP packets gortsplib found missing
	decodeErrors  atomic.Uint64 // data gortsplib could not parse
	callbackSince atomic.Int64  // start of the data callback in flight, 0 if none
	lastDelivered atomic.Int64  // end of the last data callback
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
	if reason := h.full(f); reason != "" {
		h.dropped.Add(1)
		if h.droppedRun == 0 {
			h.dropReason = reason
		}
		h.droppedRun++
		return false, true
	}
	if h.count == len(h.slots) {
		h.grow()
	}
	s := &h.slots[(h.head+h.count)%len(h.slots)]
	s.buf = append(s.buf[:0], payload...)
	s.frame = *f
	s.frame.Data = s.buf
	s.frame.Dropped, h.droppedRun = h.droppedRun, 0
	s.frame.DropReason, h.dropReason = h.dropReason, ""
	h.count++
	return h.markScheduled(), false
}

// full reports why f cannot be queued, or "" if it can: the queue holds
// QueueLen frames, or QueueDuration of audio from its oldest frame to f
// (and at least minQueueFrames), or maxQueueFrames. It must be called with
// h.mu held.
func (h *handle) full(f *Frame) string {
	switch {
	case h.maxFrames > 0:
		if h.count >= h.maxFrames {
			return DropCallbacksBehind
		}
		return ""
	case h.count < minQueueFrames:
		return ""
	case h.count >= maxQueueFrames:
		return DropQueueFrames
	}
	oldest := h.slots[h.head].frame.Timestamp
	// A timestamp behind the oldest one counts as no time.
	span := max(int64(int32(f.Timestamp-oldest)), 0)
	if time.Duration(span)*time.Second >= h.queueDuration*time.Duration(f.Codec.ClockRate) {
		return DropCallbacksBehind
	}
	return ""
}

// grow doubles the ring, keeping the queued frames in order. It must be
// called with h.mu held.
func (h *handle) grow() {
	n := max(16, 2*len(h.slots))
	if h.maxFrames > 0 {
		n = min(n, h.maxFrames)
	}
	grown := make([]slot, n)
	for i := range h.count {
		grown[i] = h.slots[(h.head+i)%len(h.slots)]
	}
	h.slots, h.head = grown, 0
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

// abort ends the connection with cause, once. It may be called from
// gortsplib's reader goroutine.
func (h *handle) abort(cause error) {
	h.abortOnce.Do(func() {
		h.aborted.Store(&cause)
		h.closers.Go(func() { h.client.Close() })
	})
}

func (h *handle) abortCause() error {
	if p := h.aborted.Load(); p != nil {
		return *p
	}
	return nil
}

// markScheduled must be called with h.mu held.
func (h *handle) markScheduled() bool {
	if h.scheduled {
		return false
	}
	h.scheduled = true
	return true
}

// HandleStats are a handle's counters and the progress of its stages: the
// reader (Received, LastRTP, LastRTCP) and the callback workers (Frames,
// Queued, CallbackStarted, LastDelivered).
type HandleStats struct {
	// Received counts RTP packets of the track read from the connection.
	Received uint64
	// Frames counts frames delivered to the data callback.
	Frames uint64
	// Dropped counts frames dropped because the handle's queue was full.
	Dropped uint64
	// Overruns counts data callbacks that took longer than the budget.
	Overruns uint64
	// Lost counts RTP packets missing from the sequence, as gortsplib saw
	// it (after reordering, on UDP).
	Lost uint64
	// DecodeErrors counts RTP or RTCP data gortsplib could not parse, such
	// as garbage on an interleaved TCP connection.
	DecodeErrors uint64
	// Queued is the number of frames waiting for a worker.
	Queued int
	// LastRTP and LastRTCP are when the reader last received an RTP or an
	// RTCP packet of the track; zero for never.
	LastRTP, LastRTCP time.Time
	// CallbackStarted is when the data callback now running began; zero
	// when none runs.
	CallbackStarted time.Time
	// LastDelivered is when the last data callback returned; zero for never.
	LastDelivered time.Time
}

func (h *handle) stats() HandleStats {
	h.mu.Lock()
	q := h.count
	h.mu.Unlock()
	return HandleStats{
		Received:        h.received.Load(),
		Frames:          h.frames.Load(),
		Dropped:         h.dropped.Load(),
		Overruns:        h.overruns.Load(),
		Lost:            h.lost.Load(),
		DecodeErrors:    h.decodeErrors.Load(),
		Queued:          q,
		LastRTP:         unixNano(h.lastRTP.Load()),
		LastRTCP:        unixNano(h.lastRTCP.Load()),
		CallbackStarted: unixNano(h.callbackSince.Load()),
		LastDelivered:   unixNano(h.lastDelivered.Load()),
	}
}

// unixNano converts a stored time; 0 stays the zero time.
func unixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
