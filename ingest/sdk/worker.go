package sdk

import (
	"runtime/pprof"
	"time"
)

// worker is one of the SDK's callback workers. It serves ready handles in
// FIFO order until Shutdown.
func (s *SDK) worker() {
	defer s.wg.Done()
	idle := labelContext("sdk_idle", nil)
	for {
		h := s.nextReady()
		if h == nil {
			return
		}
		s.serve(h)
		pprof.SetGoroutineLabels(idle)
	}
}

// enqueue puts a handle that has work on the ready queue. A handle is on the
// queue at most once (handle.scheduled), so the queue holds at most one
// entry per handle.
func (s *SDK) enqueue(h *handle) {
	s.mu.Lock()
	s.ready.push(h)
	s.mu.Unlock()
	s.cond.Signal()
}

func (s *SDK) nextReady() *handle {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.ready.len() == 0 && !s.shutdown {
		s.cond.Wait()
	}
	if s.shutdown {
		return nil
	}
	return s.ready.pop()
}

// serve delivers up to deliverBatch callbacks for h, then puts it back on
// the ready queue if it still has work, so one busy handle cannot monopolise
// a worker.
func (s *SDK) serve(h *handle) {
	h.busy.Lock()
	defer h.busy.Unlock()
	pprof.SetGoroutineLabels(h.callbackLabels)
	for range deliverBatch {
		h.mu.Lock()
		if h.closed {
			h.scheduled = false
			h.mu.Unlock()
			return
		}
		s.flushOverruns(h)
		if len(h.statuses) > 0 {
			st := h.statuses[0]
			n := copy(h.statuses, h.statuses[1:])
			h.statuses = h.statuses[:n]
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
		h.mu.Unlock()

		s.deliver(h, &sl.frame)

		h.mu.Lock()
		if s.opts.PoisonBuffers {
			for i := range sl.buf {
				sl.buf[i] = poisonByte
			}
		}
		if !h.closed {
			h.head = (h.head + 1) % len(h.slots)
			h.count--
		}
		h.mu.Unlock()
	}
	s.enqueue(h)
}

// deliver runs the data callback for one frame and accounts for its time.
func (s *SDK) deliver(h *handle, f *Frame) {
	cb := h.onData.Load()
	if cb == nil {
		h.dropped.Add(1)
		return
	}
	start := time.Now()
	h.callbackSince.Store(start.UnixNano())
	(*cb)(h.id, f)
	end := time.Now()
	h.callbackSince.Store(0)
	h.lastDelivered.Store(end.UnixNano())
	d := end.Sub(start)
	h.frames.Add(1)
	if s.opts.CallbackObserver != nil {
		s.opts.CallbackObserver(d)
	}
	if d <= s.opts.CallbackBudget {
		return
	}
	h.overruns.Add(1)
	h.mu.Lock()
	h.overrunPending++
	h.overrunMax = max(h.overrunMax, d)
	s.flushOverruns(h)
	h.mu.Unlock()
}

// flushOverruns turns pending overruns into one status once per
// overrunReportPeriod. It must be called with h.mu held, by the worker
// serving h (so h needs no scheduling).
func (s *SDK) flushOverruns(h *handle) {
	if h.overrunPending == 0 {
		return
	}
	t := time.Now()
	if t.Sub(h.overrunReported) < overrunReportPeriod {
		return
	}
	if len(h.statuses) >= maxPendingStatus {
		h.statusDropped.Add(1)
		return
	}
	h.statuses = append(h.statuses, Status{Kind: StatusCallbackOverrun, Overruns: h.overrunPending, Duration: h.overrunMax})
	h.overrunPending, h.overrunMax, h.overrunReported = 0, 0, t
}

// ring is a FIFO of handles that grows as needed and reuses its storage.
type ring struct {
	buf  []*handle
	head int
	n    int
}

func (r *ring) len() int { return r.n }

func (r *ring) push(h *handle) {
	if r.n == len(r.buf) {
		grown := make([]*handle, max(16, 2*len(r.buf)))
		for i := range r.n {
			grown[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = h
	r.n++
}

func (r *ring) pop() *handle {
	h := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return h
}
