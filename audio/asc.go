package audio

import (
	"errors"
	"fmt"
)

// MPEG-4 audio object types earshot reads (ISO/IEC 14496-3, Table 1.17).
const (
	aotAACLC = 2
	aotSBR   = 5  // HE-AAC: spectral band replication
	aotPS    = 29 // HE-AAC v2: SBR and parametric stereo
)

// Sync extension types of the backward-compatible extension signalling
// (ISO/IEC 14496-3, 1.6.5.1).
const (
	syncExtensionSBR = 0x2b7
	syncExtensionPS  = 0x548
)

// samplingFrequencies are the rates of samplingFrequencyIndex 0 to 12.
var samplingFrequencies = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// AudioSpecificConfig is what earshot reads of an MPEG-4
// AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1): an AAC-LC core,
// possibly with SBR (HE-AAC) and parametric stereo (HE-AAC v2), signalled
// explicitly (hierarchically, object type 5 or 29 first, or backward
// compatibly, by a sync extension after the core's config) or not at all
// (implicitly: the decoder finds SBR in the bitstream).
type AudioSpecificConfig struct {
	// SampleRate is the core AAC-LC rate, at which one access unit holds
	// 1024 (or 960) samples.
	SampleRate int
	// Channels is the channel configuration (1 to 7 channels).
	Channels int
	// FrameLength960 is the frameLengthFlag: 960 samples per access unit
	// instead of 1024.
	FrameLength960 bool
	// SBR and PS are set when the config signals SBR present (HE-AAC) and
	// parametric stereo present (HE-AAC v2).
	SBR, PS bool
	// ExtensionSampleRate is the output rate SBR doubles the core rate to;
	// 0 without SBR.
	ExtensionSampleRate int
}

// OutputRate returns the rate the config decodes at: the extension rate
// with SBR, else the core rate.
func (c AudioSpecificConfig) OutputRate() int {
	if c.SBR {
		return c.ExtensionSampleRate
	}
	return c.SampleRate
}

// FrameSamples returns the samples per channel of one access unit at
// SampleRate.
func (c AudioSpecificConfig) FrameSamples() int {
	if c.FrameLength960 {
		return 960
	}
	return 1024
}

// ParseAudioSpecificConfig parses b, a whole AudioSpecificConfig as the
// fmtp of MPEG4-GENERIC carries it.
func ParseAudioSpecificConfig(b []byte) (AudioSpecificConfig, error) {
	r := bitReader{buf: b}
	c, err := parseASC(&r, len(b)*8)
	if err != nil {
		return c, fmt.Errorf("AudioSpecificConfig %x: %w", b, err)
	}
	return c, nil
}

// parseASC reads an AudioSpecificConfig at r, at most limit bits long:
// what the container says the config spans (its byte length, LATM's
// ascLen), or -1 when nothing does (LATM's audioMuxVersion 0), in which
// case a sync extension is read when its 11-bit type follows.
func parseASC(r *bitReader, limit int) (AudioSpecificConfig, error) {
	var c AudioSpecificConfig
	end := r.pos + limit
	if limit < 0 {
		end = 8 * len(r.buf)
	}
	if end > 8*len(r.buf) {
		return c, errTruncated
	}
	sub := bitReader{buf: r.buf, pos: r.pos}
	sub.buf = sub.buf[:(end+7)/8]
	left := func() int { return end - sub.pos }
	aot, err := readObjectType(&sub)
	if err != nil {
		return c, err
	}
	if c.SampleRate, err = readSampleRate(&sub); err != nil {
		return c, err
	}
	ch, ok := sub.read(4)
	if !ok {
		return c, errTruncated
	}
	if aot == aotSBR || aot == aotPS {
		// Explicit hierarchical signalling: the extension first, then the
		// core's object type.
		c.SBR, c.PS = true, aot == aotPS
		if c.ExtensionSampleRate, err = readSampleRate(&sub); err != nil {
			return c, err
		}
		if aot, err = readObjectType(&sub); err != nil {
			return c, err
		}
	}
	if aot != aotAACLC {
		return c, notDecoded(fmt.Sprintf("MPEG-4 audio object type %d (AAC-LC, type 2, is decoded, with SBR or PS)", aot))
	}
	if ch == 0 || ch > 7 {
		return c, notDecoded(fmt.Sprintf("channelConfiguration %d (1 to 7 are decoded)", ch))
	}
	c.Channels = int(ch)
	if ch == 7 {
		c.Channels = 8
	}
	// GASpecificConfig: frameLengthFlag, dependsOnCoreCoder
	// [coreCoderDelay], extensionFlag [extensionFlag3].
	flags, ok := sub.read(3)
	if !ok {
		return c, errTruncated
	}
	c.FrameLength960 = flags&4 != 0
	if flags&2 != 0 {
		if _, ok := sub.read(14); !ok {
			return c, errTruncated
		}
	}
	if flags&1 != 0 {
		if _, ok := sub.read(1); !ok {
			return c, errTruncated
		}
	}
	if left() < 0 {
		return c, errTruncated
	}
	// Explicit backward-compatible signalling: a sync extension after the
	// core config, which a decoder that knows no SBR skips.
	if !c.SBR && left() >= 16 {
		if t, _ := sub.peek(11); t == syncExtensionSBR {
			sub.pos += 11
			if err := readSyncExtension(&sub, &c, left); err != nil {
				return c, err
			}
		}
	}
	if left() < 0 {
		return c, errTruncated
	}
	if limit >= 0 {
		sub.pos = end // fill bits
	}
	r.pos = sub.pos
	return c, nil
}

// readSyncExtension reads what follows syncExtensionType 0x2b7.
func readSyncExtension(r *bitReader, c *AudioSpecificConfig, left func() int) error {
	ext, err := readObjectType(r)
	if err != nil {
		return err
	}
	if ext != aotSBR {
		return notDecoded(fmt.Sprintf("extension object type %d (SBR, type 5, is decoded)", ext))
	}
	sbr, ok := r.read(1)
	if !ok {
		return errTruncated
	}
	if sbr == 0 {
		return nil
	}
	c.SBR = true
	if c.ExtensionSampleRate, err = readSampleRate(r); err != nil {
		return err
	}
	if left() >= 12 {
		if t, _ := r.peek(11); t == syncExtensionPS {
			r.pos += 11
			ps, ok := r.read(1)
			if !ok {
				return errTruncated
			}
			c.PS = ps == 1
		}
	}
	return nil
}

func readObjectType(r *bitReader) (int, error) {
	t, ok := r.read(5)
	if ok && t == 31 {
		var ext uint32
		ext, ok = r.read(6)
		t = 32 + ext
	}
	if !ok {
		return 0, errTruncated
	}
	return int(t), nil
}

func readSampleRate(r *bitReader) (int, error) {
	i, ok := r.read(4)
	switch {
	case !ok:
		return 0, errTruncated
	case i == 15:
		v, ok := r.read(24)
		if !ok {
			return 0, errTruncated
		}
		if v == 0 {
			return 0, errors.New("sampling frequency 0")
		}
		return int(v), nil
	case int(i) >= len(samplingFrequencies):
		return 0, fmt.Errorf("reserved samplingFrequencyIndex %d", i)
	}
	return samplingFrequencies[i], nil
}

// notDecoded is a configuration of a codec earshot does not decode. It
// matches ErrUnsupportedCodec without repeating its text, which SDPError
// already gives.
type notDecoded string

func (e notDecoded) Error() string { return string(e) }

func (e notDecoded) Unwrap() error { return ErrUnsupportedCodec }
