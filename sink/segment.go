package sink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// A spool segment is an append-only file: the 8-byte segmentMagic, then
// frames. A frame is the payload length (uint32, little endian), the CRC-32C
// of the payload (uint32, little endian) and the payload: one record in the
// spoolVersion encoding (see appendSpoolRecord). A torn or corrupt frame ends
// the readable part of a segment.
const (
	segmentMagic    = "ESPOOL\x00\x01"
	frameHeaderSize = 8
	spoolVersion    = 1
	// maxFramePayload bounds a frame's declared length, so a corrupt length
	// cannot make a reader allocate gigabytes: records are at most
	// BatchBytes (below 2 GiB) plus a few hundred bytes.
	maxFramePayload = 1<<31 - 1
)

// ErrCorrupt is wrapped by the errors of segment reading: the bytes are not
// a whole, intact frame of a valid record.
var ErrCorrupt = errors.New("corrupt spool data")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// kindCodes are the spool encoding of schema.Kind.
var kindCodes = [...]schema.Kind{schema.KindAudio, schema.KindStart, schema.KindGap, schema.KindEnd}

func kindCode(k schema.Kind) byte {
	for i, c := range kindCodes {
		if c == k {
			return byte(i)
		}
	}
	return 0xff
}

// appendFrame appends the frame of r, which must be valid, to buf.
func appendFrame(buf []byte, r *schema.Record) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, frameHeaderSize)...)
	buf = appendSpoolRecord(buf, r)
	payload := buf[start+frameHeaderSize:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
}

// appendSpoolRecord appends the spool encoding of r: version, kind, numbers
// as varints, times as seconds and nanoseconds, strings and PCM length
// prefixed. Arrival is kept; it is not part of the Kafka message.
func appendSpoolRecord(buf []byte, r *schema.Record) []byte {
	buf = append(buf, spoolVersion, kindCode(r.Kind))
	buf = binary.AppendUvarint(buf, r.Epoch)
	buf = binary.AppendUvarint(buf, r.Seq)
	buf = binary.AppendVarint(buf, r.Offset)
	buf = binary.AppendUvarint(buf, uint64(r.SampleRate))
	buf = binary.AppendUvarint(buf, uint64(r.Channels))
	buf = appendTime(buf, r.CaptureTime)
	buf = appendTime(buf, r.Arrival)
	buf = binary.AppendVarint(buf, r.GapMS)
	for _, s := range [...]string{r.Stream, r.Codec, r.Clock, r.Reason} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	buf = binary.AppendUvarint(buf, uint64(len(r.PCM)))
	return append(buf, r.PCM...)
}

// appendTime encodes t as a presence byte, then Unix seconds and
// nanoseconds; the zero time is just the presence byte 0.
func appendTime(buf []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(buf, 0)
	}
	buf = append(buf, 1)
	buf = binary.AppendVarint(buf, t.Unix())
	return binary.AppendUvarint(buf, uint64(t.Nanosecond()))
}

// spoolDecoder reads the fields of one encoded record, remembering the first
// error.
type spoolDecoder struct {
	b   []byte
	err error
}

func (d *spoolDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or bad %s", ErrCorrupt, what)
	}
}

