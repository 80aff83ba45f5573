package loadtest

import (
	"fmt"
	"slices"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest/avenc"
)

// g726Variant is a G.726 stream: its bit rate and packing.
type g726Variant struct {
	kbps int
	aal2 bool // AAL2 (big-endian) packing, else RFC 3551
}

// g726VariantOf returns the variant a G.726 codec name selects.
func g726VariantOf(codec string) (g726Variant, bool) {
	for _, kbps := range []int{16, 24, 32, 40} {
		for _, aal2 := range []bool{false, true} {
			if audio.G726Codec(kbps, aal2) == codec {
				return g726Variant{kbps: kbps, aal2: aal2}, true
			}
		}
	}
	return g726Variant{}, false
}

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

// newG726Clip encodes 8 kHz speech as G.726: kbps/8 bits a sample, so a
// whole number of bytes per millisecond.
func newG726Clip(codec string, d time.Duration, speech8k []int16) (*clip, error) {
	v, _ := g726VariantOf(codec)
	enc := "g726le" // RFC 3551: code words from the least significant bit
	if v.aal2 {
		enc = "g726"
	}
	loop, err := encodeADPCMLoop(avenc.Config{Codec: enc, SampleRate: 8000, Channels: 1, BitRate: 1000 * v.kbps}, speech8k)
	if err != nil {
		return nil, err
	}
	ticks := samplesPer(d, 8000)
	return evenClip(codec, cut(loop, ticks*v.kbps/64), ticks), nil
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
