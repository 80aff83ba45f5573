// Package sink owns earshot's Kafka side: the schema 1 Record that carries a
// chunk of 16-bit PCM (or a control event) of one stream, a Writer that
// accepts records without blocking and delivers them, through an on-disk
// spool when Kafka is unreachable or slow, ReadTopic to read them back, and
// an embedded broker for demos and tests. Package sink/consumer is the ASR
// side: decoding, deduplication and reassembly.
//
// A record's key is its stream id, so the Murmur2 balancer keeps every record
// of a stream in one partition, in order, where Java clients would put it.
// Everything but the PCM travels in headers; the value is the raw PCM.
package sink

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"
)

// SchemaVersion is the value of the earshot.schema header of every record
// this package writes and the only one ParseMessage accepts.
const SchemaVersion = "1"

// Encoding is the value of the earshot.encoding header: signed 16-bit
// little-endian samples, channels interleaved.
const Encoding = "s16le"

// Clock sources, as they appear in the earshot.clock header.
const (
	// ClockNTP means CaptureTime was derived from RTCP sender reports.
	ClockNTP = "ntp"
	// ClockArrival means CaptureTime is the packet arrival time.
	ClockArrival = "arrival"
)

// Header names of schema 1.
const (
	HeaderSchema      = "earshot.schema"
	HeaderKind        = "earshot.kind"
	HeaderStream      = "earshot.stream"
	HeaderEpoch       = "earshot.epoch"
	HeaderSeq         = "earshot.seq"
	HeaderSampleRate  = "earshot.sample_rate"
	HeaderChannels    = "earshot.channels"
	HeaderEncoding    = "earshot.encoding"
	HeaderCodec       = "earshot.codec"
	HeaderOffset      = "earshot.offset"
	HeaderCaptureTime = "earshot.capture_time"
	HeaderClock       = "earshot.clock"
	HeaderGapMS       = "earshot.gap_ms" // gap records only
	HeaderReason      = "earshot.reason" // gap and end records only
)

// Limits enforced by Validate.
const (
	MaxStreamLen   = 255    // bytes of a stream id
	MaxCodecLen    = 32     // bytes of a codec name
	MaxReasonLen   = 256    // bytes of a reason
	MaxSampleRate  = 384000 // Hz
	MaxChannels    = 8
	captureTimeFmt = time.RFC3339Nano
)

// ErrSchema is wrapped by every error of ParseMessage and Validate: the record
// does not follow schema 1.
var ErrSchema = errors.New("invalid earshot record")

// Record is one schema 1 record: a chunk of PCM of one stream, or a control
// event (start, gap, end). The zero value is not valid; see Validate.
type Record struct {
	// Stream is the stream id. It is the Kafka key and the earshot.stream
	// header.
	Stream string
	// Kind says what the record carries.
	Kind Kind
	// Epoch increments each time the stream connects.
	Epoch uint64
	// Seq numbers the records of one stream and epoch from 0, control
	// records included.
	Seq uint64
	// SampleRate is the output sample rate in Hz, e.g. 16000.
	SampleRate int
	// Channels is the output channel count; earshot writes 1.
	Channels int
	// Codec is the source codec: "opus", "pcma", "pcmu", "l16", ...
	Codec string
	// Offset is the sample offset of the record's first sample since the
	// epoch began (for a gap, of the first missing sample).
	Offset int64
	// CaptureTime is the capture time of the first sample. It is the Kafka
	// record timestamp (milliseconds) and the earshot.capture_time header
	// (RFC 3339, nanoseconds, UTC).
	CaptureTime time.Time
	// Clock is where CaptureTime comes from: ClockNTP or ClockArrival.
	Clock string
	// GapMS is the length of the gap in milliseconds; gap records only.
	GapMS int64
	// Reason says why a gap or an end happened; gap and end records only.
	Reason string
	// PCM holds s16le samples, channels interleaved; empty for control
	// records.
	PCM []byte
	// Arrival is when the first RTP packet of the record's audio arrived,
	// for measuring arrival-to-acknowledgement latency. It is not a Kafka
	// header: Message ignores it, ParseMessage leaves it zero, and the
	// spool keeps it. Zero when unknown (control records).
	Arrival time.Time
}

// headerCount is the number of headers every record carries; gap records add
// two and end records one.
const headerCount = 12

