package audio

import (
	"encoding/binary"
	"slices"
)

// AppendS16LE appends s to dst as signed 16-bit little-endian bytes, the
// layout of WAV data and of earshot's Kafka records, and returns the
// extended slice.
func AppendS16LE(dst []byte, s []int16) []byte {
	dst = slices.Grow(dst, 2*len(s))
	n := len(dst)
	dst = dst[:n+2*len(s)]
	b := dst[n:]
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return dst
}
