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
// one immutable streamState, swapped atomically by the server (under
// Server.mu) whenever a fault begins or ends or the server (re)listens: so
// checking for faults costs each packet one atomic load.
type stream struct {
	spec    StreamSpec
	index   int   // in Server.streams
	clip    *clip // the spec's codec
	altClip *clip // the codec FaultSDPChange switches to

	// cur is nil while the server is not listening.
	cur atomic.Pointer[streamState]

	// Guarded by Server.mu.
	active  []*activeFault // in the order they began
	v       *variant       // being served; nil while not listening
	jump    time.Duration  // total of FaultTimestampJump on v
	seqJump uint16         // total sequence jumps of FaultSSRCChange on v
	ssrc    uint32         // SSRC FaultSSRCChange gave v, or 0

	sent atomic.Uint64 // audio packets written
}

// streamState is a stream's published state; see stream.
type streamState struct {
	v *variant
	f *faultSet // nil without active faults
	// Persistent effects of the instantaneous faults on v.
	tsJump   uint32 // added to audio RTP timestamps
	seqJump  uint16 // added to audio sequence numbers
	ssrcFrom uint32 // SSRC that the readers' connections rewrite...
	ssrcTo   uint32 // ...into this one, if not 0
}

func newStream(spec StreamSpec, index int, c, alt *clip) *stream {
	return &stream{spec: spec, index: index, clip: c, altClip: alt}
}

// publish makes the stream's current variant and faults visible to the
// pacer, the handler and the connections, or hides the stream while the
// server is not listening. Server.mu must be held.
func (st *stream) publish(packet time.Duration) {
	if st.v == nil {
		st.cur.Store(nil)
		return
	}
	cs := &streamState{v: st.v, f: newFaultSet(st.active, packet), seqJump: st.seqJump}
	if st.v.clockRate != 0 {
		cs.tsJump = uint32(int64(st.jump) * int64(st.v.clockRate) / int64(time.Second))
	}
	if st.ssrc != 0 {
		cs.ssrcFrom, cs.ssrcTo = st.v.audioSSRC, st.ssrc
	}
	st.cur.Store(cs)
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
	cs := st.cur.Load()
	if cs == nil {
		return
	}
	v := cs.v
	if v.audio != nil {
		v.writeAudio(st, cs, r, ntp, rng)
	}
	if v.video != nil && (cs.f == nil || !cs.f.videoOff) {
		v.writeVideo(r, ntp)
	}
}

// writeSenderReports sends the stream's RTCP sender reports for round r.
// Called by the pacer goroutine only, after writePacket for r.
func (st *stream) writeSenderReports(r int64, ntp uint64) {
	cs := st.cur.Load()
	if cs == nil || cs.f != nil && cs.f.rtcpOff {
		return
	}
	cs.v.writeSenderReports(r, ntp)
}
