package ingest

import (
	"testing"

	"github.com/earshot/earshot/ingest/internal/bufpool"
	"github.com/earshot/earshot/ingest/sdk"
)

// TestHandoffWakesOncePerBurst: a parked consumer is woken by notify, once
// for a burst of puts, and never inside a put (that is, inside the SDK's
// data callback, whose time the SDK measures).
func TestHandoffWakesOncePerBurst(t *testing.T) {
	h := newHandoff(16, new(bufpool.Pool))
	if !h.park() {
		t.Fatal("an empty handoff refused to park its consumer")
	}
	f := sdk.Frame{Data: []byte{1, 2, 3}}
	for range 3 {
		if !h.put(&f, 0) {
			t.Fatal("put dropped a frame with room for it")
		}
	}
	if n := len(h.wake); n != 0 {
		t.Fatalf("%d wake-ups queued by the puts themselves, want 0", n)
	}
	h.notify()
	h.notify()
	if n := len(h.wake); n != 1 {
		t.Fatalf("%d wake-ups queued after the burst, want 1", n)
	}
	<-h.wake
	if h.park() {
		t.Error("the consumer parked with 3 packets queued")
	}
	for range 3 {
		h.release(h.take())
	}
	// An unparked consumer is not woken: it looks at the queue before it
	// parks again.
	h.put(&f, 0)
	h.notify()
	if n := len(h.wake); n != 0 {
		t.Errorf("%d wake-ups for a consumer that was not parked, want 0", n)
	}
}

// TestDrainedHandoffsHoldNoPayload: handoffs that queued a burst and whose
// worker processed and released it keep their packets but no payload
// buffer (those went back to the pool the streams share), so what idle
// streams keep does not grow with the payloads they once queued.
func TestDrainedHandoffsHoldNoPayload(t *testing.T) {
	const streams = 16
	bufs := new(bufpool.Pool)
	f := sdk.Frame{Data: make([]byte, 380)}
	held := 0
	for range streams {
		h := newHandoff(64, bufs)
		for range 8 {
			if !h.put(&f, 0) {
				t.Fatal("put dropped a frame with room for it")
			}
		}
		for p := h.take(); p != nil; p = h.take() {
			if len(p.data) != len(f.Data) {
				t.Fatalf("a packet holds %d bytes, want %d", len(p.data), len(f.Data))
			}
			h.release(p)
		}
		for _, p := range h.free.ring {
			if p != nil && p.data != nil {
				held++
			}
		}
	}
	if held != 0 {
		t.Errorf("%d drained handoffs keep %d payload buffers, want 0", streams, held)
	}
}
