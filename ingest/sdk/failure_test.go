package sdk

import (
	"errors"
	"fmt"
	"testing"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/audio/avload"
)

func TestClassifyCodecErrorsArePermanent(t *testing.T) {
	_, sdpErr := audio.Identify(audio.SDP{PayloadType: 96, RTPMap: "MP4A-LATM/48000/2", FMTP: map[string]string{"cpresent": "0", "config": "4000"}})
	for _, tc := range []struct {
		name string
		err  error
		kind string
	}{
		{"a refused codec", &UnsupportedCodecError{Codecs: []string{"MPEG4-audio-latm"}, Reasons: []error{sdpErr}}, FailUnsupportedCodec},
		{"a configuration the decoder refuses", fmt.Errorf("session: %w", fmt.Errorf("%w: %w", ErrBadFormat, errors.New("AudioSpecificConfig 14: truncated"))), FailBadFormat},
		// As ingest's timeline wraps a decoder.New error: the AAC streams of a
		// host without libavcodec fail, the others keep running.
		{"a decoder whose library cannot be loaded", fmt.Errorf("decoder for mpeg4-generic: %w: %w", ErrBadFormat,
			fmt.Errorf("new decoder: mpeg4-generic: %w: libavcodec.so.59: cannot open shared object file", avload.ErrUnavailable)), FailBadFormat},
	} {
		if kind, permanent := Classify(tc.err); kind != tc.kind || !permanent {
			t.Errorf("%s: Classify = %q, %v; want %q, permanent", tc.name, kind, permanent, tc.kind)
		}
	}
}