// Message builds the Kafka message of r for topic: key, value, timestamp and
// headers. The value aliases r.PCM. It does not validate r.
//
// It makes two allocations: one buffer for the key and every header value,
// and the header slice.
func (r Record) Message(topic string) kafka.Message {
	n := headerCount
	switch r.Kind {
	case KindGap:
		n += 2
	case KindEnd:
		n++
	}
	var keys [headerCount + 2]string
	var ends [headerCount + 2]int
	buf := make([]byte, 0, len(r.Stream)+len(r.Kind)+len(r.Codec)+len(r.Clock)+len(r.Reason)+128)
	i := 0
	mark := func(key string) {
		keys[i], ends[i] = key, len(buf)
		i++
	}
	buf = append(buf, SchemaVersion...)
	mark(HeaderSchema)
	buf = append(buf, r.Kind...)
	mark(HeaderKind)
	buf = append(buf, r.Stream...)
	mark(HeaderStream)
	buf = strconv.AppendUint(buf, r.Epoch, 10)
	mark(HeaderEpoch)
	buf = strconv.AppendUint(buf, r.Seq, 10)
	mark(HeaderSeq)
	buf = strconv.AppendInt(buf, int64(r.SampleRate), 10)
	mark(HeaderSampleRate)
	buf = strconv.AppendInt(buf, int64(r.Channels), 10)
	mark(HeaderChannels)
	buf = append(buf, Encoding...)
	mark(HeaderEncoding)
	buf = append(buf, r.Codec...)
	mark(HeaderCodec)
	buf = strconv.AppendInt(buf, r.Offset, 10)
	mark(HeaderOffset)
	buf = r.CaptureTime.UTC().AppendFormat(buf, captureTimeFmt)
	mark(HeaderCaptureTime)
	buf = append(buf, r.Clock...)
	mark(HeaderClock)
	if r.Kind == KindGap {
		buf = strconv.AppendInt(buf, r.GapMS, 10)
		mark(HeaderGapMS)
	}
	if r.Kind == KindGap || r.Kind == KindEnd {
		buf = append(buf, r.Reason...)
		mark(HeaderReason)
	}

	headers := make([]kafka.Header, n)
	start := 0
	for j := range n {
		headers[j] = kafka.Header{Key: keys[j], Value: buf[start:ends[j]:ends[j]]}
		start = ends[j]
	}
	var value []byte
	if len(r.PCM) > 0 {
		value = r.PCM
	}
	return kafka.Message{
		Topic:   topic,
		Key:     headers[2].Value, // the stream id
		Value:   value,
		Time:    r.CaptureTime,
		Headers: headers,
	}
}

