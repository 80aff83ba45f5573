package audio

import (
	"encoding/binary"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
)

func TestG711TablesMatchMediacommon(t *testing.T) {
	for b := range 256 {
		in := []byte{byte(b)}
		var a g711.Alaw
		a.Unmarshal(in)
		var u g711.Mulaw
		u.Unmarshal(in)
		if want := int16(binary.BigEndian.Uint16(a)); alawTable[b] != want {
			t.Errorf("A-law %#02x = %d, mediacommon says %d", b, alawTable[b], want)
		}
		if want := int16(binary.BigEndian.Uint16(u)); mulawTable[b] != want {
			t.Errorf("µ-law %#02x = %d, mediacommon says %d", b, mulawTable[b], want)
		}
	}
}

func TestG711TablesHoldITUValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		table *[256]int16
		code  byte
		want  int16
	}{
		{"µ-law 0xFF is zero", mulawTable, 0xFF, 0},
		{"µ-law 0x7F is zero too", mulawTable, 0x7F, 0},
		{"µ-law 0x00 is the negative peak", mulawTable, 0x00, -32124},
		{"µ-law 0x80 is the positive peak", mulawTable, 0x80, 32124},
		{"A-law 0xD5 is the smallest positive step", alawTable, 0xD5, 8},
		{"A-law 0x55 is the smallest negative step", alawTable, 0x55, -8},
		{"A-law 0xAA is the positive peak", alawTable, 0xAA, 32256},
		{"A-law 0x2A is the negative peak", alawTable, 0x2A, -32256},
	} {
		if got := tc.table[tc.code]; got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}
