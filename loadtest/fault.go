package loadtest

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidFault is wrapped by every error Inject returns for a Fault it
// rejects, and by NewServer's errors for a rejected ServerConfig.Faults
// entry (which also wrap ErrInvalidConfig).
var ErrInvalidFault = errors.New("invalid fault")

// FaultKind names what a Fault does to a stream. The values are stable
// strings, meant for scenario files and logs.
type FaultKind string

// The fault kinds. Unless a kind says otherwise, it acts on one stream from
// the moment it begins until it ends, and the stream is back to normal
// afterwards. The kinds that change what a new connection meets
// (tcp_reset, unauthorized, not_found, no_audio, unsupported_codec,
// sdp_change, slow_describe, redirect_other_host, redirect_loop) end the stream's sessions when they begin, so
// that readers reconnect into the fault; the SDP ones end them again when
// they end. The packet kinds act on the audio track only.
const (
	// FaultAudioStopVideo stops the audio RTP packets while the stream's
	// video track keeps sending. The stream needs StreamSpec.Video.
	FaultAudioStopVideo FaultKind = "audio_stop_video"
	// FaultAudioStopRTCP stops the audio RTP packets while RTCP sender
	// reports keep coming every ServerConfig.SenderReportPeriod, their RTP
	// time still advancing.
	FaultAudioStopRTCP FaultKind = "audio_stop_rtcp"
	// FaultSilent stops every RTP and RTCP packet of the stream, on every
	// track, while RTSP requests (OPTIONS, GET_PARAMETER keepalives) are
	// still answered.
	FaultSilent FaultKind = "silent"
	// FaultTimestampsFrozen keeps audio packets coming, with consecutive
	// sequence numbers, but their RTP timestamp stops advancing. When the
	// fault ends, timestamps are back to real time (a forward jump by the
	// fault's length).
	FaultTimestampsFrozen FaultKind = "timestamps_frozen"
	// FaultTCPReset resets (TCP RST) the RTSP connections of the stream's
	// readers when it begins, and ends their sessions (UDP ones too). While
	// it lasts, any connection that asks for the stream is reset as well.
	FaultTCPReset FaultKind = "tcp_reset"
	// FaultServerRestart is server-wide (Fault.Stream must be empty): every
	// listener, connection and session closes when it begins, and the
	// server listens again on the same RTSP address when it ends. Streams
	// come back with new SSRCs, sequence numbers and timestamps, as from a
	// rebooted camera; UDP ports may change.
	FaultServerRestart FaultKind = "server_restart"
	// FaultUnauthorized answers DESCRIBE and SETUP for the stream with 401
	// Unauthorized (with a WWW-Authenticate challenge), whatever the
	// credentials, as after a password change.
	FaultUnauthorized FaultKind = "unauthorized"
	// FaultNotFound answers DESCRIBE and SETUP for the stream with 404 Not
	// Found.
	FaultNotFound FaultKind = "not_found"
	// FaultNoAudio serves an SDP with a single H.264 video track and no
	// audio.
	FaultNoAudio FaultKind = "no_audio"
	// FaultUnsupportedCodec serves an SDP whose only audio track is AC-3
	// ("AC3/48000/1", payload type 97), which earshot does not decode;
	// packets keep flowing on it.
	FaultUnsupportedCodec FaultKind = "unsupported_codec"
	// FaultGarbage writes a burst of 1 to 16 random bytes after every
	// interleaved frame sent to the stream's readers over TCP (RTSP or
	// RTSPS), between valid frames. The bytes are never '$' nor ASCII
	// capital letters, so a reader that skips unknown bytes resynchronises
	// on the next frame. UDP readers are not affected.
	FaultGarbage FaultKind = "garbage"
	// FaultUDPLoss drops a fraction Fault.Loss of the stream's audio
	// packets: the sequence numbers of the lost packets are skipped.
	FaultUDPLoss FaultKind = "udp_loss"
	// FaultUDPReorder swaps an audio packet with the next one, with
	// probability Fault.Reorder.
	FaultUDPReorder FaultKind = "udp_reorder"
	// FaultUDPJitter delays each audio packet by a random whole number of
	// packet durations up to Fault.Jitter, keeping their order.
	FaultUDPJitter FaultKind = "udp_jitter"
	// FaultTimestampJump is instantaneous: the audio RTP timestamp jumps
	// forward by Fault.Jump once, and keeps counting from there.
	FaultTimestampJump FaultKind = "timestamp_jump"
	// FaultSSRCChange is instantaneous: the audio track continues with a
	// new SSRC (in RTP packets and sender reports) and a new sequence
	// number base. Over UDP only the sequence base changes (gortsplib
	// stamps UDP packets with the SSRC it chose; see docs/faults.md).
	FaultSSRCChange FaultKind = "ssrc_change"
	// FaultSDPChange serves the stream in another codec: G.711 µ-law
	// (PCMU), or A-law (PCMA) for a PCMU stream.
	FaultSDPChange FaultKind = "sdp_change"
	// FaultSlowDescribe accepts connections and answers OPTIONS, but holds
	// every DESCRIBE of the stream unanswered until the fault ends (or the
	// server closes).
	FaultSlowDescribe FaultKind = "slow_describe"
	// FaultOversizedPayload makes every audio payload Fault.Size bytes
	// long (the round's payload repeated), while RTP timestamps advance
	// as before: payloads longer than their slot, as from a camera that
	// declares L16/8000/1 and sends far more. For the PCM codecs (pcma,
	// pcmu, l16) the excess decodes as audio.
	FaultOversizedPayload FaultKind = "oversized_payload"
	// FaultFastClock sends Fault.Speed audio packets per packet duration
	// instead of one: consecutive sequence numbers and timestamps, the RTP
	// clock running Speed times faster than real time. When the fault
	// ends the timestamps keep the lead they gained.
	FaultFastClock FaultKind = "fast_clock"
	// FaultRedirectOtherHost answers every DESCRIBE of the stream with 302
	// Found to the same path on another host: a RecordingServer on
	// 127.0.0.2 that asks for credentials and records every request it
	// gets (Server.Decoy), so that a test can check that none carries the
	// camera's credentials.
	FaultRedirectOtherHost FaultKind = "redirect_other_host"
	// FaultRedirectLoop answers every DESCRIBE of the stream with 302
	// Found to the URL asked for, without end; Server.Accepts counts the
	// connections a reader opens meanwhile.
	FaultRedirectLoop FaultKind = "redirect_loop"
)

