package sdk

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"

	"github.com/earshot/earshot/audio"
)

// ErrNoAudio is returned by Open for a source that offers no audio track.
var ErrNoAudio = errors.New("source offers no audio track")

// UnsupportedCodecError is returned by Open for a source whose audio tracks
// all use codecs the SDK cannot deliver.
type UnsupportedCodecError struct {
	// Codecs names the offered audio codecs, as gortsplib names them.
	Codecs []string
	// Reasons says why each of Codecs was refused, in the same order: the
	// audio registry's *audio.SDPError, quoting payload type, rtpmap and
	// fmtp.
	Reasons []error
}

func (e *UnsupportedCodecError) Error() string {
	parts := make([]string, len(e.Codecs))
	for i, c := range e.Codecs {
		parts[i] = c
		var sdpErr *audio.SDPError
		if i < len(e.Reasons) && errors.As(e.Reasons[i], &sdpErr) {
			parts[i] += fmt.Sprintf(" [%s: %s]", sdpErr.SDP, sdpErr.Reason)
		}
	}
	return "unsupported audio codec: " + strings.Join(parts, ", ")
}

// Unwrap lets errors.Is match audio.ErrUnsupportedCodec.
func (e *UnsupportedCodecError) Unwrap() error { return audio.ErrUnsupportedCodec }

// codecOf identifies f through the audio registry; the error, an
// *audio.SDPError, says why earshot cannot decode it.
func codecOf(f format.Format) (Codec, error) {
	fmtp := f.FMTP()
	af, err := audio.Identify(audio.SDP{PayloadType: f.PayloadType(), RTPMap: f.RTPMap(), FMTP: fmtp})
	if err != nil {
		return Codec{}, err
	}
	return NewCodec(f.PayloadType(), af, fmtp), nil
}

// NewCodec is the Codec of a track of payload type pt that the audio
// registry identified as af, with the SDP format parameters fmtp. Every
// backend builds its codecs here, so none misses a field of af.
func NewCodec(pt uint8, af audio.Format, fmtp map[string]string) Codec {
	return Codec{Name: af.Codec, PayloadType: pt, ClockRate: af.ClockRate, SampleRate: af.SampleRate,
		Channels: af.Channels, FMTP: fmtp, AAC: af.AAC, AMR: af.AMR}
}

// pickAudio returns the first audio media and format earshot can decode.
func pickAudio(desc *description.Session) (*description.Media, format.Format, Codec, error) {
	var offered []string
	var reasons []error
	for _, m := range desc.Medias {
		if m.Type != description.MediaTypeAudio || m.IsBackChannel {
			continue
		}
		for _, f := range m.Formats {
			c, err := codecOf(f)
			if err == nil {
				return m, f, c, nil
			}
			offered = append(offered, fmt.Sprintf("%s (%s)", f.Codec(), f.RTPMap()))
			reasons = append(reasons, err)
		}
	}
	if len(offered) == 0 {
		return nil, nil, Codec{}, ErrNoAudio
	}
	return nil, nil, Codec{}, &UnsupportedCodecError{Codecs: offered, Reasons: reasons}
}
