package audio

import (
	"errors"
	"fmt"
)

const (
	// maxASCSize bounds an AudioSpecificConfig: AAC-LC's is 2 bytes, 5 with
	// an explicit sampling rate.
	maxASCSize = 16
	// maxLATMElement bounds an AudioMuxElement reassembled from fragments:
	// one maximal access unit and its headers.
	maxLATMElement = 8192
)

var (
	// errTruncated marks LATM that ends mid-element: a fragment when the
	// RTP marker bit is clear, an error when it is set.
	errTruncated = errors.New("truncated")
	// errNoLATMConfig is returned for in-band LATM before its first
	// StreamMuxConfig.
	errNoLATMConfig = errors.New("no StreamMuxConfig received yet")
)

// latmConfig is what earshot uses of a StreamMuxConfig (ISO 14496-3, Table
// 1.42): one program of one AAC layer, framed with payload lengths
// (frameLengthType 0). It is comparable, so that an in-band configuration
// repeated in every packet costs a comparison.
type latmConfig struct {
	numSubFrames  int
	otherDataBits int // after each element's payloads
	asc           [maxASCSize]byte
	ascLen        int
	info          AudioSpecificConfig
}

// latmValue reads LatmGetValue (ISO 14496-3, Table 1.45): a 2-bit count
// of bytes less one, then the bytes.
func latmValue(r *bitReader) (int, bool) {
	n, ok := r.read(2)
	if !ok {
		return 0, false
	}
	v, ok := r.read(8 * (int(n) + 1))
	return int(v), ok
}

// parseStreamMuxConfig reads a StreamMuxConfig at r, of audioMuxVersion 0
// or 1. The AudioSpecificConfig inside, with its SBR or PS extension
// signalled explicitly or not at all, is kept as bits for libavcodec.
//
// fromSDP accepts a config that ends after frameLengthType, reading the
// missing fields as zero: GStreamer's rtpmp4apay writes the header, copies
// the AudioSpecificConfig's bytes and stops, so its configs (such as
// 40002320adca00) lack latmBufferFullness onwards, which ffmpeg tolerates
// too. In-band, a config that ends early is a fragment.
func parseStreamMuxConfig(r *bitReader, fromSDP bool) (latmConfig, error) {
	c, err := readStreamMuxConfig(r, fromSDP)
	if err != nil {
		return c, fmt.Errorf("StreamMuxConfig: %w", err)
	}
	return c, nil
}

func readStreamMuxConfig(r *bitReader, fromSDP bool) (latmConfig, error) {
	var c latmConfig
	version, ok := r.read(1)
	if ok && version == 1 {
		var versionA uint32
		if versionA, ok = r.read(1); ok && versionA == 1 {
			return c, errors.New("audioMuxVersionA 1 is reserved")
		}
		if ok {
			_, ok = latmValue(r) // taraBufferFullness
		}
	}
	head, ok2 := r.read(14) // allStreamsSameTimeFraming, numSubFrames, numProgram, numLayer
	if !ok || !ok2 {
		return c, errTruncated
	}
	switch {
	case head>>13 != 1:
		return c, errors.New("allStreamsSameTimeFraming 0 is not supported")
	case head>>3&0xF != 0 || head&7 != 0:
		return c, fmt.Errorf("%d programs and %d layers, only one of each is supported", head>>3&0xF+1, head&7+1)
	}
	c.numSubFrames = int(head >> 7 & 0x3F)
	limit := -1
	if version == 1 {
		if limit, ok = latmValue(r); !ok {
			return c, errTruncated
		}
	}
	start := r.pos
	info, err := parseASC(r, limit)
	if err != nil {
		return c, fmt.Errorf("AudioSpecificConfig: %w", err)
	}
	c.info = info
	n := r.pos - start
	if (n+7)/8 > maxASCSize {
		return c, fmt.Errorf("AudioSpecificConfig of %d bits is too long", n)
	}
	copyBits(c.asc[:], r.buf, start, n)
	c.ascLen = (n + 7) / 8

	flt, ok := r.read(3)
	if !ok {
		return c, errTruncated
	}
	if flt != 0 {
		return c, fmt.Errorf("frameLengthType %d is not supported (AAC uses 0)", flt)
	}
	if fromSDP && r.left() < 10 { // latmBufferFullness, otherDataPresent, crcCheckPresent
		return c, nil
	}
	if _, ok := r.read(8); !ok { // latmBufferFullness
		return c, errTruncated
	}
	other, ok := r.read(1)
	switch {
	case ok && other == 1 && version == 1:
		c.otherDataBits, ok = latmValue(r)
	case ok && other == 1:
		for i := 0; ok && other == 1; i++ {
			if i == 4 {
				return c, errors.New("otherDataLenBits longer than 32 bits")
			}
			var v uint32
			if other, ok = r.read(1); ok { // otherDataLenEsc
				v, ok = r.read(8)
				c.otherDataBits = c.otherDataBits<<8 | int(v)
			}
		}
	}
	if !ok {
		return c, errTruncated
	}
	crc, ok := r.read(1)
	if ok && crc == 1 {
		_, ok = r.read(8)
	}
	if !ok {
		return c, errTruncated
	}
	return c, nil
}

