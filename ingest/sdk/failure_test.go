package sdk

import (
	"errors"
	"fmt"
	"testing"

	"github.com/earshot/earshot/audio"
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
	} {
		if kind, permanent := Classify(tc.err); kind != tc.kind || !permanent {
			t.Errorf("%s: Classify = %q, %v; want %q, permanent", tc.name, kind, permanent, tc.kind)
		}
	}
}
