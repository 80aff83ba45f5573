package sdk

import (
	"errors"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/audio/decoder"
)

func aacLC(rate, channels int) *mpeg4audio.AudioSpecificConfig {
	return &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: rate, ChannelCount: channels}
}

func oneLayer(c *mpeg4audio.AudioSpecificConfig, layers int) *mpeg4audio.StreamMuxConfig {
	l := &mpeg4audio.StreamMuxConfigLayer{AudioSpecificConfig: c, LatmBufferFullness: 255}
	p := &mpeg4audio.StreamMuxConfigProgram{}
	for range layers {
		p.Layers = append(p.Layers, l)
	}
	return &mpeg4audio.StreamMuxConfig{Programs: []*mpeg4audio.StreamMuxConfigProgram{p}}
}

// TestCodecOfMapsEveryAudioFormat checks the formats gortsplib parses from
// SDP against the audio.Format that decodes them, including those the
// synthetic cameras do not serve (LATM configured in-band, HE-AAC).
func TestCodecOfMapsEveryAudioFormat(t *testing.T) {
	heAAC := &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 24000, ChannelCount: 2,
		ExtensionType: mpeg4audio.ObjectTypeSBR, ExtensionSampleRate: 48000}
	for _, tc := range []struct {
		name   string
		format format.Format
		want   audio.Format // zero when the format is refused
	}{
		{"mpeg4-generic AAC-LC 44.1 kHz stereo",
			&format.MPEG4Audio{PayloadTyp: 96, Config: aacLC(44100, 2), SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3},
			audio.Format{Codec: audio.CodecAAC, SampleRate: 44100, Channels: 2, ClockRate: 44100,
				AAC: audio.AACConfig{Config: "\x12\x10", SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}}},
		{"mpeg4-generic HE-AAC decodes at its SBR rate",
			&format.MPEG4Audio{PayloadTyp: 96, Config: heAAC, SizeLength: 13},
			audio.Format{Codec: audio.CodecAAC, SampleRate: 48000, Channels: 2, ClockRate: 48000,
				AAC: audio.AACConfig{Config: "\x2b\x11\x88\x00", SizeLength: 13}}},
		{"mpeg4-generic AAC Main is refused",
			&format.MPEG4Audio{PayloadTyp: 96, Config: &mpeg4audio.AudioSpecificConfig{Type: 1, SampleRate: 48000, ChannelCount: 2}, SizeLength: 13}, audio.Format{}},
		{"MP4A-LATM configured in SDP",
			&format.MPEG4AudioLATM{PayloadTyp: 96, StreamMuxConfig: oneLayer(aacLC(48000, 2), 1)},
			audio.Format{Codec: audio.CodecAACLATM, SampleRate: 48000, Channels: 2, ClockRate: 48000,
				AAC: audio.AACConfig{Config: "\x40\x00\x23\x20\x3f\xc0"}}}, // config=400023203fc0, as cameras announce it
		{"MP4A-LATM configured in-band runs on 90 kHz",
			&format.MPEG4AudioLATM{PayloadTyp: 96, CPresent: true},
			audio.Format{Codec: audio.CodecAACLATM, Channels: 1, ClockRate: 90000}},
		{"MP4A-LATM with two layers is refused",
			&format.MPEG4AudioLATM{PayloadTyp: 96, StreamMuxConfig: oneLayer(aacLC(48000, 2), 2)}, audio.Format{}},
		{"MP4A-LATM HE-AAC decodes at its SBR rate",
			&format.MPEG4AudioLATM{PayloadTyp: 96, StreamMuxConfig: oneLayer(heAAC, 1)},
			audio.Format{Codec: audio.CodecAACLATM, SampleRate: 48000, Channels: 2, ClockRate: 48000,
				AAC: audio.AACConfig{Config: "\x40\x00\x56\x23\x10\x1f\xe0"}}},
		{"G.722 is 16 kHz audio on an 8 kHz clock",
			&format.G722{}, audio.Format{Codec: audio.CodecG722, SampleRate: 16000, Channels: 1, ClockRate: 8000}},
		{"G726-24 has the RFC 3551 packing",
			&format.G726{PayloadTyp: 97, BitRate: 24}, audio.Format{Codec: "g726-24", SampleRate: 8000, Channels: 1, ClockRate: 8000}},
		{"AAL2-G726-40 has the AAL2 packing",
			&format.G726{PayloadTyp: 97, BitRate: 40, BigEndian: true}, audio.Format{Codec: "aal2-g726-40", SampleRate: 8000, Channels: 1, ClockRate: 8000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := codecOf(tc.format)
			if tc.want == (audio.Format{}) {
				if !errors.Is(err, audio.ErrUnsupportedCodec) || !strings.Contains(err.Error(), "payload type 96, rtpmap") {
					t.Fatalf("codecOf = %+v, %v; want an error naming the payload type and rtpmap", c, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("codecOf refused it: %v", err)
			}
			if got := c.Format(); got != tc.want {
				t.Fatalf("format %+v %q, want %+v %q", got, got.AAC.Config, tc.want, tc.want.AAC.Config)
			}
			d, err := decoder.New(c.Format(), 16000)
			if err != nil {
				t.Fatal(err)
			}
			d.Close()
		})
	}
}
