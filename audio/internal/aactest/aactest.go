// Package aactest builds AAC configurations for the tests of audio and
// audio/decoder.
package aactest

import "github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

// LATMConfig returns the StreamMuxConfig of one AAC-LC layer at rate Hz
// with channels channels.
func LATMConfig(rate, channels int) *mpeg4audio.StreamMuxConfig {
	return &mpeg4audio.StreamMuxConfig{Programs: []*mpeg4audio.StreamMuxConfigProgram{{
		Layers: []*mpeg4audio.StreamMuxConfigLayer{{
			AudioSpecificConfig: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: rate, ChannelCount: channels},
			LatmBufferFullness:  255,
		}},
	}}}
}
