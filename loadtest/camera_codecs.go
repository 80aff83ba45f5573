package loadtest

import (
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"

	"github.com/earshot/earshot/audio"
)

// Payload types announced in SDP. G.711 and G.722 use their static
// RFC 3551 types.
const (
	payloadTypeOpus = 111
	payloadTypePCMU = 0
	payloadTypePCMA = 8
	payloadTypeG722 = 9
	payloadTypeL16  = 96
	payloadTypeAAC  = 97
	payloadTypeLATM = 98
	payloadTypeG726 = 99
	payloadTypeMPA  = 14 // static, "MPA/90000" (RFC 3551)
	payloadTypeAMR  = 100
)

// cameraCodec is how the synthetic cameras serve one codec of the audio
// registry: the SDP format they announce and the encoder that renders the
// reference speech. It is the encoder half of a registry entry, as
// audio/decoder's openers are the decoder half.
type cameraCodec struct {
	// format returns a fresh gortsplib format announcing c.
	format func(c *clip) format.Format
	// encode renders the reference speech, padded to a whole loop, in
	// packets of d.
	encode func(codec audio.Codec, d time.Duration, speech16k, speech8k []int16) (*clip, error)
	// clockRate and channels describe the rendition of a constant-bit-rate
	// codec (audio.Codec.CodedBits > 0), to size its payloads.
	clockRate, channels int
	// checkDuration, when set, says whether d suits a variable-bit-rate
	// codec's packets.
	checkDuration func(d time.Duration) error
}

// cameraCodecs returns the camera rendition of every codec in the audio
// registry, keyed by codec name; TestEveryRegistryCodecHasACamera holds
// the two together. Adding a codec to the registry adds its entry here.
// The table is built per call so that nothing can change it.
func cameraCodecs() map[string]cameraCodec {
	g711 := func(c audio.Codec, d time.Duration, _, speech8k []int16) (*clip, error) {
		return newG711Clip(c.Name, d, speech8k)
	}
	aac := func(c audio.Codec, d time.Duration, speech16k, _ []int16) (*clip, error) {
		return newAACClip(c.Name, d, speech16k)
	}
	m := map[string]cameraCodec{
		audio.CodecOpus: {
			// Marshals as "opus/48000/2" with sprop-stereo=0 (RFC 7587).
			format: func(*clip) format.Format { return &format.Opus{PayloadTyp: payloadTypeOpus, ChannelCount: 1} },
			encode: func(_ audio.Codec, d time.Duration, speech16k, _ []int16) (*clip, error) {
				return newOpusClip(d, speech16k)
			},
			checkDuration: checkOpusDuration,
		},
		audio.CodecPCMA: {
			format: func(*clip) format.Format {
				return &format.G711{PayloadTyp: payloadTypePCMA, MULaw: false, SampleRate: 8000, ChannelCount: 1}
			},
			encode: g711, clockRate: 8000, channels: 1,
		},
		audio.CodecPCMU: {
			format: func(*clip) format.Format {
				return &format.G711{PayloadTyp: payloadTypePCMU, MULaw: true, SampleRate: 8000, ChannelCount: 1}
			},
			encode: g711, clockRate: 8000, channels: 1,
		},
		audio.CodecL16: {
			format: func(*clip) format.Format {
				return &format.LPCM{PayloadTyp: payloadTypeL16, BitDepth: 16, SampleRate: 16000, ChannelCount: 2}
			},
			encode: func(_ audio.Codec, d time.Duration, speech16k, _ []int16) (*clip, error) {
				return newL16Clip(d, speech16k), nil
			},
			clockRate: 16000, channels: 2,
		},
		audio.CodecAAC: {
			format: func(c *clip) format.Format {
				return &format.MPEG4Audio{PayloadTyp: payloadTypeAAC, ProfileLevelID: 1, Config: c.config,
					SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
			},
			encode: aac, checkDuration: checkAACDuration,
		},
		audio.CodecAACLATM: {
			format: func(c *clip) format.Format {
				return &format.MPEG4AudioLATM{PayloadTyp: payloadTypeLATM, ProfileLevelID: 30, StreamMuxConfig: latmConfig(c.config)}
			},
			encode: aac, checkDuration: checkAACDuration,
		},
		audio.CodecG722: {
			format: func(*clip) format.Format { return &format.G722{} },
			encode: func(_ audio.Codec, d time.Duration, speech16k, _ []int16) (*clip, error) {
				return newG722Clip(d, speech16k)
			},
			clockRate: 8000, channels: 1,
		},
	}
	m[audio.CodecMPA] = cameraCodec{
		format: func(*clip) format.Format { return &format.MPEG1Audio{} },
		encode: func(_ audio.Codec, d time.Duration, speech16k, _ []int16) (*clip, error) {
			return newMPAClip(d, speech16k)
		},
		checkDuration: checkAACDuration,
	}
	m[audio.CodecAMR] = cameraCodec{
		format: func(*clip) format.Format {
			return amrFormat("AMR/8000/1", map[string]string{"octet-align": "1"})
		},
		encode: func(c audio.Codec, d time.Duration, _, speech8k []int16) (*clip, error) {
			return newAMRClip(c.Name, d, speech8k)
		},
		checkDuration: checkAMRDuration,
	}
	m[audio.CodecAMRWB] = cameraCodec{
		format: func(*clip) format.Format { return amrFormat("AMR-WB/16000/1", nil) },
		encode: func(c audio.Codec, d time.Duration, speech16k, _ []int16) (*clip, error) {
			return newAMRClip(c.Name, d, speech16k)
		},
		checkDuration: checkAMRDuration,
	}
	for _, aal2 := range []bool{false, true} {
		for _, kbps := range []int{16, 24, 32, 40} {
			m[audio.G726Codec(kbps, aal2)] = cameraCodec{
				format: func(*clip) format.Format {
					return &format.G726{PayloadTyp: payloadTypeG726, BitRate: kbps, BigEndian: aal2}
				},
				encode: func(c audio.Codec, d time.Duration, _, speech8k []int16) (*clip, error) {
					return newG726Clip(c, d, speech8k)
				},
				clockRate: 8000, channels: 1,
			}
		}
	}
	return m
}

// cameraCodecOf returns the registry entry and camera rendition of codec,
// or an error wrapping audio.ErrUnsupportedCodec.
func cameraCodecOf(codec string) (audio.Codec, cameraCodec, error) {
	c, ok := audio.LookupCodec(codec)
	cc, served := cameraCodecs()[codec]
	if !ok || !served {
		return audio.Codec{}, cameraCodec{}, fmt.Errorf("%w: %q", audio.ErrUnsupportedCodec, codec)
	}
	return c, cc, nil
}

// amrFormat announces AMR, which gortsplib has no format of its own for.
func amrFormat(rtpMap string, fmtp map[string]string) format.Format {
	f := &format.Generic{PayloadTyp: payloadTypeAMR, RTPMa: rtpMap, FMT: fmtp}
	if err := f.Init(); err != nil {
		panic(err) // the rtpmaps above are valid
	}
	return f
}

// checkOpusDuration accepts the Opus frame sizes the camera encodes.
func checkOpusDuration(d time.Duration) error {
	switch d {
	case 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond:
		return nil
	}
	return fmt.Errorf("PacketDuration %v is not an Opus frame size (10, 20, 40 or 60 ms)", d)
}

// checkAACDuration bounds how long an AAC packet may gather access units.
func checkAACDuration(d time.Duration) error {
	if d > aacMaxDuration {
		return fmt.Errorf("PacketDuration %v is longer than the %v an AAC packet may gather", d, aacMaxDuration)
	}
	return nil
}
