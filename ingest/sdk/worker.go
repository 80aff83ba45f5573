package sdk

import (
	"github.com/earshot/earshot/ingest/sdk/internal/handoff"
)

// newQueue makes h's queue, served by the SDK's workers; burstEnd is
// OpenOptions.OnBurstEnd.
func (s *SDK) newQueue(h *handle, labels []string, burstEnd func(Handle)) *queue {
	bound, reason := queueBound(&s.opts)
	return handoff.NewQueue(s.pool, handoff.Config[Frame, Status]{
		Bound:       bound,
		BoundReason: reason,
		Full:        fullFor(&s.opts),
		Deliver: func(f *Frame, data []byte, dropped uint64, why string) bool {
			return s.deliver(h, f, data, dropped, why)
		},
		Status: func(st Status) {
			if cb := h.onStatus.Load(); cb != nil {
				(*cb)(h.id, st)
			}
		},
		BurstEnd: burstEndFunc(h, burstEnd),
		Poison:   s.opts.PoisonBuffers,
		Labels:   labelContext("sdk_callback", labels),
	})
}

// deliver runs the data callback for one frame, on a worker, and accounts
// for its time.
func (s *SDK) deliver(h *handle, f *Frame, data []byte, dropped uint64, why string) bool {
	cb := h.onData.Load()
	if cb == nil {
		return false
	}
	f.Data, f.Dropped, f.DropReason = data, dropped, why
	start := h.callbacks.Start()
	(*cb)(h.id, f)
	d := h.callbacks.End().Sub(start)
	if s.opts.CallbackObserver != nil {
		s.opts.CallbackObserver(d)
	}
	if d <= s.opts.CallbackBudget {
		return true
	}
	h.overruns.Add(1)
	h.overrunPending++
	h.overrunMax = max(h.overrunMax, d)
	if start.Sub(h.overrunReported) >= overrunReportPeriod {
		h.q.PushStatus(Status{Kind: StatusCallbackOverrun, Overruns: h.overrunPending, Duration: h.overrunMax})
		h.overrunPending, h.overrunMax, h.overrunReported = 0, 0, start
	}
	return true
}

// burstEndFunc returns the queue's BurstEnd for h's OnBurstEnd f, nil
// without one.
func burstEndFunc(h *handle, f func(Handle)) func() {
	if f == nil {
		return nil
	}
	return func() { f(h.id) }
}
