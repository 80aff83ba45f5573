package audio

import (
	"bytes"
	"testing"
)

func TestAppendS16LE(t *testing.T) {
	defer func(v bool) { nativeLittleEndian = v }(nativeLittleEndian)
	for _, native := range []bool{nativeLittleEndian, false} { // the host's way, and the loop
		nativeLittleEndian = native
		got := AppendS16LE([]byte("ab"), []int16{0, 1, -1, 0x1234, -32768, 32767})
		want := []byte{'a', 'b', 0, 0, 1, 0, 0xFF, 0xFF, 0x34, 0x12, 0x00, 0x80, 0xFF, 0x7F}
		if !bytes.Equal(got, want) {
			t.Errorf("native %v: AppendS16LE = % x, want % x", native, got, want)
		}
		if got := AppendS16LE(nil, nil); len(got) != 0 {
			t.Errorf("native %v: AppendS16LE(nil, nil) = % x, want nothing", native, got)
		}
	}
}