// kindInfo is what the server needs to know about a fault kind.
type kindInfo struct {
	// serverWide kinds have no stream.
	serverWide bool
	// instant kinds act once when they begin and end at once.
	instant bool
	// endsSessions kinds close the stream's sessions when they begin, so
	// that readers reconnect and meet the fault. (Kinds that change the
	// SDP close them by swapping the stream's ServerStream.)
	endsSessions bool
	// needsVideo kinds need StreamSpec.Video.
	needsVideo bool
}

// faultKinds lists every kind, in the order FaultKinds returns them.
var faultKinds = []struct {
	kind FaultKind
	info kindInfo
}{
	{FaultAudioStopVideo, kindInfo{needsVideo: true}},
	{FaultAudioStopRTCP, kindInfo{}},
	{FaultSilent, kindInfo{}},
	{FaultTimestampsFrozen, kindInfo{}},
	{FaultTCPReset, kindInfo{endsSessions: true}},
	{FaultServerRestart, kindInfo{serverWide: true}},
	{FaultUnauthorized, kindInfo{endsSessions: true}},
	{FaultNotFound, kindInfo{endsSessions: true}},
	{FaultNoAudio, kindInfo{}},
	{FaultUnsupportedCodec, kindInfo{}},
	{FaultGarbage, kindInfo{}},
	{FaultUDPLoss, kindInfo{}},
	{FaultUDPReorder, kindInfo{}},
	{FaultUDPJitter, kindInfo{}},
	{FaultTimestampJump, kindInfo{instant: true}},
	{FaultSSRCChange, kindInfo{instant: true}},
	{FaultSDPChange, kindInfo{}},
	{FaultSlowDescribe, kindInfo{endsSessions: true}},
	{FaultOversizedPayload, kindInfo{}},
	{FaultFastClock, kindInfo{}},
	{FaultRedirectOtherHost, kindInfo{endsSessions: true}},
	{FaultRedirectLoop, kindInfo{endsSessions: true}},
}

// FaultKinds returns every fault kind the server implements.
func FaultKinds() []FaultKind {
	out := make([]FaultKind, len(faultKinds))
	for i, k := range faultKinds {
		out[i] = k.kind
	}
	return out
}

func (k FaultKind) info() (kindInfo, bool) {
	for _, e := range faultKinds {
		if e.kind == k {
			return e.info, true
		}
	}
	return kindInfo{}, false
}

// Bounds checked by Fault validation.
const (
	maxJitter = 2 * time.Second
	minJump   = time.Millisecond
	maxJump   = time.Hour
	maxSpeed  = 100
)

// Fault is one fault, injected at run time with Server.Inject or scheduled
// in ServerConfig.Faults.
type Fault struct {
	// Stream is the name of the stream the fault acts on. It must be empty
	// for FaultServerRestart, and name a served stream otherwise.
	Stream string
	// Kind is what the fault does.
	Kind FaultKind
	// At is when a scheduled fault begins, from Server.Start. Inject
	// ignores it. It defaults to 0: at Start.
	At time.Duration
	// Duration is how long the fault lasts; 0 means until it is cleared
	// (or the server closes). It must be 0 for the instantaneous kinds
	// (timestamp_jump, ssrc_change).
	Duration time.Duration
	// Loss is the fraction of audio packets FaultUDPLoss drops, in (0, 1].
	// Only for FaultUDPLoss.
	Loss float64
	// Reorder is the probability, in (0, 1], that FaultUDPReorder swaps an
	// audio packet with the next. Only for FaultUDPReorder.
	Reorder float64
	// Jitter is the largest delay FaultUDPJitter adds to a packet, from
	// ServerConfig.PacketDuration to 2 s. Delays are whole packet
	// durations. Only for FaultUDPJitter.
	Jitter time.Duration
	// Jump is how far FaultTimestampJump moves the RTP timestamp forward,
	// from 1 ms to 1 h. Only for FaultTimestampJump.
	Jump time.Duration
	// Size is the audio payload length FaultOversizedPayload sends, from 1
	// to 1460 bytes (a 1472-byte UDP payload less the RTP header). Only
	// for FaultOversizedPayload.
	Size int
	// Speed is how many times faster than real time FaultFastClock sends
	// audio, from 2 to 100. Only for FaultFastClock.
	Speed int
}