// ParseMessage parses a schema 1 message. It checks that every required
// header is present once and well formed (decimal numbers in canonical form,
// capture time in RFC 3339 UTC), that headers of other kinds are absent, that
// the key is the stream id, and then validates the record (see Validate).
// Headers it does not know are ignored. PCM aliases m.Value. Every error
// wraps ErrSchema.
func ParseMessage(m kafka.Message) (Record, error) {
	var (
		r                                                        Record
		seen                                                     [headerCount + 2]bool
		schema, encoding, gapMS, reason, epoch, seq, rate, chans string
		offset, captureTime                                      string
	)
	for _, h := range m.Headers {
		var dst *string
		var idx int
		switch h.Key {
		case HeaderSchema:
			dst, idx = &schema, 0
		case HeaderKind:
			dst, idx = (*string)(&r.Kind), 1
		case HeaderStream:
			dst, idx = &r.Stream, 2
		case HeaderEpoch:
			dst, idx = &epoch, 3
		case HeaderSeq:
			dst, idx = &seq, 4
		case HeaderSampleRate:
			dst, idx = &rate, 5
		case HeaderChannels:
			dst, idx = &chans, 6
		case HeaderEncoding:
			dst, idx = &encoding, 7
		case HeaderCodec:
			dst, idx = &r.Codec, 8
		case HeaderOffset:
			dst, idx = &offset, 9
		case HeaderCaptureTime:
			dst, idx = &captureTime, 10
		case HeaderClock:
			dst, idx = &r.Clock, 11
		case HeaderGapMS:
			dst, idx = &gapMS, 12
		case HeaderReason:
			dst, idx = &reason, 13
		default:
			continue
		}
		if seen[idx] {
			return Record{}, fmt.Errorf("%w: header %s appears more than once", ErrSchema, h.Key)
		}
		seen[idx] = true
		*dst = string(h.Value)
	}
	if !seen[0] {
		return Record{}, fmt.Errorf("%w: missing header %s", ErrSchema, HeaderSchema)
	}
	if schema != SchemaVersion {
		return Record{}, fmt.Errorf("%w: header %s is %q, want %q", ErrSchema, HeaderSchema, schema, SchemaVersion)
	}
	for idx, name := range [...]string{HeaderKind, HeaderStream, HeaderEpoch, HeaderSeq, HeaderSampleRate, HeaderChannels, HeaderEncoding, HeaderCodec, HeaderOffset, HeaderCaptureTime, HeaderClock} {
		if !seen[idx+1] {
			return Record{}, fmt.Errorf("%w: missing header %s", ErrSchema, name)
		}
	}
	if !r.Kind.known() {
		return Record{}, fmt.Errorf("%w: header %s: unknown kind %q", ErrSchema, HeaderKind, r.Kind)
	}
	if encoding != Encoding {
		return Record{}, fmt.Errorf("%w: header %s is %q, want %q", ErrSchema, HeaderEncoding, encoding, Encoding)
	}
	if string(m.Key) != r.Stream {
		return Record{}, fmt.Errorf("%w: key %q is not the stream id %q", ErrSchema, m.Key, r.Stream)
	}

	var err error
	if r.Epoch, err = parseUint(HeaderEpoch, epoch, 1<<64-1); err != nil {
		return Record{}, err
	}
	if r.Seq, err = parseUint(HeaderSeq, seq, 1<<64-1); err != nil {
		return Record{}, err
	}
	var u uint64
	if u, err = parseUint(HeaderSampleRate, rate, MaxSampleRate); err != nil {
		return Record{}, err
	}
	r.SampleRate = int(u)
	if u, err = parseUint(HeaderChannels, chans, MaxChannels); err != nil {
		return Record{}, err
	}
	r.Channels = int(u)
	if u, err = parseUint(HeaderOffset, offset, 1<<63-1); err != nil {
		return Record{}, err
	}
	r.Offset = int64(u)
	if r.CaptureTime, err = parseCaptureTime(captureTime); err != nil {
		return Record{}, err
	}

	switch r.Kind {
	case KindGap:
		if !seen[12] {
			return Record{}, fmt.Errorf("%w: gap record: missing header %s", ErrSchema, HeaderGapMS)
		}
		if u, err = parseUint(HeaderGapMS, gapMS, 1<<63-1); err != nil {
			return Record{}, err
		}
		r.GapMS = int64(u)
	default:
		if seen[12] {
			return Record{}, fmt.Errorf("%w: %s record: unexpected header %s", ErrSchema, r.Kind, HeaderGapMS)
		}
	}
	switch r.Kind {
	case KindGap, KindEnd:
		if !seen[13] {
			return Record{}, fmt.Errorf("%w: %s record: missing header %s", ErrSchema, r.Kind, HeaderReason)
		}
		r.Reason = reason
	default:
		if seen[13] {
			return Record{}, fmt.Errorf("%w: %s record: unexpected header %s", ErrSchema, r.Kind, HeaderReason)
		}
	}
	if len(m.Value) > 0 {
		r.PCM = m.Value
	}
	if err := r.Validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// parseUint parses a header value as a canonical decimal number (ASCII
// digits, no sign, no leading zero) no greater than max.
func parseUint(header, s string, max uint64) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: header %s is empty", ErrSchema, header)
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%w: header %s: %q has a leading zero", ErrSchema, header, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: header %s: %q is not a decimal number", ErrSchema, header, s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > max {
		return 0, fmt.Errorf("%w: header %s: %s is out of range 0..%d", ErrSchema, header, s, max)
	}
	return v, nil
}

// parseCaptureTime parses an RFC 3339 time in UTC ("Z").
func parseCaptureTime(s string) (time.Time, error) {
	if s == "" || s[len(s)-1] != 'Z' {
		return time.Time{}, fmt.Errorf("%w: header %s: %q is not an RFC 3339 time in UTC", ErrSchema, HeaderCaptureTime, s)
	}
	t, err := time.Parse(captureTimeFmt, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: header %s: %q is not an RFC 3339 time in UTC", ErrSchema, HeaderCaptureTime, s)
	}
	return t.UTC(), nil
}