// latmDepacketizer splits MP4A-LATM payloads (RFC 6416) into AAC access
// units. A payload holds one or more AudioMuxElements; with cpresent=0 each
// is byte-aligned PayloadLengthInfo and payload per subframe, configured by
// the SDP's StreamMuxConfig. With cpresent=1 each element starts with
// useSameStreamMux and, when clear, a StreamMuxConfig of its own, which
// shifts what follows off byte boundaries. An element larger than a packet
// is fragmented, the RTP marker bit clear on all but the last fragment.
type latmDepacketizer struct {
	inBand bool
	cfg    latmConfig
	hasCfg bool
	r      bitReader
	aus    [][]byte
	// unaligned holds the payloads copied out of elements whose payload
	// does not start on a byte boundary; its capacity is the input's size,
	// so appending never moves the payloads already returned.
	unaligned []byte
	// pending holds the fragments of an element received so far.
	pending []byte
}

// newLATMDepacketizer returns a depacketizer for a stream with the binary
// StreamMuxConfig config, or for in-band configuration when config is empty.
func newLATMDepacketizer(config []byte) (*latmDepacketizer, error) {
	p := &latmDepacketizer{inBand: len(config) == 0, aus: make([][]byte, 0, maxAUsPerPacket)}
	if !p.inBand {
		c, err := parseStreamMuxConfig(&bitReader{buf: config}, true)
		if err != nil {
			return nil, err
		}
		p.cfg, p.hasCfg = c, true
	}
	return p, nil
}

// Depacketize returns the access units of payload, which are valid until
// the next call. A fragment that does not complete an element returns
// none. marker is the RTP marker bit.
func (p *latmDepacketizer) Depacketize(payload []byte, marker bool) ([][]byte, error) {
	buf := payload
	if len(p.pending) > 0 {
		if len(p.pending)+len(payload) > maxLATMElement {
			p.pending = p.pending[:0]
			return nil, fmt.Errorf("fragmented AudioMuxElement exceeds %d bytes", maxLATMElement)
		}
		p.pending = append(p.pending, payload...)
		buf = p.pending
	}
	p.aus = p.aus[:0]
	p.r = bitReader{buf: buf}
	if cap(p.unaligned) < len(buf) {
		p.unaligned = make([]byte, 0, len(buf))
	}
	p.unaligned = p.unaligned[:0]
	for p.r.left() > 0 {
		start := p.r.pos
		err := p.element()
		if err == nil {
			continue
		}
		if errors.Is(err, errTruncated) && !marker && start == 0 && len(buf) <= maxLATMElement {
			if len(p.pending) == 0 {
				p.pending = append(p.pending, payload...)
			}
			p.aus = p.aus[:0]
			return p.aus, nil
		}
		p.pending = p.pending[:0]
		return nil, fmt.Errorf("AudioMuxElement at byte %d of %d: %w", start/8, len(buf), err)
	}
	p.pending = p.pending[:0]
	return p.aus, nil
}

// element parses one AudioMuxElement (ISO 14496-3, Table 1.41) at p.r and
// appends its payloads to p.aus.
func (p *latmDepacketizer) element() error {
	r := &p.r
	if p.inBand {
		same, ok := r.read(1)
		if !ok {
			return errTruncated
		}
		if same == 0 {
			c, err := parseStreamMuxConfig(r, false)
			if err != nil {
				return err
			}
			if p.hasCfg && c != p.cfg && len(p.aus) > 0 {
				return errors.New("StreamMuxConfig changes within a packet")
			}
			p.cfg, p.hasCfg = c, true
		}
	}
	if !p.hasCfg {
		return errNoLATMConfig
	}
	for range p.cfg.numSubFrames + 1 {
		size := 0
		for {
			b, ok := r.read(8)
			if !ok {
				return errTruncated
			}
			size += int(b)
			if size > maxAUSize {
				return fmt.Errorf("access unit of more than %d bytes", maxAUSize)
			}
			if b != 255 {
				break
			}
		}
		switch {
		case size == 0:
			return errEmptyAU
		case r.left() < 8*size:
			return fmt.Errorf("access unit of %d bytes: %w", size, errTruncated)
		case len(p.aus) == maxAUsPerPacket:
			return fmt.Errorf("more than %d access units in one packet", maxAUsPerPacket)
		}
		p.aus = append(p.aus, p.payload(size))
	}
	if r.left() < p.cfg.otherDataBits {
		return fmt.Errorf("other data: %w", errTruncated)
	}
	r.pos += p.cfg.otherDataBits
	r.align()
	return nil
}

// payload returns the next size bytes at p.r, copied when unaligned.
func (p *latmDepacketizer) payload(size int) []byte {
	r := &p.r
	var b []byte
	if r.pos%8 == 0 {
		i := r.pos / 8
		b = r.buf[i : i+size : i+size]
	} else {
		i := len(p.unaligned)
		p.unaligned = p.unaligned[:i+size]
		copyBits(p.unaligned[i:], r.buf, r.pos, 8*size)
		b = p.unaligned[i : i+size : i+size]
	}
	r.pos += 8 * size
	return b
}

// Config returns the AudioSpecificConfig in force, nil before the first
// in-band StreamMuxConfig.
func (p *latmDepacketizer) Config() []byte {
	if !p.hasCfg {
		return nil
	}
	return p.cfg.asc[:p.cfg.ascLen]
}

// Reset drops a partly received element. The configuration stays: it
// describes the stream, not its history.
func (p *latmDepacketizer) Reset() { p.pending = p.pending[:0] }
