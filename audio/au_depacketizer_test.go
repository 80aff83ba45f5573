package audio

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// auHeaders builds an AAC-hbr payload: a 16-bit AU header (13-bit size,
// 3-bit index 0) per size, then data.
func auHeaders(data []byte, sizes ...int) []byte {
	b := []byte{byte(16 * len(sizes) >> 8), byte(16 * len(sizes))}
	for _, s := range sizes {
		b = append(b, byte(s>>5), byte(s<<3))
	}
	return append(b, data...)
}

// seq returns n bytes counting from first.
func seq(first, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(first + i)
	}
	return b
}

// depacketizerCase feeds packets in order to a fresh depacketizer; the last
// packet yields want or an error containing err, the others no error.
type depacketizerCase struct {
	name    string
	packets []payload
	want    [][]byte
	err     string
}

var auDepacketizerCases = []depacketizerCase{
	{name: "one access unit", packets: []payload{{data: auHeaders(seq(1, 3), 3), marker: true}}, want: [][]byte{seq(1, 3)}},
	{
		name:    "three access units share a packet",
		packets: []payload{{data: auHeaders(seq(1, 9), 2, 3, 4), marker: true}},
		want:    [][]byte{seq(1, 2), seq(3, 3), seq(6, 4)},
	},
	{
		name:    "a complete access unit needs no marker bit",
		packets: []payload{{data: auHeaders(seq(1, 3), 3)}},
		want:    [][]byte{seq(1, 3)},
	},
	{
		name: "an access unit fragmented over three packets is reassembled",
		packets: []payload{
			{data: auHeaders(seq(0, 4), 10)},
			{data: auHeaders(seq(4, 4), 10)},
			{data: auHeaders(seq(8, 2), 10), marker: true},
		},
		want: [][]byte{seq(0, 10)},
	},
	{
		name: "a fragment without the marker bit waits for more",
		packets: []payload{
			{data: auHeaders(seq(0, 4), 10)},
			{data: auHeaders(seq(4, 4), 10)},
		},
		want: [][]byte{},
	},
	{
		name: "a lost middle fragment fails at the last",
		packets: []payload{
			{data: auHeaders(seq(0, 4), 10)},
			{data: auHeaders(seq(8, 2), 10), marker: true},
		},
		err: "fragmented access unit of 10 bytes ended after 6 bytes",
	},
	{
		name: "fragments longer than their access unit",
		packets: []payload{
			{data: auHeaders(seq(0, 8), 10)},
			{data: auHeaders(seq(8, 4), 10), marker: true},
		},
		err: "fragments of a 10-byte access unit add up to 12 bytes",
	},
	{
		name: "a fragment of another access unit",
		packets: []payload{
			{data: auHeaders(seq(0, 4), 10)},
			{data: auHeaders(seq(4, 4), 11)},
		},
		err: "fragment of a 10-byte access unit expected, got 1 AU headers",
	},
	{
		name:    "a short access unit with the marker bit is truncated",
		packets: []payload{{data: auHeaders(seq(0, 4), 10), marker: true}},
		err:     "access unit of 10 bytes is truncated to 4 bytes",
	},
	{name: "a one-byte payload", packets: []payload{{data: []byte{0}, marker: true}}, err: "payload of 1 bytes has no AU-headers-length"},
	{
		name:    "AU-headers-length of zero",
		packets: []payload{{data: []byte{0, 0, 1, 2}, marker: true}},
		err:     "AU-headers-length of 0 bits is not a whole number of AU headers (16 bits, then 16)",
	},
	{
		name:    "AU-headers-length of 17 bits",
		packets: []payload{{data: []byte{0, 17, 0, 8, 0, 1}, marker: true}},
		err:     "AU-headers-length of 17 bits is not a whole number of AU headers",
	},
	{
		name:    "AU headers longer than the payload",
		packets: []payload{{data: []byte{0, 64, 0, 8}, marker: true}},
		err:     "AU headers of 64 bits exceed the 4-byte payload",
	},
	{
		name:    "an interleaved access unit",
		packets: []payload{{data: []byte{0, 16, 0, 8 | 2, 1}, marker: true}},
		err:     "AU header 0: interleaved access units (index 2) are not supported",
	},
	{name: "an empty access unit", packets: []payload{{data: auHeaders(nil, 0), marker: true}}, err: "AU header 0: empty access unit"},
	{
		name:    "an absurd access unit size",
		packets: []payload{{data: auHeaders(seq(0, 8), 8000), marker: true}},
		err:     "AU header 0: access unit of 8000 bytes exceeds 6144",
	},
	{
		name:    "bytes after the access units",
		packets: []payload{{data: auHeaders(seq(0, 5), 2, 2), marker: true}},
		err:     "AU headers give 2 access units of 4 bytes in all, but 5 bytes follow them",
	},
	{
		name:    "65 access units in one packet",
		packets: []payload{{data: auHeaders(seq(0, 65), slices.Repeat([]int{1}, 65)...), marker: true}},
		err:     "65 AU headers in one packet, more than 64",
	},
}

