package loadtest

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// variantKind is which session description a stream serves.
type variantKind int

const (
	// variantNormal is the spec's codec, after the video track if
	// StreamSpec.Video.
	variantNormal variantKind = iota
	// variantNoAudio is a single video track (FaultNoAudio).
	variantNoAudio
	// variantUnsupported has AC-3 as its only audio track
	// (FaultUnsupportedCodec).
	variantUnsupported
	// variantChanged plays the stream's alternate G.711 codec
	// (FaultSDPChange).
	variantChanged
)

// Payload types of the tracks that only faults or video use, apart from
// those of the codecs streams play.
const (
	payloadTypeAC3  = 101
	payloadTypeH264 = 102
)

// videoFrame is the period of the dummy video track (25 frames/s), rounded
// to whole pacer rounds.
const videoFrame = 40 * time.Millisecond

// videoPayload is one H.264 access unit delimiter NAL unit: the smallest
// valid payload, which no reader of audio needs to decode.
var videoPayload = []byte{0x09, 0xf0}

// variantFor returns the variant the active faults call for: the one of
// the SDP faults that began last, else the normal one.
func variantFor(active []*activeFault) variantKind {
	kind := variantNormal
	for _, af := range active {
		switch af.f.Kind {
		case FaultNoAudio:
			kind = variantNoAudio
		case FaultUnsupportedCodec:
			kind = variantUnsupported
		case FaultSDPChange:
			kind = variantChanged
		}
	}
	return kind
}

// variant is one session description of a stream, the gortsplib stream
// that serves it, and the RTP state the pacer advances for it. A stream
// gets a new variant (so a new ServerStream, with new SSRCs, sequence
// numbers and timestamps) when an SDP fault begins or ends and when the
// server listens again after a restart; the old one is closed, which ends
// its readers' sessions.
type variant struct {
	// Read by the pacer for every packet, first so that they share cache
	// lines.
	effects atomic.Pointer[effects] // nil: no fault acts on the variant
	ss      *gortsplib.ServerStream // set by start
	audio   *description.Media      // nil without an audio track
	clip    *clip                   // payloads of the audio track
	ticks   uint32                  // audio RTP timestamp increment per round

	// Touched by the pacer goroutine only; the hot ones first.
	ts0     uint32     // audio RTP timestamp of round 0
	seq     uint16     // next audio sequence number, before seqJump
	backlog bool       // holding, or packets queued: the slow path is needed
	lastTS  uint32     // audio timestamp of the last round, sent or not
	ahead   int64      // rounds FaultFastClock sent beyond real time
	packets uint32     // audio packets sent, for sender reports
	octets  uint32     // audio payload bytes sent
	pkt     rtp.Packet // audio, reused for every packet

	video *description.Media // nil without a video track
	// The video track sends a packet in rounds where
	// (r+videoPhase)%videoEvery == 0, so that streams spread their video
	// over the rounds.
	videoEvery, videoPhase int64

	kind      variantKind
	clockRate int // of the audio track
	// SSRCs gortsplib assigned; set by start.
	audioSSRC, videoSSRC uint32

	// Touched by the pacer goroutine only, under faults or with video.
	frozen   bool // timestamps are frozen at frozenTS
	frozenTS uint32
	holding  bool // FaultUDPReorder holds held back
	held     rtp.Packet
	queue    []queuedPacket // packets FaultUDPJitter delays, in order
	vpkt     rtp.Packet     // video, reused
	vts0     uint32
	vticks   uint32
	vpackets uint32
	voctets  uint32
	sr       rtcp.SenderReport // reused; gortsplib marshals it at once
}

// queuedPacket is an audio packet FaultUDPJitter delays until round
// release.
type queuedPacket struct {
	pkt     rtp.Packet
	release int64
}

// newVariant builds the variant kind of st for packets of d. It does not
// touch gortsplib; see start.
func (st *stream) newVariant(kind variantKind, d time.Duration) *variant {
	v := &variant{kind: kind, ts0: rand.Uint32(), seq: uint16(rand.Uint32())}
	var af format.Format
	switch kind {
	case variantNormal:
		v.clip, af = st.clip, st.clip.newFormat()
	case variantChanged:
		v.clip, af = st.altClip, st.altClip.newFormat()
	case variantUnsupported:
		v.clip = st.clip
		af = &format.AC3{PayloadTyp: payloadTypeAC3, SampleRate: 48000, ChannelCount: 1}
	}
	if af != nil {
		v.audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{af}}
		v.clockRate = af.ClockRate()
		v.ticks = uint32(samplesPer(d, v.clockRate))
		v.pkt.Header = rtp.Header{Version: 2, PayloadType: af.PayloadType(), Marker: v.clip.marker}
	}
	if st.spec.Video || kind == variantNoAudio {
		v.video = &description.Media{
			Type:    description.MediaTypeVideo,
			Formats: []format.Format{&format.H264{PayloadTyp: payloadTypeH264, PacketizationMode: 1}},
		}
		v.videoEvery = max(1, int64((videoFrame+d/2)/d))
		v.videoPhase = int64(st.index) % v.videoEvery
		v.vts0 = rand.Uint32()
		v.vticks = uint32(samplesPer(d, 90000))
		v.vpkt.Header = rtp.Header{
			Version: 2, PayloadType: payloadTypeH264, Marker: true,
			SequenceNumber: uint16(rand.Uint32()),
		}
		v.vpkt.Payload = videoPayload
	}
	return v
}

