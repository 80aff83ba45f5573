package sdk

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"

	"github.com/earshot/earshot/ingest/sdk/internal/handoff"
)

// Handle identifies an opened stream, as in vendor SDKs.
type Handle int64

// queue is a handle's frame queue, shared with the GStreamer backend.
type queue = handoff.Queue[Frame, Status]

// handle is the SDK side of one opened stream: the RTSP client, the bounded
// frame queue the reader fills and the callback workers drain, and counters.
type handle struct {
	id     Handle
	url    string // redacted
	codec  *Codec
	client *gortsplib.Client
	// conns dials client's connections; the wait goroutine starts when
	// the one it plays on is closed.
	conns *readCoalescer
	done  chan struct{} // closed when the wait goroutine has returned
	q     *queue

	// pprof labels of the reader goroutine.
	readerLabels context.Context

	onData   atomic.Pointer[DataCallback]
	onStatus atomic.Pointer[StatusCallback]

	// aborted holds the cause of an end the SDK decided itself; closers is
	// the goroutine closing the client then (gortsplib's Close waits for
	// the reader goroutine, so the reader cannot call it).
	aborted   atomic.Pointer[error]
	closers   sync.WaitGroup
	abortOnce sync.Once

	// Overrun reports are coalesced: at most one per overrunReportPeriod.
	// Only the worker serving the handle touches them.
	overrunPending  uint64
	overrunMax      time.Duration
	overrunReported time.Time

	overruns atomic.Uint64

	// Progress of each stage, read by Stats for stall attribution. Times
	// are Unix nanoseconds, 0 for never.
	sr           atomic.Pointer[senderReport] // the last one received
	received     atomic.Uint64                // RTP packets of the track from the reader
	lastRTP      atomic.Int64
	lastRTCP     atomic.Int64
	lost         atomic.Uint64 // RTP packets gortsplib found missing
	decodeErrors atomic.Uint64 // data gortsplib could not parse
	callbacks    handoff.Clock // data callbacks
}

// queueBound returns the bound of a handle's queue and why a frame dropped
// at it is: Options.QueueLen frames if set, else maxQueueFrames, with
// QueueDuration of audio checked by full.
func queueBound(o *Options) (int, string) {
	if o.QueueLen > 0 {
		return o.QueueLen, DropCallbacksBehind
	}
	return maxQueueFrames, DropQueueFrames
}

// fullFor returns the check that a queue holds QueueDuration of audio from
// its oldest frame (and at least minQueueFrames); nil when QueueLen bounds
// the queue.
func fullFor(o *Options) func(n int, oldest, f *Frame) string {
	if o.QueueLen > 0 {
		return nil
	}
	d := o.QueueDuration
	return func(n int, oldest, f *Frame) string {
		if n < minQueueFrames {
			return ""
		}
		// A timestamp behind the oldest one counts as no time.
		span := max(int64(int32(f.Timestamp-oldest.Timestamp)), 0)
		if time.Duration(span)*time.Second >= d*time.Duration(f.Codec.ClockRate) {
			return DropCallbacksBehind
		}
		return ""
	}
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
	c := h.q.Counts()
	return HandleStats{
		Received:        h.received.Load(),
		Frames:          c.Frames,
		Dropped:         c.Dropped,
		Overruns:        h.overruns.Load(),
		Lost:            h.lost.Load(),
		DecodeErrors:    h.decodeErrors.Load(),
		Queued:          c.Queued,
		LastRTP:         unixNano(h.lastRTP.Load()),
		LastRTCP:        unixNano(h.lastRTCP.Load()),
		CallbackStarted: h.callbacks.Since(),
		LastDelivered:   h.callbacks.Last(),
	}
}

var unixNano = handoff.UnixNano