// Validate reports whether r is a valid schema 1 record:
//   - Stream is 1 to MaxStreamLen bytes of UTF-8 without control characters;
//   - Kind is one of the Kind constants;
//   - SampleRate is 1 to MaxSampleRate and Channels 1 to MaxChannels;
//   - Codec is 1 to MaxCodecLen bytes of [a-z0-9._-];
//   - Offset is not negative; CaptureTime is set, between years 1 and 9999;
//   - Clock is ClockNTP or ClockArrival;
//   - an audio record has PCM, a whole number of frames; a control record
//     has none;
//   - a gap record has a positive GapMS, and gap and end records have a
//     Reason of 1 to MaxReasonLen bytes of UTF-8 without control characters;
//     other kinds have neither.
//
// Every error wraps ErrSchema.
func (r Record) Validate() error {
	if err := checkText("stream id", r.Stream, MaxStreamLen); err != nil {
		return err
	}
	if !r.Kind.known() {
		return fmt.Errorf("%w: stream %q: unknown kind %q", ErrSchema, r.Stream, r.Kind)
	}
	if r.SampleRate < 1 || r.SampleRate > MaxSampleRate {
		return fmt.Errorf("%w: stream %q seq %d: sample rate %d is out of range 1..%d", ErrSchema, r.Stream, r.Seq, r.SampleRate, MaxSampleRate)
	}
	if r.Channels < 1 || r.Channels > MaxChannels {
		return fmt.Errorf("%w: stream %q seq %d: channel count %d is out of range 1..%d", ErrSchema, r.Stream, r.Seq, r.Channels, MaxChannels)
	}
	if err := checkCodec(r.Codec); err != nil {
		return fmt.Errorf("%w: stream %q seq %d: %s", ErrSchema, r.Stream, r.Seq, err)
	}
	if r.Offset < 0 {
		return fmt.Errorf("%w: stream %q seq %d: negative offset %d", ErrSchema, r.Stream, r.Seq, r.Offset)
	}
	if r.CaptureTime.IsZero() {
		return fmt.Errorf("%w: stream %q seq %d: capture time is not set", ErrSchema, r.Stream, r.Seq)
	}
	if y := r.CaptureTime.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: stream %q seq %d: capture time year %d is out of range 1..9999", ErrSchema, r.Stream, r.Seq, y)
	}
	if r.Clock != ClockNTP && r.Clock != ClockArrival {
		return fmt.Errorf("%w: stream %q seq %d: clock %q is neither %q nor %q", ErrSchema, r.Stream, r.Seq, r.Clock, ClockNTP, ClockArrival)
	}
	frame := 2 * r.Channels
	switch {
	case r.Kind == KindAudio && len(r.PCM) == 0:
		return fmt.Errorf("%w: stream %q seq %d: audio record without PCM", ErrSchema, r.Stream, r.Seq)
	case r.Kind == KindAudio && len(r.PCM)%frame != 0:
		return fmt.Errorf("%w: stream %q seq %d: %d bytes of PCM are not a whole number of %d-byte frames", ErrSchema, r.Stream, r.Seq, len(r.PCM), frame)
	case r.Kind.control() && len(r.PCM) != 0:
		return fmt.Errorf("%w: stream %q seq %d: %s record carries %d bytes of PCM", ErrSchema, r.Stream, r.Seq, r.Kind, len(r.PCM))
	}
	switch {
	case r.Kind == KindGap && r.GapMS <= 0:
		return fmt.Errorf("%w: stream %q seq %d: gap record with gap of %d ms", ErrSchema, r.Stream, r.Seq, r.GapMS)
	case r.Kind != KindGap && r.GapMS != 0:
		return fmt.Errorf("%w: stream %q seq %d: %s record with gap of %d ms", ErrSchema, r.Stream, r.Seq, r.Kind, r.GapMS)
	}
	switch r.Kind {
	case KindGap, KindEnd:
		if r.Reason == "" {
			return fmt.Errorf("%w: stream %q seq %d: %s record without reason", ErrSchema, r.Stream, r.Seq, r.Kind)
		}
		if err := checkText("reason", r.Reason, MaxReasonLen); err != nil {
			return fmt.Errorf("stream %q seq %d: %w", r.Stream, r.Seq, err)
		}
	default:
		if r.Reason != "" {
			return fmt.Errorf("%w: stream %q seq %d: %s record with reason %q", ErrSchema, r.Stream, r.Seq, r.Kind, r.Reason)
		}
	}
	return nil
}

// checkText checks that s is 1 to max bytes of UTF-8 without control
// characters.
func checkText(what, s string, max int) error {
	if s == "" {
		return fmt.Errorf("%w: empty %s", ErrSchema, what)
	}
	if len(s) > max {
		return fmt.Errorf("%w: %s of %d bytes is longer than %d", ErrSchema, what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrSchema, what, s)
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return fmt.Errorf("%w: %s %q contains control character %U", ErrSchema, what, s, c)
		}
	}
	return nil
}

// checkCodec checks that s is 1 to MaxCodecLen bytes of [a-z0-9._-].
func checkCodec(s string) error {
	if s == "" {
		return errors.New("empty codec")
	}
	if len(s) > MaxCodecLen {
		return fmt.Errorf("codec of %d bytes is longer than %d", len(s), MaxCodecLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("codec %q has a character outside [a-z0-9._-]", s)
		}
	}
	return nil
}
