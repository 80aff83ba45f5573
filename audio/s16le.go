package audio

import (
	"encoding/binary"
	"slices"
	"unsafe"
)

// nativeLittleEndian is true where int16s are laid out as S16LE in memory
// (amd64, arm64, …): AppendS16LE then copies them as they are.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// AppendS16LE appends s to dst as signed 16-bit little-endian bytes, the
// layout of WAV data and of earshot's Kafka records, and returns the
// extended slice.
func AppendS16LE(dst []byte, s []int16) []byte {
	dst = slices.Grow(dst, 2*len(s))
	n := len(dst)
	dst = dst[:n+2*len(s)]
	b := dst[n:]
	if nativeLittleEndian {
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 2*len(s)))
		return dst
	}
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return dst
}
