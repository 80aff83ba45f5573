package loadtest

import (
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
)

// TestEveryRegistryCodecHasACamera holds the camera table to the audio
// registry, both ways: every codec has an encoder and an SDP format that
// the registry identifies back as that codec, and a fidelity mark.
func TestEveryRegistryCodecHasACamera(t *testing.T) {
	const packet = 20 * time.Millisecond
	cams := cameraCodecs()
	for _, name := range audio.Codecs() {
		cc, ok := cams[name]
		delete(cams, name)
		reg, _ := audio.LookupCodec(name)
		switch {
		case !ok || cc.format == nil || cc.encode == nil:
			t.Errorf("registry codec %q has no camera encoder and format", name)
			continue
		case reg.Fidelity <= 0:
			t.Errorf("registry codec %q has no fidelity mark", name)
		case cc.checkDuration == nil && (reg.CodedBits == 0 || cc.clockRate == 0 || cc.channels == 0):
			t.Errorf("codec %q: neither a duration check nor a constant bit rate to size payloads", name)
		}
		c, err := newClip(name, packet, padToLoop(make([]int16, 16000), packet, 16000), padToLoop(make([]int16, 8000), packet, 8000))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		f := c.newFormat()
		got, err := audio.Identify(audio.SDP{PayloadType: f.PayloadType(), RTPMap: f.RTPMap(), FMTP: f.FMTP()})
		if err != nil || got.Codec != name {
			t.Errorf("%s: the camera's SDP identifies as %q, %v", name, got.Codec, err)
		}
	}
	for name := range cams {
		t.Errorf("camera codec %q is not in the registry", name)
	}
}
