package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// CodecMPA is MPEG-1/2 audio, Layer I to III (MP2, MP3), in RTP per
// RFC 2250: static payload type 14, "MPA/90000".
const CodecMPA = "mpa"

// mpaHeaderSize is RFC 2250's MPEG audio-specific header: 16 bits that
// must be zero and a 16-bit fragment offset.
const mpaHeaderSize = 4

// maxMPAFrame bounds an MPEG audio frame: Layer II at 384 kbit/s and
// 32 kHz, or free format, stays under it.
const maxMPAFrame = 4096

var errNoMPASync = errors.New("no MPEG audio frame sync")

// mpaBitRates are the bit rates in kbit/s by [MPEG-1?][layer-1][index].
var mpaBitRates = [2][3][15]int{
	{ // MPEG-2 and 2.5
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
	},
	{ // MPEG-1
		{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},
		{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},
	},
}

// mpaRates are the MPEG-1 sample rates; MPEG-2 halves them, MPEG-2.5
// quarters them.
var mpaRates = [3]int{44100, 48000, 32000}

// mpaFrame is what an MPEG audio frame header says.
type mpaFrame struct {
	layer, samples, rate, size int
}

// parseMPAFrame reads the frame header at the start of b (ISO/IEC 11172-3
// 2.4.1.3). Free-format frames (bit rate index 0) have no size in their
// header and are refused.
func parseMPAFrame(b []byte) (mpaFrame, error) {
	if len(b) < 4 {
		return mpaFrame{}, errTruncated
	}
	if b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return mpaFrame{}, errNoMPASync
	}
	version := b[1] >> 3 & 3 // 0: MPEG-2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
	layer := 4 - int(b[1]>>1&3)
	bri, sri, pad := int(b[2]>>4), int(b[2]>>2&3), int(b[2]>>1&1)
	switch {
	case version == 1:
		return mpaFrame{}, errors.New("reserved MPEG audio version")
	case layer == 4:
		return mpaFrame{}, errors.New("reserved MPEG audio layer")
	case bri == 0:
		return mpaFrame{}, notDecoded("free-format MPEG audio")
	case bri == 15 || sri == 3:
		return mpaFrame{}, errors.New("reserved MPEG audio bit rate or sample rate")
	}
	mpeg1 := 0
	if version == 3 {
		mpeg1 = 1
	}
	f := mpaFrame{layer: layer, rate: mpaRates[sri]}
	switch version {
	case 2:
		f.rate /= 2
	case 0:
		f.rate /= 4
	}
	bitRate := mpaBitRates[mpeg1][layer-1][bri] * 1000
	switch {
	case layer == 1:
		f.samples = 384
		f.size = (12*bitRate/f.rate + pad) * 4
	case layer == 3 && mpeg1 == 0:
		f.samples = 576
		f.size = 72*bitRate/f.rate + pad
	default:
		f.samples = 1152
		f.size = 144*bitRate/f.rate + pad
	}
	return f, nil
}

// identifyMPA: MPEG audio runs on a 90 kHz clock whatever its rate, which
// travels in every frame header.
func identifyMPA(c Codec, m rtpMap, _ map[string]string) (Format, error) {
	if m.clock != 90000 {
		return Format{}, fmt.Errorf("clock rate %d, want 90000 (RFC 2250)", m.clock)
	}
	return Format{Codec: c.Name, Channels: m.channels, ClockRate: 90000}, nil
}

// mpaAccessUnit returns the duration of one MPEG audio frame.
func mpaAccessUnit(au []byte) (samples, rate int, err error) {
	f, err := parseMPAFrame(au)
	return f.samples, f.rate, err
}

// mpaDepacketizer splits RFC 2250 payloads into MPEG audio frames: after
// the 4-byte header, frames, the last of which may continue in the next
// packet, whose header then gives the offset of its data within what the
// sender split. A frame larger than a packet spans several; GStreamer's
// rtpmpapay also splits a run of frames wherever the MTU falls.
type mpaDepacketizer struct {
	aus [][]byte
	// buf holds the carried bytes and the next packet's data, which the
	// returned frames then point into.
	buf []byte
	// carry holds the start of a frame that continues in the next packet,
	// whose offset must then be next.
	carry []byte
	next  int
}

func newMPADepacketizer(Format) (Depacketizer, error) {
	return &mpaDepacketizer{aus: make([][]byte, 0, maxAUsPerPacket)}, nil
}

// Depacketize returns the frames of payload, valid until the next call.
func (p *mpaDepacketizer) Depacketize(payload []byte, _ bool) ([][]byte, error) {
	p.aus = p.aus[:0]
	carried := len(p.carry)
	if len(payload) <= mpaHeaderSize {
		p.carry = p.carry[:0]
		return nil, fmt.Errorf("payload of %d bytes has no data after the RFC 2250 header", len(payload))
	}
	offset := int(binary.BigEndian.Uint16(payload[2:4]))
	data := payload[mpaHeaderSize:]
	if offset > 0 {
		if carried == 0 || offset != p.next {
			want := 0
			if carried > 0 {
				want = p.next
			}
			p.carry = p.carry[:0]
			return nil, fmt.Errorf("fragment at offset %d, want %d", offset, want)
		}
		p.buf = append(append(p.buf[:0], p.carry...), data...)
		data = p.buf
	}
	p.carry = p.carry[:0]
	pos := -carried // of data[0] in this payload's data, when carried
	if offset == 0 {
		pos = 0
	}
	for len(data) > 0 {
		f, err := parseMPAFrame(data)
		if err == nil && f.size > maxMPAFrame {
			err = fmt.Errorf("frame of %d bytes", f.size)
		}
		switch {
		case errors.Is(err, errTruncated):
			f.size = maxMPAFrame // a header split by the packet's end
		case err != nil:
			return nil, fmt.Errorf("frame at byte %d: %w", mpaHeaderSize+pos, err)
		}
		if f.size > len(data) {
			if len(data) > maxMPAFrame {
				return nil, fmt.Errorf("frame at byte %d: %w", mpaHeaderSize+pos, errTruncated)
			}
			// The frame continues in the next packet.
			p.carry = append(p.carry, data...)
			p.next = offset + len(payload) - mpaHeaderSize
			return p.aus, nil
		}
		if len(p.aus) == maxAUsPerPacket {
			return nil, fmt.Errorf("more than %d frames in one packet", maxAUsPerPacket)
		}
		p.aus = append(p.aus, data[:f.size:f.size])
		data = data[f.size:]
		pos += f.size
	}
	return p.aus, nil
}

// Config returns nil: MPEG audio needs no configuration.
func (p *mpaDepacketizer) Config() []byte { return nil }

// Reset drops a partly received frame.
func (p *mpaDepacketizer) Reset() { p.carry = p.carry[:0] }

// Partial reports whether the last payload ended inside a frame, whose
// remainder comes next under the same RTP timestamp (RFC 2250: the
// timestamp is that of the frame, or of the run of frames, it starts).
func (p *mpaDepacketizer) Partial() bool { return len(p.carry) > 0 }