// medias returns the variant's tracks in SDP order: video first, as
// cameras do.
func (v *variant) medias() []*description.Media {
	var ms []*description.Media
	if v.video != nil {
		ms = append(ms, v.video)
	}
	if v.audio != nil {
		ms = append(ms, v.audio)
	}
	return ms
}

// start creates the gortsplib stream serving v on rs.
func (v *variant) start(rs *gortsplib.Server) error {
	ss := &gortsplib.ServerStream{Server: rs, Desc: &description.Session{Medias: v.medias()}}
	if err := ss.Initialize(); err != nil {
		return err
	}
	// Sender reports are the pacer's (ServerConfig.SenderReportPeriod):
	// they need the SSRCs gortsplib stamps on the packets.
	stats := ss.Stats()
	if v.audio != nil {
		v.audioSSRC = stats.Medias[v.audio].Formats[v.audio.Formats[0]].LocalSSRC
	}
	if v.video != nil {
		v.videoSSRC = stats.Medias[v.video].Formats[v.video.Formats[0]].LocalSSRC
	}
	v.ss = ss
	return nil
}

// clipPacket returns the audio payload of round r (nil when the round
// sends none), its RTP timestamp relative to round 0's, and how long after
// the round's due time its audio starts. The clip loops; the timestamp
// keeps counting.
func (v *variant) clipPacket(r int64) ([]byte, uint32, time.Duration) {
	return v.clip.packet(r)
}

// nextAudio fills the reused audio packet with payload, timestamp ts and
// the next sequence number. Pacer only.
func (v *variant) nextAudio(payload []byte, ts uint32, seqJump uint16) *rtp.Packet {
	p := &v.pkt
	p.Timestamp = ts
	p.SequenceNumber = v.seq + seqJump
	p.Payload = payload
	v.seq++
	return p
}

// writeAudio sends the audio of round r, due at ntp, as e says: one
// packet, or under FaultFastClock several, each a round further ahead.
// Pacer only; without faults it does not allocate (gortsplib marshals into
// its own buffer) and does not block on readers (gortsplib queues to each
// session).
func (v *variant) writeAudio(st *stream, e *effects, r int64, ntp time.Time, rng *rand.Rand) {
	v.writeRound(st, e, r+v.ahead, ntp, rng)
	for range e.faults().speed - 1 {
		v.ahead++
		v.writeRound(st, e, r+v.ahead, ntp, rng)
	}
}

// writeRound sends the audio packet of round r (of the RTP clock), at ntp.
func (v *variant) writeRound(st *stream, e *effects, r int64, ntp time.Time, rng *rand.Rand) {
	payload, ts, lead := v.clipPacket(r)
	if payload == nil {
		// No access unit starts in this round (AAC); sender reports still
		// need the RTP clock at the round.
		v.lastTS = v.ts0 + e.tsJumpOrZero() + uint32(r)*v.ticks
		return
	}
	ntp = ntp.Add(lead)
	if e == nil && !v.backlog {
		ts += v.ts0
		// Sender reports map the round's time, lead earlier than ts.
		v.lastTS = ts - uint32(int64(lead)*int64(v.clockRate)/int64(time.Second))
		v.send(st, v.nextAudio(payload, ts, 0), ntp)
		return
	}
	v.writeFaultedAudio(st, e, r, payload, ts, ntp, rng)
	v.backlog = v.holding || len(v.queue) > 0
}

// writeFaultedAudio is writeAudio's slow path: under faults, or while
// packets delayed by faults that have ended are still due. ts is relative
// to round 0's.
func (v *variant) writeFaultedAudio(st *stream, e *effects, r int64, payload []byte, ts uint32, ntp time.Time, rng *rand.Rand) {
	var seqJump uint16
	ts += v.ts0
	if e != nil {
		ts += e.tsJump
		seqJump = e.seqJump
	}
	f := e.faults() // without faults, only the backlog is left to send
	if f.size > 0 {
		payload = oversized(payload, f.size)
	}
	if f.frozen {
		if !v.frozen {
			v.frozen, v.frozenTS = true, ts
		}
		ts = v.frozenTS
	} else {
		v.frozen = false
	}
	v.lastTS = ts
	if f.audioOff {
		v.flushHeld(st, r, f, ntp, rng)
		v.release(st, r, ntp)
		return
	}
	p := v.nextAudio(payload, ts, seqJump)
	if f.loss > 0 && rng.Float64() < f.loss {
		v.release(st, r, ntp)
		return
	}
	switch {
	case v.holding:
		v.delay(st, p, r, f, ntp, rng)
		v.flushHeld(st, r, f, ntp, rng)
	case f.reorder > 0 && rng.Float64() < f.reorder:
		v.held, v.holding = *p, true
	default:
		v.delay(st, p, r, f, ntp, rng)
	}
	v.release(st, r, ntp)
}

