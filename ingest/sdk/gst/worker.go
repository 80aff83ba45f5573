//go:build gstreamer

package gst

import (
	"time"

	"github.com/earshot/earshot/ingest/sdk"
)

// deliverBatch is how many callbacks a worker makes for one handle before
// the next ready handle has a turn.
const deliverBatch = 16

// worker serves ready handles in FIFO order until Shutdown.
func (s *SDK) worker() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		for len(s.ready) == 0 && !s.shutdown {
			s.cond.Wait()
		}
		if s.shutdown {
			s.mu.Unlock()
			return
		}
		h := s.ready[0]
		s.ready[0] = nil
		s.ready = s.ready[1:]
		s.mu.Unlock()
		s.serve(h)
	}
}

// enqueue puts a handle with work on the ready queue; a handle is on it at
// most once (handle.scheduled).
func (s *SDK) enqueue(h *handle) {
	s.mu.Lock()
	s.ready = append(s.ready, h)
	s.mu.Unlock()
	s.cond.Signal()
}

// serve delivers up to deliverBatch frames and every pending status of h,
// then reschedules h if it still has work.
func (s *SDK) serve(h *handle) {
	h.busy.Lock()
	defer h.busy.Unlock()
	var f sdk.Frame
	for range deliverBatch {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return
		}
		if len(h.statuses) > 0 {
			st := h.statuses[0]
			h.statuses = h.statuses[1:]
			h.mu.Unlock()
			if cb := h.onStatus.Load(); cb != nil {
				(*cb)(h.id, st)
			}
			continue
		}
		if h.count == 0 {
			h.scheduled = false
			h.mu.Unlock()
			return
		}
		sl := &h.slots[h.head]
		f = sl.frame
		h.mu.Unlock()
		// The slot cannot be reused while it is still counted: push
		// writes only free slots.
		if cb := h.onData.Load(); cb != nil {
			start := time.Now()
			h.callbackSince.Store(start.UnixNano())
			(*cb)(h.id, &f)
			h.callbackSince.Store(0)
			h.lastDelivered.Store(time.Now().UnixNano())
		}
		h.frames.Add(1)
		h.mu.Lock()
		if !h.closed {
			h.head = (h.head + 1) % len(h.slots)
			h.count--
		}
		h.mu.Unlock()
	}
	h.mu.Lock()
	more := !h.closed && (h.count > 0 || len(h.statuses) > 0)
	if !more {
		h.scheduled = false
	}
	h.mu.Unlock()
	if more {
		s.enqueue(h)
	}
}
