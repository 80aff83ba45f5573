//go:build gstreamer

package gst

/*
#include <stdlib.h>
#include "glue.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime/cgo"
	"time"
	"unsafe"

	"github.com/earshot/earshot/ingest/sdk"
)

// The functions below are called by GStreamer's threads. Each recovers:
// a panic must never unwind into C.

// lookupHandle returns the handle of a cgo.Handle, or nil.
func lookupHandle(ud C.uintptr_t) *handle {
	h, _ := cgo.Handle(ud).Value().(*handle)
	return h
}

// recoverInto counts a recovered panic on h's SDK. It must be deferred
// directly.
func recoverInto(h *handle) {
	if r := recover(); r != nil && h != nil {
		h.s.panics.Add(1)
		h.s.opts.Logger.Error("gst: panic in a callback from GStreamer", "url", h.url, "panic", fmt.Sprint(r))
	}
}

//export goNewSample
func goNewSample(ud C.uintptr_t, payload *C.guint8, n C.int, ts C.guint32, seq C.guint16, marker C.int, ssrc C.guint32) {
	var h *handle
	defer func() { recoverInto(h) }()
	h = lookupHandle(ud)
	now := time.Now()
	if n := h.received.Add(1); n > 1 {
		// Streaming threads of one handle are serialised by the pad:
		// lastSeq needs no lock.
		if gap := uint16(seq) - h.lastSeq - 1; gap != 0 && gap < 0x8000 {
			h.lost.Add(uint64(gap))
		}
	}
	h.lastSeq = uint16(seq)
	h.lastRTP.Store(now.UnixNano())
	f := sdk.Frame{Timestamp: uint32(ts), Seq: uint16(seq), Marker: marker != 0, SSRC: uint32(ssrc),
		Arrival: now, Codec: h.codec.Load()}
	if sr := h.sr.Load(); sr != nil && f.Codec != nil {
		f.NTP = sr.At(f.Timestamp, f.Codec.ClockRate)
	}
	data := unsafe.Slice((*byte)(unsafe.Pointer(payload)), int(n))
	if h.s.opts.Inline {
		// The mapped buffer itself: valid only until this returns.
		f.Data = data
		if cb := h.onData.Load(); cb != nil {
			h.callbacks.Start()
			(*cb)(h.id, &f)
			h.callbacks.End()
		}
		h.frames.Add(1)
		return
	}
	h.push(data, &f)
}

// goRTCP runs on rtpbin's thread for each RTCP buffer of the track; sr
// says whether it held a sender report, of NTP time ntp and RTP time rtp.
//
//export goRTCP
func goRTCP(ud C.uintptr_t, sr C.int, ntp C.guint64, rtp C.guint32) {
	var h *handle
	defer func() { recoverInto(h) }()
	h = lookupHandle(ud)
	h.lastRTCP.Store(time.Now().UnixNano())
	if sr != 0 {
		h.sr.Store(sdk.NewSenderReport(uint64(ntp), uint32(rtp)))
	}
}

// Requests goBeforeSend tells apart, as glue.c numbers them.
const (
	requestOther    = 0
	requestDescribe = 1
	requestSetup    = 2
)

// goBeforeSend runs on rtspsrc's thread before each RTSP request, with the
// location rtspsrc is at. rtspsrc follows a redirect by moving to its
// Location and starting over with OPTIONS and DESCRIBE on a new
// connection. It did when the location is not the one it was given, or
// when a DESCRIBE comes after another request that followed the previous
// DESCRIBE (an authorisation retry repeats the DESCRIBE at once): with no
// SETUP between them, a redirect of DESCRIBE to the same location; with a
// SETUP, rtspsrc reconnecting (its fallback from UDP to TCP, once) or a
// redirect of PLAY, taken for a redirect from the second on. The request is
// then dropped and the pipeline ends, so that OpenContext applies the
// redirect policy.
//
//export goBeforeSend
func goBeforeSend(ud C.uintptr_t, loc *C.char, method C.int) C.int {
	var h *handle
	defer func() { recoverInto(h) }()
	h = lookupHandle(ud)
	l := C.GoString(loc)
	h.mu.Lock()
	again := false
	switch {
	case method == requestDescribe:
		if h.requests.described && h.requests.other {
			if !h.requests.setup {
				again = true
			} else {
				h.requests.restarts++
				again = h.requests.restarts > 1
			}
		}
		h.requests.described, h.requests.other, h.requests.setup = true, false, false
	case h.requests.described:
		h.requests.other = true
		h.requests.setup = h.requests.setup || method == requestSetup
	}
	h.mu.Unlock()
	if l != h.location || again {
		h.end(&redirected{location: l})
		return 0
	}
	return 1
}

// goAcceptCertificate runs on rtspsrc's thread when GIO did not trust an
// rtsps server's certificate chain (n DER certificates, leaf first): it
// accepts the chain if the handle's tls.Config trusts it, as the gortsplib
// backend would.
//
//export goAcceptCertificate
func goAcceptCertificate(ud C.uintptr_t, ders *unsafe.Pointer, lens *C.int, n C.int) C.int {
	var h *handle
	defer func() { recoverInto(h) }()
	h = lookupHandle(ud)
	chain := make([][]byte, int(n))
	ls := unsafe.Slice(lens, int(n))
	for i, p := range unsafe.Slice(ders, int(n)) {
		chain[i] = C.GoBytes(p, ls[i])
	}
	if err := h.verifyChain(chain); err != nil {
		// rtspsrc reports only that it could not connect: the error it
		// posts next carries this one, for sdk.Classify.
		h.certErr.Store(&err)
		return 0
	}
	return 1
}

//export goBadBuffer
func goBadBuffer(ud C.uintptr_t) {
	var h *handle
	defer func() { recoverInto(h) }()
	h = lookupHandle(ud)
	h.badBuffers.Add(1)
}

// goSelectStream runs on rtspsrc's thread for SDP media num of each
// DESCRIBE; rtspsrc describes again when it falls back from UDP to TCP,
// and then the track chosen the first time is chosen again.
//
//export goSelectStream
func goSelectStream(ud C.uintptr_t, num C.guint, caps *C.GstCaps) C.int {
	var h *handle
	defer func() { recoverInto(h) }()
	h = lookupHandle(ud)
	fields := capsFields(caps)
	if fields["media"] != "audio" {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.codec.Load() != nil {
		if uint(num) == h.track {
			return 1
		}
		return 0 // one track only
	}
	c, name, err := codecFromCaps(fields)
	if err != nil {
		h.offered = append(h.offered, name)
		h.refusals = append(h.refusals, err)
		return 0
	}
	h.codec.Store(&c)
	h.track = uint(num)
	return 1
}

// capsFields returns the fields of the first structure of caps as text.
func capsFields(caps *C.GstCaps) map[string]string {
	n := int(C.es_structure_n(caps))
	fields := make(map[string]string, n)
	for i := range n {
		name := C.es_structure_field(caps, C.int(i))
		v := C.es_structure_value(caps, name)
		if v == nil {
			continue
		}
		fields[C.GoString(name)] = C.GoString(v)
		C.es_g_free(C.gpointer(v))
	}
	return fields
}

//export goPadLinked
func goPadLinked(ud C.uintptr_t) {
	var h *handle
	defer func() { recoverInto(h) }()
	h = lookupHandle(ud)
	h.linkOnce.Do(func() { close(h.linked) })
}

// goNewSSRC runs on rtpbin's streaming thread for each SSRC it sees on the
// track, before its jitter buffer. A second SSRC ends the session with
// sdk.ErrSSRCChanged, as with the gortsplib backend, so that ingest starts
// a new epoch at once instead of finding the old SSRC silent.
//
//export goNewSSRC
func goNewSSRC(ud C.uintptr_t, ssrc C.guint) {
	var h *handle
	defer func() { recoverInto(h) }()
	h = lookupHandle(ud)
	// 0 stands for none yet: an SSRC of 0 is then taken as the first.
	if !h.firstSSRC.CompareAndSwap(0, uint32(ssrc)) && h.firstSSRC.Load() != uint32(ssrc) {
		h.end(sdk.ErrSSRCChanged)
	}
}

// Bus message kinds, as glue.c numbers them.
const (
	busError   = 1
	busEOS     = 2
	busWarning = 3
)

//export goBusMessage
func goBusMessage(ud C.uintptr_t, kind C.int, text *C.char, domain, code C.int) {
	var h *handle
	defer func() { recoverInto(h) }()
	h = lookupHandle(ud)
	msg := h.scrub(C.GoString(text))
	var err error
	switch kind {
	case busError:
		be := &busErr{msg: msg, domain: int(domain), code: int(code)}
		if ce := h.certErr.Load(); ce != nil {
			be.cause = *ce
		}
		err = be
	case busEOS:
		err = errors.New("end of stream")
	default:
		h.s.opts.Logger.Warn("gst: warning", "url", h.url, "msg", msg)
		return
	}
	h.end(err)
}

// end reports the end of h's session once: to Open if it still waits,
// else as a StatusDisconnected.
func (h *handle) end(err error) {
	select {
	case h.failed <- err:
	default:
	}
	if h.ended.CompareAndSwap(false, true) {
		select {
		case <-h.linked:
			h.pushStatus(sdk.Status{Kind: sdk.StatusDisconnected, Err: err})
		default: // Open reports it
		}
	}
}

//export goNoop
func goNoop() {}

// callCost measures n calls from a new C thread into an exported Go
// function that does nothing; the first is the thread's first call.
func callCost(n int) []time.Duration {
	buf := (*C.int64_t)(C.malloc(C.size_t(n) * 8))
	defer C.free(unsafe.Pointer(buf))
	if C.es_call_cost(C.int(n), buf) == 0 {
		return nil
	}
	out := make([]time.Duration, n)
	for i, v := range unsafe.Slice((*int64)(unsafe.Pointer(buf)), n) {
		out[i] = time.Duration(v)
	}
	return out
}
