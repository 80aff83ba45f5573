//go:build gstreamer

package gst

import (
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/ingest/sdk/internal/handoff"
)

// queue is a handle's frame queue, shared with the gortsplib backend.
type queue = handoff.Queue[sdk.Frame, sdk.Status]

// newQueue makes h's queue of Options.QueueLen frames, served by the SDK's
// workers; burstEnd is OpenOptions.OnBurstEnd.
func (s *SDK) newQueue(h *handle, burstEnd func(sdk.Handle)) *queue {
	var end func()
	if burstEnd != nil {
		end = func() { burstEnd(h.id) }
	}
	return handoff.NewQueue(s.pool, handoff.Config[sdk.Frame, sdk.Status]{
		Bound:       s.opts.QueueLen,
		BoundReason: sdk.DropCallbacksBehind,
		Deliver: func(f *sdk.Frame, data []byte, dropped uint64, why string) bool {
			cb := h.onData.Load()
			if cb == nil {
				return false
			}
			f.Data, f.Dropped, f.DropReason = data, dropped, why
			h.callbacks.Start()
			(*cb)(h.id, f)
			h.callbacks.End()
			return true
		},
		Status: func(st sdk.Status) {
			if cb := h.onStatus.Load(); cb != nil {
				(*cb)(h.id, st)
			}
		},
		BurstEnd: end,
	})
}

// push copies one packet into h's queue, dropping and counting it when the
// queue is full. It runs on a GStreamer streaming thread and never blocks
// beyond the queue's mutex.
func (h *handle) push(payload []byte, f *sdk.Frame) { h.q.Push(payload, f) }

func (h *handle) pushStatus(st sdk.Status) { h.q.PushStatus(st) }

func (h *handle) stats() sdk.HandleStats {
	c := h.q.Counts()
	return sdk.HandleStats{
		Received:        h.received.Load(),
		Frames:          c.Frames + h.frames.Load(),
		Dropped:         c.Dropped,
		DecodeErrors:    h.badBuffers.Load(),
		Lost:            h.lost.Load(),
		Queued:          c.Queued,
		LastRTP:         unixNano(h.lastRTP.Load()),
		LastRTCP:        unixNano(h.lastRTCP.Load()),
		CallbackStarted: h.callbacks.Since(),
		LastDelivered:   h.callbacks.Last(),
	}
}

var unixNano = handoff.UnixNano