func TestAUDepacketizer(t *testing.T) {
	for _, tc := range auDepacketizerCases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newAUDepacketizer(AACConfig{SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkDepacketizer(t, p, tc)
		})
	}
}

func checkDepacketizer(t *testing.T, p Depacketizer, tc depacketizerCase) {
	t.Helper()
	for i, pk := range tc.packets {
		aus, err := p.Depacketize(pk.data, pk.marker)
		if i < len(tc.packets)-1 {
			if err != nil {
				t.Fatalf("packet %d: %v", i, err)
			}
			continue
		}
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Fatalf("error %v, want one containing %q", err, tc.err)
		case tc.err == "" && err != nil:
			t.Fatal(err)
		case tc.err == "" && !slices.EqualFunc(aus, tc.want, bytes.Equal):
			t.Fatalf("access units %x, want %x", aus, tc.want)
		}
	}
}

// TestAUDepacketizerRecoversAfterErrors: a malformed packet, or a reset in
// the middle of a fragmented access unit, leaves nothing behind.
func TestAUDepacketizerRecoversAfterErrors(t *testing.T) {
	p, err := newAUDepacketizer(AACConfig{SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := auHeaders(seq(1, 3), 3)
	for _, before := range [][]byte{{0}, auHeaders(seq(0, 4), 10)} {
		p.Depacketize(before, false)
		p.Reset()
		aus, err := p.Depacketize(good, true)
		if err != nil || len(aus) != 1 || !bytes.Equal(aus[0], seq(1, 3)) {
			t.Errorf("after %x: %x, %v", before, aus, err)
		}
	}
}

func TestAUDepacketizerLowBitRateHeaders(t *testing.T) {
	// AAC-lbr: 6-bit sizes, 2-bit indexes; two units of 3 and 5 bytes.
	p, err := newAUDepacketizer(AACConfig{SizeLength: 6, IndexLength: 2, IndexDeltaLength: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	aus, err := p.Depacketize(append([]byte{0, 16, 3 << 2, 5 << 2}, seq(0, 8)...), true)
	if err != nil || !slices.EqualFunc(aus, [][]byte{seq(0, 3), seq(3, 5)}, bytes.Equal) {
		t.Errorf("access units %x, %v", aus, err)
	}
}

// FuzzAUDepacketizer feeds two payloads in a row, so that fragments meet
// whatever follows them. Seeds: the table above, and in testdata the AAC cases of
// audio/decoder.
func FuzzAUDepacketizer(f *testing.F) {
	for _, tc := range auDepacketizerCases {
		first := tc.packets[0]
		last := tc.packets[len(tc.packets)-1]
		f.Add(first.data, first.marker, last.data, last.marker)
	}
	f.Fuzz(func(t *testing.T, a []byte, markerA bool, b []byte, markerB bool) {
		p, err := newAUDepacketizer(AACConfig{SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.Depacketize(a, markerA)
		aus, err := p.Depacketize(b, markerB)
		checkAccessUnits(t, aus, err, len(a)+len(b))
	})
}

// checkAccessUnits asserts the bounds every depacketizer keeps.
func checkAccessUnits(t *testing.T, aus [][]byte, err error, input int) {
	t.Helper()
	if err != nil {
		if aus != nil {
			t.Fatalf("error %v with %d access units", err, len(aus))
		}
		return
	}
	if len(aus) > maxAUsPerPacket {
		t.Fatalf("%d access units", len(aus))
	}
	total := 0
	for _, au := range aus {
		if len(au) == 0 || len(au) > maxAUSize {
			t.Fatalf("access unit of %d bytes", len(au))
		}
		total += len(au)
	}
	if total > input {
		t.Fatalf("%d bytes of access units from %d bytes of input", total, input)
	}
}