// oversized returns payload repeated to size bytes, in a new buffer:
// FaultUDPReorder and FaultUDPJitter may keep the packet.
func oversized(payload []byte, size int) []byte {
	if len(payload) == 0 {
		return payload
	}
	big := make([]byte, 0, size)
	for len(big) < size {
		big = append(big, payload[:min(len(payload), size-len(big))]...)
	}
	return big
}

// flushHeld passes on the packet FaultUDPReorder held back, if any.
func (v *variant) flushHeld(st *stream, r int64, f *faultSet, ntp time.Time, rng *rand.Rand) {
	if v.holding {
		v.holding = false
		v.delay(st, &v.held, r, f, ntp, rng)
	}
}

// delay sends p now, or queues it for a random later round under
// FaultUDPJitter. Queued packets keep their order, so a packet waits at
// least as long as the one before it.
func (v *variant) delay(st *stream, p *rtp.Packet, r int64, f *faultSet, ntp time.Time, rng *rand.Rand) {
	if f.jitter == 0 && len(v.queue) == 0 {
		v.send(st, p, ntp)
		return
	}
	at := r
	if f.jitter > 0 {
		at += rng.Int64N(f.jitter + 1)
	}
	if n := len(v.queue); n > 0 {
		at = max(at, v.queue[n-1].release)
	}
	v.queue = append(v.queue, queuedPacket{pkt: *p, release: at})
}

// release sends the queued packets due by round r.
func (v *variant) release(st *stream, r int64, ntp time.Time) {
	n := 0
	for n < len(v.queue) && v.queue[n].release <= r {
		v.send(st, &v.queue[n].pkt, ntp)
		n++
	}
	if n > 0 {
		v.queue = append(v.queue[:0], v.queue[n:]...)
	}
}

// send writes one audio packet to every reader. It fails only once the
// ServerStream is closed (packet sizes were validated by NewServer), and
// then nothing was sent.
func (v *variant) send(st *stream, p *rtp.Packet, ntp time.Time) {
	if err := v.ss.WritePacketRTPWithNTP(v.audio, p, ntp); err != nil {
		return
	}
	v.packets++
	v.octets += uint32(len(p.Payload))
	st.sent.Add(1)
}

// writeVideo sends the video packet of round r, if the track has one due.
func (v *variant) writeVideo(r int64, ntp time.Time) {
	if (r+v.videoPhase)%v.videoEvery != 0 {
		return
	}
	p := &v.vpkt
	p.Timestamp = v.vts0 + uint32(r)*v.vticks
	if err := v.ss.WritePacketRTPWithNTP(v.video, p, ntp); err != nil {
		return
	}
	p.SequenceNumber++
	v.vpackets++
	v.voctets += uint32(len(p.Payload))
}

// writeSenderReports sends an RTCP sender report for each track, mapping
// ntp to the RTP time of round r (which writeAudio has just handled).
func (v *variant) writeSenderReports(r int64, ntp uint64) {
	// Errors mean the ServerStream is closed: nobody to report to.
	if v.audio != nil {
		v.sr = rtcp.SenderReport{
			SSRC: v.audioSSRC, NTPTime: ntp, RTPTime: v.lastTS,
			PacketCount: v.packets, OctetCount: v.octets,
		}
		_ = v.ss.WritePacketRTCP(v.audio, &v.sr)
	}
	if v.video != nil {
		v.sr = rtcp.SenderReport{
			SSRC: v.videoSSRC, NTPTime: ntp, RTPTime: v.vts0 + uint32(r)*v.vticks,
			PacketCount: v.vpackets, OctetCount: v.voctets,
		}
		_ = v.ss.WritePacketRTCP(v.video, &v.sr)
	}
}

// ntpTime encodes t as an RTCP sender report's NTP timestamp: seconds since
// 1900 in the high 32 bits, and the fraction of a second in the low 32 bits
// in units of 2^-32 s (RFC 3550) if rfc3550, else in nanoseconds, as
// gortsplib v4.16.2 encodes and decodes it.
func ntpTime(t time.Time, rfc3550 bool) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	ns := uint64(t.UnixNano())
	sec, frac := ns/1e9+ntpEpochOffset, ns%1e9
	if rfc3550 {
		frac = frac << 32 / 1e9
	}
	return sec<<32 | frac
}
