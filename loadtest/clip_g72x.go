package loadtest

import (
	"fmt"
	"slices"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest/avenc"
)

// newG722Clip encodes 16 kHz speech as G.722 at 64 kbit/s: a byte per tick
// of the 8 kHz RTP clock.
func newG722Clip(d time.Duration, speech16k []int16) (*clip, error) {
	loop, err := encodeADPCMLoop(avenc.Config{Codec: "g722", SampleRate: 16000, Channels: 1, BitRate: 64000}, speech16k)
	if err != nil {
		return nil, err
	}
	ticks := samplesPer(d, 8000)
	return evenClip(audio.CodecG722, cut(loop, ticks), ticks), nil
}

// newG726Clip encodes 8 kHz speech as G.726 codec: CodedBits bits a
// sample, so a whole number of bytes per millisecond.
func newG726Clip(codec audio.Codec, d time.Duration, speech8k []int16) (*clip, error) {
	enc := "g726le" // RFC 3551: code words from the least significant bit
	if codec.AAL2 {
		enc = "g726"
	}
	loop, err := encodeADPCMLoop(avenc.Config{Codec: enc, SampleRate: 8000, Channels: 1, BitRate: 8000 * codec.CodedBits}, speech8k)
	if err != nil {
		return nil, err
	}
	ticks := samplesPer(d, 8000)
	return evenClip(codec.Name, cut(loop, ticks*codec.CodedBits/8), ticks), nil
}

// encodeADPCMLoop encodes the loop twice and returns the second pass's bit
// stream, which starts from the encoder state the loop's end leaves.
func encodeADPCMLoop(c avenc.Config, loop []int16) ([]byte, error) {
	s, err := avenc.Encode(c, slices.Concat(loop, loop))
	if err != nil {
		return nil, err
	}
	b := slices.Concat(s.Packets...)
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("%s: %d bytes for two loops", c.Codec, len(b))
	}
	return b[len(b)/2:], nil
}
