package audio

import (
	"errors"
	"fmt"
	"strings"
)

// AMR codec names: AMR-NB (8 kHz) and AMR-WB (16 kHz) in RTP per RFC 4867,
// octet-aligned or bandwidth-efficient, one channel, no interleaving.
const (
	CodecAMR   = "amr"
	CodecAMRWB = "amr-wb"
)

// AMRConfig is the out-of-band configuration of an AMR track, from the SDP
// fmtp line.
type AMRConfig struct {
	// OctetAligned is fmtp octet-align=1; the default is the
	// bandwidth-efficient mode.
	OctetAligned bool
}

// Frame types (RFC 4867 §3.1; 3GPP TS 26.101 and 26.201): the speech bits
// of each, then SID (comfort noise) and NO_DATA. The types between are
// reserved, except AMR-WB's 14, SPEECH_LOST.
var (
	amrNBBits = [16]int{95, 103, 118, 134, 148, 159, 204, 244, 39, -1, -1, -1, -1, -1, -1, 0}
	amrWBBits = [16]int{132, 177, 253, 285, 317, 365, 397, 461, 477, 40, -1, -1, -1, -1, 0, 0}
)

// amrSpeechTypes is the number of speech frame types: 8 for AMR-NB, 9 for
// AMR-WB; frame types from it on are comfort noise or no data.
func amrSpeechTypes(wb bool) int {
	if wb {
		return 9
	}
	return 8
}

// identifyAMR: RFC 4867 announces AMR/8000/1 and AMR-WB/16000/1;
// interleaving, CRCs and robust sorting are refused.
func identifyAMR(c Codec, m rtpMap, fmtp map[string]string) (Format, error) {
	if m.clock != c.SampleRate || m.channels != 1 {
		return Format{}, fmt.Errorf("%s must be announced as %s/%d/1", c.Encoding, c.Encoding, c.SampleRate)
	}
	for _, k := range []string{"interleaving", "crc", "robust-sorting"} {
		if v, ok := fmtp[k]; ok && v != "0" {
			return Format{}, notDecoded(fmt.Sprintf("fmtp %s=%s", k, v))
		}
	}
	return Format{Codec: c.Name, SampleRate: c.SampleRate, Channels: 1, ClockRate: c.SampleRate,
		AMR: AMRConfig{OctetAligned: fmtp["octet-align"] == "1"}}, nil
}

// AMRFrameIsSpeech reports whether au, an access unit of an AMR
// depacketizer, is a speech frame; comfort noise (SID), SPEECH_LOST and
// NO_DATA frames are not, and libavcodec decodes none of them.
func AMRFrameIsSpeech(au []byte, wb bool) bool {
	return len(au) > 0 && int(au[0]>>3&0xF) < amrSpeechTypes(wb)
}

// amrDepacketizer splits RFC 4867 payloads into frames in the storage
// format libavcodec reads (RFC 4867 §5.3): a header byte holding the frame
// type and quality bit, then the speech bits padded to a byte.
type amrDepacketizer struct {
	wb, octetAligned bool
	bits             *[16]int
	aus              [][]byte
	buf              []byte
	toc              [maxAUsPerPacket]byte
}

func newAMRDepacketizer(f Format) (Depacketizer, error) {
	p := &amrDepacketizer{wb: f.Codec == CodecAMRWB, octetAligned: f.AMR.OctetAligned, bits: &amrNBBits,
		aus: make([][]byte, 0, maxAUsPerPacket)}
	if p.wb {
		p.bits = &amrWBBits
	}
	return p, nil
}

var errAMRFrameType = errors.New("reserved AMR frame type")

// Depacketize returns the frames of payload, valid until the next call.
func (p *amrDepacketizer) Depacketize(payload []byte, _ bool) ([][]byte, error) {
	p.aus = p.aus[:0]
	r := bitReader{buf: payload}
	field := 4 // CMR
	if p.octetAligned {
		field = 8
	}
	if _, ok := r.read(field); !ok {
		return nil, fmt.Errorf("payload of %d bytes: %w", len(payload), errTruncated)
	}
	// Table of contents: F (more follow), FT, Q; padded to a byte each
	// when octet-aligned.
	n, total := 0, 0
	for more := true; more; n++ {
		entry, ok := r.read(6)
		if !ok {
			return nil, fmt.Errorf("table of contents: %w", errTruncated)
		}
		if p.octetAligned {
			r.pos += 2
		}
		if n == maxAUsPerPacket {
			return nil, fmt.Errorf("more than %d frames in one packet", maxAUsPerPacket)
		}
		more = entry&0x20 != 0
		ft := int(entry >> 1 & 0xF)
		bits := p.bits[ft]
		if bits < 0 {
			return nil, fmt.Errorf("frame %d: %w %d", n+1, errAMRFrameType, ft)
		}
		p.toc[n] = byte(ft<<3) | byte(entry&1)<<2
		total += 1 + (bits+7)/8
	}
	if cap(p.buf) < total {
		p.buf = make([]byte, 0, total)
	}
	p.buf = p.buf[:0]
	for _, h := range p.toc[:n] {
		bits := p.bits[h>>3]
		if p.octetAligned {
			r.align()
		}
		if r.left() < bits {
			return nil, fmt.Errorf("frame of %d bits: %w", bits, errTruncated)
		}
		i := len(p.buf)
		size := 1 + (bits+7)/8
		p.buf = p.buf[:i+size]
		p.buf[i] = h
		if bits > 0 {
			copyBits(p.buf[i+1:i+size], payload, r.pos, bits)
		}
		r.pos += bits
		p.aus = append(p.aus, p.buf[i:i+size:i+size])
	}
	return p.aus, nil
}

