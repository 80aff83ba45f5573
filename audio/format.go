// Package audio is earshot's pure-Go audio core: the codec registry (which
// codecs earshot decodes and how SDP announces them), track formats, the
// depacketizers of AAC, G.711 and L16 expansion, the resampler that brings
// decoded audio to one output rate, the chunker that cuts it into
// fixed-duration chunks, and WAV and s16le helpers. It builds without cgo;
// the decoders that need libopus or libavcodec are in audio/decoder.
//
// The package is pure: no goroutines, no sockets, no clocks. Every type here is
// owned by one stream worker and is not safe for concurrent use. Hot-path
// methods reuse internal buffers and do not allocate per packet.
package audio

import (
	"errors"
	"fmt"
	"strconv"
)

// Codec names, as they appear in the earshot.codec Kafka header. G.726 has
// one name per bit rate and packing; see G726Codec.
const (
	CodecOpus = "opus"
	CodecPCMA = "pcma" // G.711 A-law
	CodecPCMU = "pcmu" // G.711 µ-law
	CodecL16  = "l16"  // linear 16-bit big-endian (RFC 3551)
	// CodecAAC is AAC-LC in MPEG4-GENERIC (RFC 3640, AU headers).
	CodecAAC = "aac"
	// CodecAACLATM is AAC-LC in MP4A-LATM (RFC 6416).
	CodecAACLATM = "aac-latm"
	// CodecG722 is G.722 at 64 kbit/s: 16 kHz audio on an 8 kHz RTP clock.
	CodecG722 = "g722"
)

// G726Codec returns the codec name of G.726 at kbps (16, 24, 32 or 40)
// kbit/s, as SDP names it: "g726-32" for the RFC 3551 packing, where the
// first code word fills the least significant bits of the first byte, and
// "aal2-g726-32" for the AAL2 packing (ITU-T I.366.2), most significant
// bits first.
func G726Codec(kbps int, aal2 bool) string {
	name := "g726-" + strconv.Itoa(kbps)
	if aal2 {
		name = "aal2-" + name
	}
	return name
}

// ErrUnsupportedCodec is returned for a codec this package cannot decode.
var ErrUnsupportedCodec = errors.New("unsupported audio codec")

// Format describes the audio carried by one RTP track, as announced by SDP.
// It is comparable: equal Formats decode alike.
type Format struct {
	// Codec is one of the names Codecs returns: the Name of a registry
	// entry (see LookupCodec).
	Codec string
	// SampleRate is the audio sample rate in Hz: 48000 for Opus, whatever
	// the decoded rate; 8000 for G.711 and G.726; 16000 for G.722; the
	// AudioSpecificConfig's rate for AAC (its SBR rate for HE-AAC); 8000
	// for AMR, 16000 for AMR-WB; 0 for MP4A-LATM whose configuration
	// travels in-band and for MPEG audio, whose frame headers carry it.
	SampleRate int
	// Channels is the channel count announced by SDP. AAC decodes whatever
	// its configuration and bitstream carry.
	Channels int
	// ClockRate is the RTP clock rate in Hz. It defaults to 8000 for G.722,
	// whose 16 kHz audio keeps the 8 kHz clock of RFC 3551, and to
	// SampleRate otherwise; MP4A-LATM with in-band configuration runs at
	// 90000.
	ClockRate int
	// AAC configures CodecAAC and CodecAACLATM; other codecs ignore it.
	AAC AACConfig
	// AMR configures CodecAMR and CodecAMRWB; other codecs ignore it.
	AMR AMRConfig
}

// AACConfig is the out-of-band configuration of an AAC track, from the SDP
// fmtp line.
type AACConfig struct {
	// Config is the fmtp "config" parameter, hex-decoded: the
	// AudioSpecificConfig for CodecAAC, the StreamMuxConfig for
	// CodecAACLATM. For LATM it is empty when the configuration travels
	// in-band (cpresent=1).
	Config string
	// SizeLength, IndexLength and IndexDeltaLength are the bit widths of
	// the RFC 3640 AU-header fields (CodecAAC only; AAC-hbr uses 13, 3
	// and 3).
	SizeLength, IndexLength, IndexDeltaLength int
}

// RTPClockRate returns f.ClockRate with its default applied: the
// codec's fixed clock rate (8000 for G.722), else SampleRate.
func (f Format) RTPClockRate() int {
	if f.ClockRate != 0 {
		return f.ClockRate
	}
	if c, ok := LookupCodec(f.Codec); ok && c.ClockRate != 0 {
		return c.ClockRate
	}
	return f.SampleRate
}

// inBandRate reports whether f's sample rate travels in-band: MP4A-LATM
// configured in-band, and MPEG audio, whose frame headers carry it.
func (f Format) inBandRate() bool {
	return f.Codec == CodecAACLATM && f.AAC.Config == "" || f.Codec == CodecMPA
}

func (f Format) String() string {
	return fmt.Sprintf("%s/%d/%d", f.Codec, f.SampleRate, f.Channels)
}

// Validate reports whether f describes audio this package can decode.
// The AAC configuration is checked by NewDepacketizer, which parses it.
func (f Format) Validate() error {
	c, ok := LookupCodec(f.Codec)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnsupportedCodec, f.Codec)
	}
	switch {
	case f.inBandRate() && f.SampleRate == 0:
	case f.SampleRate <= 0 || f.SampleRate > maxResamplerRate:
		return fmt.Errorf("invalid sample rate %d for %s", f.SampleRate, f.Codec)
	case c.SampleRate != 0 && f.SampleRate != c.SampleRate:
		return fmt.Errorf("invalid sample rate %d for %s, want %d", f.SampleRate, f.Codec, c.SampleRate)
	}
	if f.Channels <= 0 || f.Channels > 8 {
		return fmt.Errorf("invalid channel count %d for %s", f.Channels, f.Codec)
	}
	if c.Mono && f.Channels != 1 {
		return fmt.Errorf("invalid channel count %d for %s, want 1", f.Channels, f.Codec)
	}
	if r := f.RTPClockRate(); r <= 0 || r > maxResamplerRate {
		return fmt.Errorf("invalid clock rate %d for %s", f.ClockRate, f.Codec)
	}
	return nil
}
