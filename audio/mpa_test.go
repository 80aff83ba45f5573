package audio

import (
	"slices"
	"testing"
)

// mpaFrameOf returns a Layer II frame (MPEG-1, 48 kHz, 64 kbit/s: 192
// bytes, 1152 samples) whose body counts from first.
func mpaFrameOf(first int) []byte {
	return append([]byte{0xFF, 0xFD, 0x44, 0xC4}, seq(first, 188)...)
}

// mpaPayload prefixes data with RFC 2250's header at offset.
func mpaPayload(offset int, data ...[]byte) []byte {
	return slices.Concat(append([][]byte{{0, 0, byte(offset >> 8), byte(offset)}}, data...)...)
}

var (
	mpaA = mpaFrameOf(1)
	mpaB = mpaFrameOf(9)
)

// mpaDepacketizerCases feed TestMPADepacketizer and seed
// FuzzMPADepacketizer.
var mpaDepacketizerCases = []depacketizerCase{
	{name: "one frame", packets: []payload{{data: mpaPayload(0, mpaA), marker: true}}, want: [][]byte{mpaA}},
	{name: "two frames share a packet", packets: []payload{{data: mpaPayload(0, mpaA, mpaB), marker: true}}, want: [][]byte{mpaA, mpaB}},
	{
		name: "a frame fragmented over two packets is reassembled",
		packets: []payload{
			{data: mpaPayload(0, mpaA[:100])},
			{data: mpaPayload(100, mpaA[100:])},
		},
		want: [][]byte{mpaA},
	},
	{
		name: "a fragment at the wrong offset",
		packets: []payload{
			{data: mpaPayload(0, mpaA[:100])},
			{data: mpaPayload(90, mpaA[90:])},
		},
		err: "fragment at offset 90, want 100",
	},
	{name: "a continuation without its start", packets: []payload{{data: mpaPayload(100, mpaA[100:])}}, err: "fragment at offset 100, want 0"},
	{
		name: "a frame split after whole ones continues in the next packet, as GStreamer's rtpmpapay splits at the MTU",
		packets: []payload{
			{data: mpaPayload(0, mpaA, mpaB[:50])},
			{data: mpaPayload(242, mpaB[50:], mpaA)},
		},
		want: [][]byte{mpaB, mpaA},
	},
	{
		name: "a frame header split by the packet's end",
		packets: []payload{
			{data: mpaPayload(0, mpaA, mpaB[:2])},
			{data: mpaPayload(194, mpaB[2:])},
		},
		want: [][]byte{mpaB},
	},
	{
		name: "a continuation after a packet without a partial frame",
		packets: []payload{
			{data: mpaPayload(0, mpaA)},
			{data: mpaPayload(192, mpaB)},
		},
		err: "fragment at offset 192, want 0",
	},
	{name: "no frame sync", packets: []payload{{data: mpaPayload(0, seq(1, 20))}}, err: "frame at byte 4: no MPEG audio frame sync"},
	{name: "free format is refused", packets: []payload{{data: mpaPayload(0, []byte{0xFF, 0xFD, 0x04, 0xC4, 0, 0})}}, err: "free-format MPEG audio"},
	{name: "a header alone", packets: []payload{{data: []byte{0, 0, 0, 0}}}, err: "no data after the RFC 2250 header"},
}

func TestMPADepacketizer(t *testing.T) {
	for _, tc := range mpaDepacketizerCases {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newMPADepacketizer(Format{Codec: CodecMPA})
			checkDepacketizer(t, p, tc)
		})
	}
}

// TestMPAFrameDurations: the frame header tells samples and rate of every
// MPEG version and layer earshot meets.
func TestMPAFrameDurations(t *testing.T) {
	for _, tc := range []struct {
		name                string
		header              []byte
		samples, rate, size int
	}{
		{"MPEG-1 Layer II 48 kHz 64 kbit/s", mpaA[:4], 1152, 48000, 192},
		{"MPEG-1 Layer III 44.1 kHz 128 kbit/s, padded", []byte{0xFF, 0xFB, 0x92, 0x00}, 1152, 44100, 418},
		{"MPEG-2 Layer III 16 kHz 32 kbit/s", []byte{0xFF, 0xF3, 0x48, 0xC4}, 576, 16000, 144},
		{"MPEG-2.5 Layer III 8 kHz 16 kbit/s", []byte{0xFF, 0xE3, 0x28, 0xC4}, 576, 8000, 144},
		{"MPEG-1 Layer I 32 kHz 384 kbit/s", []byte{0xFF, 0xFF, 0xC8, 0xC4}, 384, 32000, 576},
	} {
		f, err := parseMPAFrame(tc.header)
		if err != nil || f.samples != tc.samples || f.rate != tc.rate || f.size != tc.size {
			t.Errorf("%s: %+v, %v; want %d samples at %d Hz in %d bytes", tc.name, f, err, tc.samples, tc.rate, tc.size)
		}
	}
}

// FuzzMPADepacketizer feeds two payloads in a row.
func FuzzMPADepacketizer(f *testing.F) {
	for _, tc := range mpaDepacketizerCases {
		f.Add(tc.packets[0].data, tc.packets[len(tc.packets)-1].data)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		p, _ := newMPADepacketizer(Format{Codec: CodecMPA})
		p.Depacketize(a, true)
		aus, err := p.Depacketize(b, true)
		checkAccessUnits(t, aus, err, len(a)+len(b))
		for _, au := range aus {
			if _, _, err := mpaAccessUnit(au); err != nil {
				t.Fatalf("frame %x: %v", au, err)
			}
		}
	})
}