// Config returns nil: AMR needs no configuration.
func (p *amrDepacketizer) Config() []byte { return nil }

// Reset does nothing: AMR payloads are never fragmented.
func (p *amrDepacketizer) Reset() {}

// amrAccessUnit returns the duration of one AMR frame: 20 ms.
func amrAccessUnit(rate int) func([]byte) (int, int, error) {
	return func([]byte) (int, int, error) { return rate / 50, rate, nil }
}

// AMR storage-format magic numbers (RFC 4867 §5.1 and §5.2).
const (
	amrMagic   = "#!AMR\n"
	amrWBMagic = "#!AMR-WB\n"
)

// ReadAMR splits a single-channel AMR or AMR-WB file (RFC 4867 §5) into its
// frames, each a header byte then the speech bits, as the depacketizer
// returns them; wb reports an AMR-WB file.
func ReadAMR(b []byte) (frames [][]byte, wb bool, err error) {
	bits := &amrNBBits
	switch {
	case strings.HasPrefix(string(b), amrWBMagic):
		b, wb, bits = b[len(amrWBMagic):], true, &amrWBBits
	case strings.HasPrefix(string(b), amrMagic):
		b = b[len(amrMagic):]
	default:
		return nil, false, errors.New("no AMR magic number")
	}
	for len(b) > 0 {
		n := bits[b[0]>>3&0xF]
		if n < 0 {
			return nil, wb, fmt.Errorf("frame %d: %w %d", len(frames)+1, errAMRFrameType, b[0]>>3&0xF)
		}
		size := 1 + (n+7)/8
		if size > len(b) {
			return nil, wb, fmt.Errorf("frame %d: %w", len(frames)+1, errTruncated)
		}
		frames = append(frames, b[:size:size])
		b = b[size:]
	}
	return frames, wb, nil
}

// AMRPayload packs frames, as ReadAMR returns them, into one RFC 4867
// payload, octet-aligned or bandwidth-efficient, with CMR 15 (no mode
// request). It is the sender's half of the depacketizer, for synthetic
// cameras and tests.
func AMRPayload(frames [][]byte, wb, octetAligned bool) ([]byte, error) {
	bits := &amrNBBits
	if wb {
		bits = &amrWBBits
	}
	w := bitWriter{}
	if octetAligned {
		w.write(0xF0, 8)
	} else {
		w.write(0xF, 4)
	}
	for i, f := range frames {
		if len(f) == 0 || bits[f[0]>>3&0xF] < 0 {
			return nil, fmt.Errorf("frame %d: %w", i+1, errAMRFrameType)
		}
		more := uint32(0)
		if i+1 < len(frames) {
			more = 1
		}
		w.write(more<<5|uint32(f[0]>>2&0x1F), 6)
		if octetAligned {
			w.write(0, 2)
		}
	}
	for _, f := range frames {
		n := bits[f[0]>>3&0xF]
		if len(f) != 1+(n+7)/8 {
			return nil, fmt.Errorf("frame of %d bytes, want %d", len(f), 1+(n+7)/8)
		}
		for i := range n {
			w.write(uint32(f[1+i/8]>>(7-i%8)&1), 1)
		}
		if octetAligned {
			w.align()
		}
	}
	return w.buf, nil
}

// bitWriter appends most-significant-bit-first fields.
type bitWriter struct {
	buf []byte
	n   int // bits written
}

func (w *bitWriter) write(v uint32, bits int) {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		w.buf[len(w.buf)-1] |= byte(v>>i&1) << (7 - w.n%8)
		w.n++
	}
}

func (w *bitWriter) align() { w.n = (w.n + 7) &^ 7 }
