// Package audio decodes RTP audio payloads to 16-bit mono PCM at one output
// rate and cuts it into fixed-duration chunks.
//
// The package is pure: no goroutines, no sockets, no clocks. Every type here is
// owned by one stream worker and is not safe for concurrent use. Hot-path
// methods reuse internal buffers and do not allocate per packet.
package audio

import (
	"errors"
	"fmt"
)

// Codec names, as they appear in the earshot.codec Kafka header.
const (
	CodecOpus = "opus"
	CodecPCMA = "pcma" // G.711 A-law
	CodecPCMU = "pcmu" // G.711 µ-law
	CodecL16  = "l16"  // linear 16-bit big-endian (RFC 3551)
)

// ErrUnsupportedCodec is returned for a codec this package cannot decode.
var ErrUnsupportedCodec = errors.New("unsupported audio codec")

// Format describes the audio carried by one RTP track, as announced by SDP.
type Format struct {
	// Codec is one of the Codec* constants.
	Codec string
	// SampleRate is the audio sample rate in Hz (48000 for Opus, whatever the
	// decoded rate; 8000 for G.711).
	SampleRate int
	// Channels is the channel count announced by SDP.
	Channels int
}

func (f Format) String() string {
	return fmt.Sprintf("%s/%d/%d", f.Codec, f.SampleRate, f.Channels)
}

// Validate reports whether f describes audio this package can decode.
func (f Format) Validate() error {
	switch f.Codec {
	case CodecOpus, CodecPCMA, CodecPCMU, CodecL16:
	default:
		return fmt.Errorf("%w: %q", ErrUnsupportedCodec, f.Codec)
	}
	if f.SampleRate <= 0 || f.SampleRate > 384000 {
		return fmt.Errorf("invalid sample rate %d for %s", f.SampleRate, f.Codec)
	}
	if f.Channels <= 0 || f.Channels > 8 {
		return fmt.Errorf("invalid channel count %d for %s", f.Channels, f.Codec)
	}
	return nil
}
