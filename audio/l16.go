package audio

import "encoding/binary"

// UnpackL16 decodes interleaved big-endian 16-bit frames (RFC 3551 L16)
// into pcm as mono, averaging channels in int32 so that no sum overflows.
// len(payload) must be 2*len(pcm)*channels.
func UnpackL16(pcm []int16, payload []byte, channels int) {
	if channels == 1 {
		for i := range pcm {
			pcm[i] = int16(binary.BigEndian.Uint16(payload[2*i:]))
		}
		return
	}
	for i := range pcm {
		var sum int32
		frame := payload[2*channels*i : 2*channels*(i+1)]
		for c := range channels {
			sum += int32(int16(binary.BigEndian.Uint16(frame[2*c:])))
		}
		pcm[i] = int16(sum / int32(channels))
	}
}
