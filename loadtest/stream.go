package loadtest

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// stream is one synthetic camera: its spec, the clips it plays, its faults,
// and what it currently serves.
//
// What the pacer, the RTSP handler and the readers' connections act on is
// the variant in cur and the effects in that variant, both swapped
// atomically by the server (under Server.mu) when the server (re)listens
// or a fault begins or ends. Without faults, checking for them costs each
// packet one load more, from a cache line the packet needs anyway.
type stream struct {
	// cur is the variant being served, nil while the server is not
	// listening. First, with sent, for the pacer's sake.
	cur  atomic.Pointer[variant]
	sent atomic.Uint64 // audio packets written

	spec    StreamSpec
	index   int   // in Server.streams
	clip    *clip // the spec's codec
	altClip *clip // the codec FaultSDPChange switches to

	// Guarded by Server.mu.
	active  []*activeFault // in the order they began
	v       *variant       // being served; nil while not listening
	jump    time.Duration  // total of FaultTimestampJump on v
	seqJump uint16         // total sequence jumps of FaultSSRCChange on v
	ssrc    uint32         // SSRC FaultSSRCChange gave v, or 0
}

// effects is what faults do to a variant: the active faults' sum, and the
// lasting effects of the instantaneous ones. It is immutable once
// published; a variant without any has none (nil), the pacer's fast path.
type effects struct {
	f        *faultSet // nil without active faults
	tsJump   uint32    // added to audio RTP timestamps
	seqJump  uint16    // added to audio sequence numbers
	ssrcFrom uint32    // SSRC that the readers' connections rewrite...
	ssrcTo   uint32    // ...into this one, if not 0
}

// faults returns the active faults' sum; never nil.
func (e *effects) faults() *faultSet {
	if e == nil || e.f == nil {
		return &noFaults
	}
	return e.f
}

// tsJumpOrZero returns the timestamp jump, 0 without effects.
func (e *effects) tsJumpOrZero() uint32 {
	if e == nil {
		return 0
	}
	return e.tsJump
}

// noFaults stands for no active fault; read-only.
var noFaults faultSet

func newStream(spec StreamSpec, index int, c, alt *clip) *stream {
	return &stream{spec: spec, index: index, clip: c, altClip: alt}
}

// publish makes the stream's current variant and its effects visible to
// the pacer, the handler and the connections, or hides the stream while
// the server is not listening. Server.mu must be held.
func (st *stream) publish(packet time.Duration) {
	if st.v == nil {
		st.cur.Store(nil)
		return
	}
	e := effects{f: newFaultSet(st.active, packet), seqJump: st.seqJump}
	if st.v.clockRate != 0 {
		e.tsJump = uint32(int64(st.jump) * int64(st.v.clockRate) / int64(time.Second))
	}
	if st.ssrc != 0 {
		e.ssrcFrom, e.ssrcTo = st.v.audioSSRC, st.ssrc
	}
	if e == (effects{}) {
		st.v.effects.Store(nil)
	} else {
		st.v.effects.Store(&e)
	}
	st.cur.Store(st.v)
}

// setVariant makes v the stream's variant, forgetting the instantaneous
// faults' effects on the previous one. Server.mu must be held; the caller
// publishes and closes the previous variant.
func (st *stream) setVariant(v *variant) {
	st.v, st.jump, st.seqJump, st.ssrc = v, 0, 0, 0
}

// writePacket sends what the stream sends in round r, due at ntp: its
// audio packet, and a video packet when one is due. Called by the pacer
// goroutine only.
func (st *stream) writePacket(r int64, ntp time.Time, rng *rand.Rand) {
	v := st.cur.Load()
	if v == nil {
		return
	}
	e := v.effects.Load()
	if v.audio != nil {
		v.writeAudio(st, e, r, ntp, rng)
	}
	if v.video != nil && !e.faults().videoOff {
		v.writeVideo(r, ntp)
	}
}

// writeSenderReports sends the stream's RTCP sender reports for round r.
// Called by the pacer goroutine only, after writePacket for r.
func (st *stream) writeSenderReports(r int64, ntp uint64) {
	v := st.cur.Load()
	if v == nil || v.effects.Load().faults().rtcpOff {
		return
	}
	v.writeSenderReports(r, ntp)
}
