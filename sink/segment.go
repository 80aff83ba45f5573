package sink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// A spool segment is an append-only file: the 8-byte segmentMagic, then
// frames. A frame is the payload length (uint32, little endian), the CRC-32C
// of the payload (uint32, little endian) and the payload: one record in the
// spoolVersion encoding (see appendSpoolRecord). A reader skips a torn or
// corrupt stretch and reads on at the next frame whose checksum verifies
// (see scanSegment).
const (
	segmentMagic    = "ESPOOL\x00\x01"
	frameHeaderSize = 8
	// spoolVersion is the record encoding written; version 1 (without
	// Instance) is still read.
	spoolVersion = 2
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
	for _, s := range [...]string{r.Stream, r.Codec, r.Clock, r.Reason, r.Instance} {
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

func (d *spoolDecoder) uvarint(what string, limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > limit {
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
	v := d.byte("version")
	if d.err == nil && v != 1 && v != spoolVersion {
		return schema.Record{}, fmt.Errorf("%w: record encoding version %d, want 1 to %d", ErrCorrupt, v, spoolVersion)
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
	if v >= 2 {
		r.Instance = string(d.bytes("instance"))
	}
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

// frameAt returns the record of the intact frame at off of a segment's
// bytes, and the frame's size. The record's PCM aliases data.
func frameAt(data []byte, off int64) (schema.Record, int64, error) {
	rest := data[off:]
	if len(rest) < frameHeaderSize {
		return schema.Record{}, 0, fmt.Errorf("%w: torn frame header at byte %d", ErrCorrupt, off)
	}
	n := int64(binary.LittleEndian.Uint32(rest))
	if n > maxFramePayload || n > int64(len(rest))-frameHeaderSize {
		return schema.Record{}, 0, fmt.Errorf("%w: frame at byte %d declares %d bytes, %d are left", ErrCorrupt, off, n, int64(len(rest))-frameHeaderSize)
	}
	r, err := checkFrame(rest[:frameHeaderSize], rest[frameHeaderSize:frameHeaderSize+n])
	if err != nil {
		return schema.Record{}, 0, fmt.Errorf("frame at byte %d: %w", off, err)
	}
	return r, frameHeaderSize + n, nil
}

// scanSegment reads the frames of a segment's bytes in order. It calls
// frame with each intact frame's offset, record (its PCM aliases data) and
// size, and damaged with each stretch [from, to) of bytes that holds no
// intact frame: it reads on at the next offset where a frame's checksum
// and record verify, or gives up at the end (to is then len(data)). A
// damaged segment header is a stretch from byte 0. It returns frame's first
// error, which stops the scan.
func scanSegment(data []byte, frame func(off int64, r *schema.Record, size int64) error, damaged func(from, to int64, err error)) error {
	end := int64(len(data))
	off := int64(len(segmentMagic))
	if end < off || string(data[:off]) != segmentMagic {
		to := resync(data, min(off, end))
		if to > 0 { // an empty file has nothing to skip
			damaged(0, to, fmt.Errorf("%w: segment header is not %q", ErrCorrupt, segmentMagic))
		}
		off = to
	}
	for off < end {
		r, size, err := frameAt(data, off)
		if err != nil {
			to := resync(data, off+1)
			damaged(off, to, err)
			off = to
			continue
		}
		if err := frame(off, &r, size); err != nil {
			return err
		}
		off += size
	}
	return nil
}

// resync returns the first offset from from on where an intact frame
// starts, or len(data) if there is none. A candidate is decoded before its
// checksum is computed: most offsets fail at the version or kind byte, so
// the scan costs little more than a pass over the bytes. A false match
// needs a length that fits, a record encoding that ends exactly there and
// validates, and a CRC-32C that verifies.
func resync(data []byte, from int64) int64 {
	end := int64(len(data))
	for off := from; off+frameHeaderSize <= end; off++ {
		n := int64(binary.LittleEndian.Uint32(data[off:]))
		if n > end-off-frameHeaderSize {
			continue
		}
		payload := data[off+frameHeaderSize : off+frameHeaderSize+n]
		if _, err := decodeSpoolRecord(payload); err != nil {
			continue
		}
		if crc32.Checksum(payload, castagnoli) == binary.LittleEndian.Uint32(data[off+4:]) {
			return off
		}
	}
	return end
}

// checkFrame checks payload against the checksum in its frame header and
// decodes it. PCM aliases payload.
func checkFrame(hdr, payload []byte) (schema.Record, error) {
	if sum := crc32.Checksum(payload, castagnoli); sum != binary.LittleEndian.Uint32(hdr[4:]) {
		return schema.Record{}, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	return decodeSpoolRecord(payload)
}