// String describes f for logs, e.g. `udp_loss on "cam1" (Loss 0.5)`.
func (f Fault) String() string {
	var b strings.Builder
	b.WriteString(string(f.Kind))
	if f.Stream != "" {
		fmt.Fprintf(&b, " on %q", f.Stream)
	}
	switch {
	case f.Loss != 0:
		fmt.Fprintf(&b, " (Loss %g)", f.Loss)
	case f.Reorder != 0:
		fmt.Fprintf(&b, " (Reorder %g)", f.Reorder)
	case f.Jitter != 0:
		fmt.Fprintf(&b, " (Jitter %v)", f.Jitter)
	case f.Jump != 0:
		fmt.Fprintf(&b, " (Jump %v)", f.Jump)
	case f.Size != 0:
		fmt.Fprintf(&b, " (Size %d)", f.Size)
	case f.Speed != 0:
		fmt.Fprintf(&b, " (Speed %d)", f.Speed)
	}
	return b.String()
}

// FaultEvent records one fault the server applied: scheduled or injected.
type FaultEvent struct {
	Fault
	// Began is when the fault took effect.
	Began time.Time
	// Ended is when it stopped: Began for instantaneous kinds, the zero
	// time while it is still active.
	Ended time.Time
	// Error is set when the fault could not be carried out as specified:
	// a server_restart after which the server failed to listen again.
	Error string
}

// validate checks f against the server's config; streams maps the served
// stream names to their specs.
func (f Fault) validate(cfg *ServerConfig, streams map[string]*stream) error {
	info, ok := f.Kind.info()
	if !ok {
		kinds := make([]string, len(faultKinds))
		for i, k := range faultKinds {
			kinds[i] = string(k.kind)
		}
		return fmt.Errorf("%w: unknown kind %q (want one of %s)", ErrInvalidFault, f.Kind, strings.Join(kinds, ", "))
	}
	if info.serverWide {
		if f.Stream != "" {
			return fmt.Errorf("%w: %s: Stream must be empty (the fault is server-wide)", ErrInvalidFault, f)
		}
	} else {
		st, ok := streams[f.Stream]
		if !ok {
			return fmt.Errorf("%w: %s: no such stream", ErrInvalidFault, f)
		}
		if info.needsVideo && !st.spec.Video {
			return fmt.Errorf("%w: %s: the stream has no video track (set StreamSpec.Video)", ErrInvalidFault, f)
		}
	}
	if f.At < 0 {
		return fmt.Errorf("%w: %s: negative At %v", ErrInvalidFault, f, f.At)
	}
	if f.Duration < 0 {
		return fmt.Errorf("%w: %s: negative Duration %v", ErrInvalidFault, f, f.Duration)
	}
	if info.instant && f.Duration != 0 {
		return fmt.Errorf("%w: %s: Duration must be 0 (the fault is instantaneous)", ErrInvalidFault, f)
	}
	if err := f.validateParams(cfg.PacketDuration); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidFault, f, err)
	}
	return nil
}

// validateParams checks that exactly the parameters f.Kind uses are set,
// and within bounds.
func (f Fault) validateParams(packet time.Duration) error {
	params := []struct {
		name string
		kind FaultKind
		set  bool
		err  error
	}{
		{"Loss", FaultUDPLoss, f.Loss != 0, checkFraction(f.Loss)},
		{"Reorder", FaultUDPReorder, f.Reorder != 0, checkFraction(f.Reorder)},
		{"Jitter", FaultUDPJitter, f.Jitter != 0, checkRange(f.Jitter, packet, maxJitter)},
		{"Jump", FaultTimestampJump, f.Jump != 0, checkRange(f.Jump, minJump, maxJump)},
		{"Size", FaultOversizedPayload, f.Size != 0, checkRange(f.Size, 1, maxRTPPayload)},
		{"Speed", FaultFastClock, f.Speed != 0, checkRange(f.Speed, 2, maxSpeed)},
	}
	for _, p := range params {
		switch {
		case p.kind != f.Kind && p.set:
			return fmt.Errorf("%s is only used by %s", p.name, p.kind)
		case p.kind == f.Kind && p.err != nil:
			return fmt.Errorf("%s %w", p.name, p.err)
		}
	}
	return nil
}

func checkFraction(v float64) error {
	if !(v > 0 && v <= 1) {
		return fmt.Errorf("%g is not in (0, 1]", v)
	}
	return nil
}

func checkRange[T time.Duration | int](d, lo, hi T) error {
	if d < lo || d > hi {
		return fmt.Errorf("%v is not in [%v, %v]", d, lo, hi)
	}
	return nil
}
