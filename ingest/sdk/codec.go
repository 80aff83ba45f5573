package sdk

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/earshot/earshot/audio"
)

// ErrNoAudio is returned by Open for a source that offers no audio track.
var ErrNoAudio = errors.New("source offers no audio track")

// UnsupportedCodecError is returned by Open for a source whose audio tracks
// all use codecs the SDK cannot deliver.
type UnsupportedCodecError struct {
	// Codecs names the offered audio codecs, as gortsplib names them.
	Codecs []string
}

func (e *UnsupportedCodecError) Error() string {
	return "unsupported audio codec: " + strings.Join(e.Codecs, ", ")
}

// Unwrap lets errors.Is match audio.ErrUnsupportedCodec.
func (e *UnsupportedCodecError) Unwrap() error { return audio.ErrUnsupportedCodec }

// codecOf maps a gortsplib format to an earshot codec; ok is false for
// formats earshot cannot decode.
func codecOf(f format.Format) (c Codec, ok bool) {
	c = Codec{PayloadType: f.PayloadType(), ClockRate: f.ClockRate(), FMTP: f.FMTP()}
	switch f := f.(type) {
	case *format.Opus:
		c.Name, c.SampleRate, c.Channels = audio.CodecOpus, 48000, max(f.ChannelCount, 1)
	case *format.G711:
		c.Name, c.SampleRate, c.Channels = audio.CodecPCMA, f.SampleRate, f.ChannelCount
		if f.MULaw {
			c.Name = audio.CodecPCMU
		}
	case *format.LPCM:
		if f.BitDepth != 16 {
			return Codec{}, false
		}
		c.Name, c.SampleRate, c.Channels = audio.CodecL16, f.SampleRate, f.ChannelCount
	case *format.MPEG4Audio:
		if !isAACLC(f.Config) {
			return Codec{}, false
		}
		asc, err := f.Config.Marshal()
		if err != nil {
			return Codec{}, false
		}
		c.Name, c.SampleRate, c.Channels = audio.CodecAAC, f.Config.SampleRate, f.Config.ChannelCount
		c.AAC = audio.AACConfig{Config: string(asc), SizeLength: f.SizeLength, IndexLength: f.IndexLength, IndexDeltaLength: f.IndexDeltaLength}
	case *format.MPEG4AudioLATM:
		c.Name, c.Channels = audio.CodecAACLATM, 1
		if f.CPresent {
			break // configured in-band: rate and channels come with the audio
		}
		smc := f.StreamMuxConfig
		if len(smc.Programs) != 1 || len(smc.Programs[0].Layers) != 1 || !isAACLC(smc.Programs[0].Layers[0].AudioSpecificConfig) {
			return Codec{}, false
		}
		cfg, err := smc.Marshal()
		if err != nil {
			return Codec{}, false
		}
		asc := smc.Programs[0].Layers[0].AudioSpecificConfig
		c.SampleRate, c.Channels, c.AAC.Config = asc.SampleRate, asc.ChannelCount, string(cfg)
	case *format.G722:
		c.Name, c.SampleRate, c.Channels = audio.CodecG722, 16000, 1
	case *format.G726:
		c.Name, c.SampleRate, c.Channels = audio.G726Codec(f.BitRate, f.BigEndian), 8000, 1
	default:
		return Codec{}, false
	}
	return c, true
}

// isAACLC reports whether c is plain AAC-LC, the only AAC earshot decodes.
func isAACLC(c *mpeg4audio.AudioSpecificConfig) bool {
	return c != nil && c.Type == mpeg4audio.ObjectTypeAACLC && c.ExtensionType == 0
}

// pickAudio returns the first audio media and format earshot can decode.
func pickAudio(desc *description.Session) (*description.Media, format.Format, Codec, error) {
	var offered []string
	for _, m := range desc.Medias {
		if m.Type != description.MediaTypeAudio || m.IsBackChannel {
			continue
		}
		for _, f := range m.Formats {
			if c, ok := codecOf(f); ok {
				return m, f, c, nil
			}
			offered = append(offered, fmt.Sprintf("%s (%s)", f.Codec(), f.RTPMap()))
		}
	}
	if len(offered) == 0 {
		return nil, nil, Codec{}, ErrNoAudio
	}
	return nil, nil, Codec{}, &UnsupportedCodecError{Codecs: offered}
}