func (d *spoolDecoder) byte(what string) byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *spoolDecoder) uvarint(what string, max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > max {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *spoolDecoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *spoolDecoder) bytes(what string) []byte {
	n := d.uvarint(what, math.MaxInt32)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *spoolDecoder) time(what string) time.Time {
	switch d.byte(what) {
	case 0:
		return time.Time{}
	case 1:
		sec := d.varint(what)
		nsec := d.uvarint(what, 999_999_999)
		return time.Unix(sec, int64(nsec)).UTC()
	}
	d.fail(what)
	return time.Time{}
}

// decodeSpoolRecord decodes a payload written by appendSpoolRecord and
// validates the record. PCM aliases p.
func decodeSpoolRecord(p []byte) (schema.Record, error) {
	d := spoolDecoder{b: p}
	if v := d.byte("version"); d.err == nil && v != spoolVersion {
		return schema.Record{}, fmt.Errorf("%w: record encoding version %d, want %d", ErrCorrupt, v, spoolVersion)
	}
	var r schema.Record
	if k := int(d.byte("kind")); k < len(kindCodes) {
		r.Kind = kindCodes[k]
	} else {
		d.fail("kind")
	}
	r.Epoch = d.uvarint("epoch", math.MaxUint64)
	r.Seq = d.uvarint("seq", math.MaxUint64)
	r.Offset = d.varint("offset")
	r.SampleRate = int(d.uvarint("sample rate", schema.MaxSampleRate))
	r.Channels = int(d.uvarint("channels", schema.MaxChannels))
	r.CaptureTime = d.time("capture time")
	r.Arrival = d.time("arrival")
	r.GapMS = d.varint("gap")
	r.Stream = string(d.bytes("stream"))
	r.Codec = string(d.bytes("codec"))
	r.Clock = string(d.bytes("clock"))
	r.Reason = string(d.bytes("reason"))
	if pcm := d.bytes("pcm"); len(pcm) > 0 {
		r.PCM = pcm
	}
	if d.err != nil {
		return schema.Record{}, d.err
	}
	if len(d.b) != 0 {
		return schema.Record{}, fmt.Errorf("%w: %d bytes after the record", ErrCorrupt, len(d.b))
	}
	if err := r.Validate(); err != nil {
		return schema.Record{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return r, nil
}

// segmentReader reads the frames of one segment in order. It does not
// buffer: give it a bufio.Reader for files.
type segmentReader struct {
	r    io.Reader
	size int64 // bytes left in the segment, bounding a frame's length
	off  int64 // bytes consumed so far, header included
	hdr  [frameHeaderSize]byte
}

// newSegmentReader checks the segment header of r, which holds size bytes.
func newSegmentReader(r io.Reader, size int64) (*segmentReader, error) {
	var magic [len(segmentMagic)]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("%w: segment header: %w", ErrCorrupt, err)
	}
	if string(magic[:]) != segmentMagic {
		return nil, fmt.Errorf("%w: segment header %q is not %q", ErrCorrupt, magic[:], segmentMagic)
	}
	return &segmentReader{r: r, size: size - int64(len(segmentMagic)), off: int64(len(segmentMagic))}, nil
}

// next returns the next record and the size of its frame. It returns io.EOF
// at the clean end of the segment and an error wrapping ErrCorrupt for a
// torn or damaged frame; off then still points after the last good frame.
// The record's PCM is freshly allocated.
func (s *segmentReader) next() (schema.Record, int64, error) {
	if s.size == 0 {
		return schema.Record{}, 0, io.EOF
	}
	if s.size < frameHeaderSize {
		return schema.Record{}, 0, fmt.Errorf("%w: torn frame header at byte %d", ErrCorrupt, s.off)
	}
	if _, err := io.ReadFull(s.r, s.hdr[:]); err != nil {
		return schema.Record{}, 0, fmt.Errorf("%w: frame header at byte %d: %w", ErrCorrupt, s.off, err)
	}
	n := int64(binary.LittleEndian.Uint32(s.hdr[:]))
	if n > maxFramePayload || n > s.size-frameHeaderSize {
		return schema.Record{}, 0, fmt.Errorf("%w: frame at byte %d declares %d bytes, %d are left", ErrCorrupt, s.off, n, s.size-frameHeaderSize)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(s.r, payload); err != nil {
		return schema.Record{}, 0, fmt.Errorf("%w: frame at byte %d: %w", ErrCorrupt, s.off, err)
	}
	r, err := checkFrame(s.hdr[:], payload)
	if err != nil {
		return schema.Record{}, 0, fmt.Errorf("frame at byte %d: %w", s.off, err)
	}
	size := frameHeaderSize + n
	s.off += size
	s.size -= size
	return r, size, nil
}

// checkFrame checks payload against the checksum in its frame header and
// decodes it. PCM aliases payload.
func checkFrame(hdr, payload []byte) (schema.Record, error) {
	if sum := crc32.Checksum(payload, castagnoli); sum != binary.LittleEndian.Uint32(hdr[4:]) {
		return schema.Record{}, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	return decodeSpoolRecord(payload)
}
