package loadtest

import (
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest/avenc"
)

// The AAC renditions: MPEG4-GENERIC at 16 kHz mono, as IP cameras commonly
// send it, and MP4A-LATM at 48 kHz stereo, so that the consumer's downmix
// and resampler see AAC too.
const (
	aacSamples     = 1024 // per access unit
	aacMaxDuration = 60 * time.Millisecond
)

// aacLayout returns the rate, channel count and bit rate of codec's
// rendition.
func aacLayout(codec string) (rate, channels, bitRate int) {
	if codec == audio.CodecAACLATM {
		return 48000, 2, 96000
	}
	return 16000, 1, 32000
}

// newAACClip encodes one loop of the speech with libavcodec's AAC encoder
// and packs, in each round, the access units that start during it: AU
// headers (RFC 3640, AAC-hbr) for CodecAAC, one AudioMuxElement each
// (RFC 6416, configuration in SDP) for CodecAACLATM. Rounds in which no
// access unit starts send nothing.
func newAACClip(codec string, d time.Duration, speech16k []int16) (*clip, error) {
	rate, channels, bitRate := aacLayout(codec)
	loop, err := loopAt(speech16k, rate)
	if err != nil {
		return nil, err
	}
	aus, err := encodeAACLoop(loop, rate, channels, bitRate)
	if err != nil {
		return nil, err
	}
	cfg := &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: rate, ChannelCount: channels}
	pack := packAAC
	if codec == audio.CodecAACLATM {
		pack = latmPacker(cfg)
	}

	round := samplesPer(d, rate)
	rounds := len(loop) / round
	c := &clip{
		codec:     codec,
		payloads:  make([][]byte, rounds),
		stamps:    make([]uint32, rounds),
		leads:     make([]time.Duration, rounds),
		loopTicks: uint32(len(aus) * aacSamples),
		marker:    true,
		config:    cfg,
	}
	for first := 0; first < len(aus); {
		r := first * aacSamples / round
		last := first + 1
		for last < len(aus) && last*aacSamples/round == r {
			last++
		}
		p, err := pack(aus[first:last])
		if err != nil {
			return nil, fmt.Errorf("%s: round %d: %w", codec, r, err)
		}
		if len(p) > maxRTPPayload {
			return nil, fmt.Errorf("%s: round %d: %d access units take %d bytes, more than %d", codec, r, last-first, len(p), maxRTPPayload)
		}
		start := first * aacSamples
		c.payloads[r], c.stamps[r] = p, uint32(start)
		c.leads[r] = time.Duration(start-r*round) * time.Second / time.Duration(rate)
		first = last
	}
	return c, nil
}

// loopAt returns one loop of the 16 kHz speech at rate, resampled as part
// of a continuous stream so that the loop's seam stays smooth.
func loopAt(speech16k []int16, rate int) ([]int16, error) {
	if rate == 16000 {
		return speech16k, nil
	}
	rs, err := audio.NewResampler(16000, rate)
	if err != nil {
		return nil, err
	}
	rs.Process(speech16k)
	return append([]int16(nil), rs.Process(speech16k)...), nil
}

// encodeAACLoop encodes loop (mono) on channels identical channels and
// returns one loop of access units. The loop is encoded twice, followed by
// the start of a third pass as look-ahead, and the second pass kept, so
// that the loop's first access unit continues its last.
func encodeAACLoop(loop []int16, rate, channels, bitRate int) ([][]byte, error) {
	if len(loop)%aacSamples != 0 {
		return nil, fmt.Errorf("aac: a loop of %d samples is not whole access units", len(loop))
	}
	in := make([]int16, 0, (2*len(loop)+2*aacSamples)*channels)
	for pass := range 3 {
		src := loop
		if pass == 2 {
			src = loop[:2*aacSamples]
		}
		for _, v := range src {
			for range channels {
				in = append(in, v)
			}
		}
	}
	s, err := avenc.Encode(avenc.Config{Codec: "aac", SampleRate: rate, Channels: channels, BitRate: bitRate}, in)
	if err != nil {
		return nil, err
	}
	if s.FrameSize != aacSamples || s.Delay%aacSamples != 0 {
		return nil, fmt.Errorf("aac: encoder frames of %d samples delayed by %d", s.FrameSize, s.Delay)
	}
	// Access unit k decodes to the input from k*1024 - Delay.
	n := len(loop) / aacSamples
	first := n + s.Delay/aacSamples
	if len(s.Packets) < first+n {
		return nil, fmt.Errorf("aac: encoder returned %d access units, want %d", len(s.Packets), first+n)
	}
	return s.Packets[first : first+n], nil
}

// packAAC packs access units into one RFC 3640 payload with gortsplib's
// encoder.
func packAAC(aus [][]byte) ([]byte, error) {
	enc := &rtpmpeg4audio.Encoder{SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3, PayloadMaxSize: maxRTPPayload}
	if err := enc.Init(); err != nil {
		return nil, err
	}
	pkts, err := enc.Encode(aus)
	if err != nil {
		return nil, err
	}
	if len(pkts) != 1 {
		return nil, fmt.Errorf("%d access units need %d packets", len(aus), len(pkts))
	}
	return pkts[0].Payload, nil
}

// latmConfig returns the StreamMuxConfig of one AAC layer described by c.
func latmConfig(c *mpeg4audio.AudioSpecificConfig) *mpeg4audio.StreamMuxConfig {
	return &mpeg4audio.StreamMuxConfig{Programs: []*mpeg4audio.StreamMuxConfigProgram{{
		Layers: []*mpeg4audio.StreamMuxConfigLayer{{AudioSpecificConfig: c, LatmBufferFullness: 255}},
	}}}
}

// latmPacker returns a function packing access units into one MP4A-LATM
// payload: an AudioMuxElement each, marshaled by mediacommon.
func latmPacker(c *mpeg4audio.AudioSpecificConfig) func([][]byte) ([]byte, error) {
	smc := latmConfig(c)
	return func(aus [][]byte) ([]byte, error) {
		var p []byte
		for _, au := range aus {
			e, err := mpeg4audio.AudioMuxElement{StreamMuxConfig: smc, Payloads: [][][][]byte{{{au}}}}.Marshal()
			if err != nil {
				return nil, err
			}
			p = append(p, e...)
		}
		return p, nil
	}
}
