package loadtest

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// stream is one synthetic camera: its spec, the clip it plays, and the RTP
// state the pacer advances.
//
// Fault injection (a later issue) belongs here: per-stream fault state as
// fields of this struct, consulted at two points only — writePacket, which
// decides what the pacer sends each round (stop audio, jump timestamps,
// garbage), and serverHandler.lookup, which decides how RTSP requests for
// this path are answered (401/404, slow DESCRIBE, reset). Swapping rtsp for
// a new ServerStream is how an SSRC change or a restart would be done, since
// gortsplib assigns the SSRC per ServerStream.
type stream struct {
	spec  StreamSpec
	clip  *clip
	media *description.Media

	// rtsp is the gortsplib stream readers attach to; nil before Start and
	// after Close. Read by RTSP handler goroutines, swapped by Start/Close.
	rtsp atomic.Pointer[gortsplib.ServerStream]

	// Touched by the pacer goroutine only.
	pkt rtp.Packet // reused for every packet
	ts0 uint32     // RTP timestamp of round 0

	sent atomic.Uint64 // packets written
}

func newStream(spec StreamSpec, c *clip) *stream {
	f := c.newFormat()
	st := &stream{
		spec: spec,
		clip: c,
		media: &description.Media{
			Type:    description.MediaTypeAudio,
			Formats: []format.Format{f},
		},
		ts0: rand.Uint32(),
	}
	st.pkt.Header = rtp.Header{
		Version:        2,
		PayloadType:    f.PayloadType(),
		SequenceNumber: uint16(rand.Uint32()),
		Marker:         c.marker,
		// SSRC is overwritten by gortsplib with the ServerStream's own
		// random SSRC.
	}
	return st
}

// packet fills the reused packet with round r's timestamp and payload (nil
// when the round sends nothing) and returns how long after the round's due
// time its audio starts. The clip loops; the timestamp keeps counting.
// Pacer only.
func (st *stream) packet(r int64) (*rtp.Packet, time.Duration) {
	p := &st.pkt
	var ts uint32
	var lead time.Duration
	p.Payload, ts, lead = st.clip.packet(r)
	p.Timestamp = st.ts0 + ts
	return p, lead
}

// writePacket sends the packet of round r, due at ntp, to every reader.
// Called by the pacer goroutine only; it does not allocate (gortsplib
// marshals into its own buffer) and does not block on readers (gortsplib
// queues to each session).
func (st *stream) writePacket(r int64, ntp time.Time) {
	ss := st.rtsp.Load()
	if ss == nil {
		return
	}
	p, lead := st.packet(r)
	if p.Payload == nil {
		return
	}
	// It fails only once the ServerStream is closed (the packet sizes were
	// validated by NewServer), and then nothing was sent.
	if err := ss.WritePacketRTPWithNTP(st.media, p, ntp.Add(lead)); err != nil {
		return
	}
	// Sequence numbers count packets actually sent, so they stay
	// consecutive across skipped rounds while timestamps jump.
	p.SequenceNumber++
	st.sent.Add(1)
}
