package audio

import (
	"os"
	"testing"
)

// amrFrame returns an AMR-NB storage-format frame of type ft (quality bit
// set) whose speech bytes count from first, the last padded with zeros.
func amrFrame(ft, first int) []byte {
	n := amrNBBits[ft]
	f := append([]byte{byte(ft<<3 | 4)}, seq(first, (n+7)/8)...)
	if n%8 != 0 {
		f[len(f)-1] &= 0xFF << (8 - n%8)
	}
	return f
}

var (
	amr122  = amrFrame(7, 1)
	amr475  = amrFrame(0, 50)
	amrSID  = amrFrame(8, 90)
	amrNone = []byte{15<<3 | 4}
)

// amrCase is a depacketizerCase for the AMR-NB packing set by octet.
type amrCase struct {
	depacketizerCase
	octet bool
}

func amrPayload(octet bool, frames ...[]byte) []byte {
	return must(AMRPayload(frames, false, octet))
}

// amrDepacketizerCases feed TestAMRDepacketizer and seed
// FuzzAMRDepacketizer; the payloads are built by AMRPayload, and the
// hand-written ones pin its output.
var amrDepacketizerCases = []amrCase{
	{octet: true, depacketizerCase: depacketizerCase{name: "octet-aligned, one 12.2 kbit/s frame",
		packets: []payload{{data: amrPayload(true, amr122), marker: true}}, want: [][]byte{amr122}}},
	{octet: false, depacketizerCase: depacketizerCase{name: "bandwidth-efficient, one 12.2 kbit/s frame",
		packets: []payload{{data: amrPayload(false, amr122), marker: true}}, want: [][]byte{amr122}}},
	{octet: true, depacketizerCase: depacketizerCase{name: "octet-aligned, three frames of three types",
		packets: []payload{{data: amrPayload(true, amr122, amr475, amrSID)}}, want: [][]byte{amr122, amr475, amrSID}}},
	{octet: false, depacketizerCase: depacketizerCase{name: "bandwidth-efficient, frames off byte boundaries and NO_DATA",
		packets: []payload{{data: amrPayload(false, amr475, amrNone, amr122)}}, want: [][]byte{amr475, amrNone, amr122}}},
	{octet: true, depacketizerCase: depacketizerCase{name: "octet-aligned, as RFC 4867 lays it out",
		packets: []payload{{data: append([]byte{0xF0, 0x3C}, amr122[1:]...)}}, want: [][]byte{amr122}}},
	{octet: false, depacketizerCase: depacketizerCase{name: "a reserved frame type",
		packets: []payload{{data: []byte{0xF5, 0x80, 0, 0}}}, err: "reserved AMR frame type 11"}},
	{octet: true, depacketizerCase: depacketizerCase{name: "a truncated frame",
		packets: []payload{{data: amrPayload(true, amr122)[:20]}}, err: "frame of 244 bits: truncated"}},
	{octet: true, depacketizerCase: depacketizerCase{name: "a table of contents that never ends",
		packets: []payload{{data: []byte{0xF0, 0xBC, 0xBC}}}, err: "table of contents: truncated"}},
}

func TestAMRDepacketizer(t *testing.T) {
	for _, tc := range amrDepacketizerCases {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newAMRDepacketizer(Format{Codec: CodecAMR, AMR: AMRConfig{OctetAligned: tc.octet}})
			checkDepacketizer(t, p, tc.depacketizerCase)
		})
	}
}

// TestAMRFilesRoundTrip: the committed clips read as frames, which pack and
// depacketize back to themselves in both modes.
func TestAMRFilesRoundTrip(t *testing.T) {
	for _, file := range []string{"speech_8k.amr", "speech_16k.awb"} {
		b, err := os.ReadFile("../loadtest/testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		frames, wb, err := ReadAMR(b)
		if err != nil || len(frames) < 200 {
			t.Fatalf("%s: %d frames, %v", file, len(frames), err)
		}
		codec := CodecAMR
		if wb {
			codec = CodecAMRWB
		}
		for _, octet := range []bool{false, true} {
			p, _ := newAMRDepacketizer(Format{Codec: codec, AMR: AMRConfig{OctetAligned: octet}})
			for i := 0; i+3 <= len(frames); i += 3 {
				pl, err := AMRPayload(frames[i:i+3], wb, octet)
				if err != nil {
					t.Fatal(err)
				}
				aus, err := p.Depacketize(pl, true)
				if err != nil || len(aus) != 3 || string(aus[0]) != string(frames[i]) || string(aus[2]) != string(frames[i+2]) {
					t.Fatalf("%s, octet-aligned %v, frames %d..: %d frames, %v", file, octet, i, len(aus), err)
				}
			}
		}
	}
}

// FuzzAMRDepacketizer: whatever the payload, frames come back in the
// storage format with the size their type says, or an error.
func FuzzAMRDepacketizer(f *testing.F) {
	for _, tc := range amrDepacketizerCases {
		f.Add(tc.octet, false, tc.packets[0].data)
	}
	f.Fuzz(func(t *testing.T, octet, wb bool, data []byte) {
		codec, bits := CodecAMR, &amrNBBits
		if wb {
			codec, bits = CodecAMRWB, &amrWBBits
		}
		p, _ := newAMRDepacketizer(Format{Codec: codec, AMR: AMRConfig{OctetAligned: octet}})
		aus, err := p.Depacketize(data, true)
		if err != nil {
			return
		}
		if len(aus) == 0 || len(aus) > maxAUsPerPacket {
			t.Fatalf("%d frames", len(aus))
		}
		for _, au := range aus {
			if n := bits[au[0]>>3&0xF]; n < 0 || len(au) != 1+(n+7)/8 {
				t.Fatalf("frame %x", au)
			}
		}
	})
}
