package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Bounds on what one RTP payload may make a decoder hold, so that a
// malformed or hostile stream cannot grow a stream's memory.
const (
	// maxAUSize is the largest AAC access unit accepted. ISO 14496-3 bounds
	// an AAC frame to 6144 bits per channel: 6144 bytes for 8 channels.
	maxAUSize = 6144
	// maxAUsPerPacket bounds the access units of one payload. Cameras put
	// one to a few per packet; LATM allows 64 subframes per element.
	maxAUsPerPacket = 64
	// maxAUHeaderField bounds the RFC 3640 AU-header field widths (AAC-hbr
	// uses 13, 3 and 3 bits; AAC-lbr 6, 2 and 2).
	maxAUHeaderField = 16
)

// errEmptyAU is returned for an access unit of zero bytes, which
// libavcodec would take as the end of the stream.
var errEmptyAU = errors.New("empty access unit")

// auDepacketizer splits MPEG4-GENERIC payloads (RFC 3640, AAC-hbr and
// AAC-lbr) into AAC access units: a 16-bit AU-headers-length, AU headers of
// SizeLength + IndexLength (first) or IndexDeltaLength (later) bits, then
// the access units. An access unit larger than a packet is fragmented: each
// fragment's single AU header carries the whole AU's size, and the RTP
// marker bit is clear on all but the last fragment.
//
// Interleaving (non-zero AU-Index or AU-Index-delta), CTS/DTS deltas and
// auxiliary data are not supported: gortsplib accepts only AAC-hbr, which
// uses none of them in practice.
type auDepacketizer struct {
	sizeLength, indexLength, indexDeltaLength int
	asc                                       []byte // AudioSpecificConfig from SDP
	aus                                       [][]byte
	// frag holds the fragments received so far of an access unit of
	// fragSize bytes; fragSize is 0 when none is pending.
	frag     []byte
	fragSize int
}

func newAUDepacketizer(c AACConfig, asc []byte) (*auDepacketizer, error) {
	if c.SizeLength < 1 || c.SizeLength > maxAUHeaderField {
		return nil, fmt.Errorf("sizelength %d is outside 1..%d", c.SizeLength, maxAUHeaderField)
	}
	if c.IndexLength < 0 || c.IndexLength > maxAUHeaderField || c.IndexDeltaLength < 0 || c.IndexDeltaLength > maxAUHeaderField {
		return nil, fmt.Errorf("indexlength %d or indexdeltalength %d is outside 0..%d", c.IndexLength, c.IndexDeltaLength, maxAUHeaderField)
	}
	return &auDepacketizer{
		sizeLength:       c.SizeLength,
		indexLength:      c.IndexLength,
		indexDeltaLength: c.IndexDeltaLength,
		asc:              asc,
		aus:              make([][]byte, 0, maxAUsPerPacket),
	}, nil
}

// Depacketize returns the complete access units of payload, which are valid
// until the next call. A fragment that does not complete an access unit
// returns none. marker is the RTP marker bit.
func (p *auDepacketizer) Depacketize(payload []byte, marker bool) ([][]byte, error) {
	var sizes [maxAUsPerPacket]int
	n, data, err := p.headers(payload, &sizes)
	if err != nil {
		p.fragSize = 0
		return nil, err
	}
	p.aus = p.aus[:0]
	if p.fragSize > 0 {
		return p.continueFragment(sizes[:n], data, marker)
	}
	total := 0
	for _, s := range sizes[:n] {
		total += s
	}
	if n == 1 && total > len(data) {
		if marker {
			return nil, fmt.Errorf("access unit of %d bytes is truncated to %d bytes", total, len(data))
		}
		p.frag = append(p.frag[:0], data...)
		p.fragSize = total
		return p.aus, nil
	}
	if total != len(data) {
		return nil, fmt.Errorf("AU headers give %d access units of %d bytes in all, but %d bytes follow them", n, total, len(data))
	}
	for _, s := range sizes[:n] {
		p.aus = append(p.aus, data[:s:s])
		data = data[s:]
	}
	return p.aus, nil
}

// headers parses the AU-header section into sizes and returns the number
// of access units and the data after the headers.
func (p *auDepacketizer) headers(payload []byte, sizes *[maxAUsPerPacket]int) (int, []byte, error) {
	if len(payload) < 2 {
		return 0, nil, fmt.Errorf("payload of %d bytes has no AU-headers-length", len(payload))
	}
	hbits := int(binary.BigEndian.Uint16(payload))
	hbytes := (hbits + 7) / 8
	if 2+hbytes > len(payload) {
		return 0, nil, fmt.Errorf("AU headers of %d bits exceed the %d-byte payload", hbits, len(payload))
	}
	first := p.sizeLength + p.indexLength
	next := p.sizeLength + p.indexDeltaLength
	if hbits < first || (hbits-first)%next != 0 {
		return 0, nil, fmt.Errorf("AU-headers-length of %d bits is not a whole number of AU headers (%d bits, then %d)", hbits, first, next)
	}
	n := 1 + (hbits-first)/next
	if n > maxAUsPerPacket {
		return 0, nil, fmt.Errorf("%d AU headers in one packet, more than %d", n, maxAUsPerPacket)
	}
	r := bitReader{buf: payload[2 : 2+hbytes]}
	for i := range n {
		idxBits := p.indexDeltaLength
		if i == 0 {
			idxBits = p.indexLength
		}
		size, _ := r.read(p.sizeLength) // the length check above covers every field
		idx, _ := r.read(idxBits)
		switch {
		case idx != 0:
			return 0, nil, fmt.Errorf("AU header %d: interleaved access units (index %d) are not supported", i, idx)
		case size == 0:
			return 0, nil, fmt.Errorf("AU header %d: %w", i, errEmptyAU)
		case size > maxAUSize:
			return 0, nil, fmt.Errorf("AU header %d: access unit of %d bytes exceeds %d", i, size, maxAUSize)
		}
		sizes[i] = int(size)
	}
	return n, payload[2+hbytes:], nil
}

// continueFragment appends a fragment to the pending access unit.
func (p *auDepacketizer) continueFragment(sizes []int, data []byte, marker bool) ([][]byte, error) {
	want, have := p.fragSize, len(p.frag)
	p.fragSize = 0 // dropped unless this fragment keeps it going
	switch {
	case len(sizes) != 1 || sizes[0] != want:
		return nil, fmt.Errorf("fragment of a %d-byte access unit expected, got %d AU headers", want, len(sizes))
	case have+len(data) > want:
		return nil, fmt.Errorf("fragments of a %d-byte access unit add up to %d bytes", want, have+len(data))
	}
	p.frag = append(p.frag, data...)
	switch {
	case len(p.frag) == want:
		p.aus = append(p.aus, p.frag)
	case marker:
		return nil, fmt.Errorf("fragmented access unit of %d bytes ended after %d bytes", want, len(p.frag))
	default:
		p.fragSize = want
	}
	return p.aus, nil
}

// Config returns the AudioSpecificConfig, which MPEG4-GENERIC carries out
// of band only.
func (p *auDepacketizer) Config() []byte { return p.asc }

// Reset drops a partly received access unit.
func (p *auDepacketizer) Reset() { p.fragSize = 0 }
