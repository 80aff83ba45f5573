package schema

import (
	"fmt"
	"strconv"
	"time"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// HeaderType is a header type laid out as Header, such as kafka-go's
// kafka.Header and franz-go's kgo.RecordHeader, so that Encode and Decode
// work on a client's own header slices without copying them.
type HeaderType interface {
	~struct {
		Key   string
		Value []byte
	}
}

// headerCount is the number of headers every record carries; gap records add
// two and end records one, and records with an Instance one more.
const headerCount = 12

// maxHeaders is the most headers a record carries.
const maxHeaders = headerCount + 3

// Encode returns the Kafka key, headers and value of r; the record's Kafka
// timestamp is r.CaptureTime. The key and the header values share one
// buffer; the value aliases r.PCM, nil when it is empty. It does not validate
// r. H is usually Header or a Kafka client's header type:
//
//	key, headers, value := schema.Encode[kafka.Header](r)
//
// It makes two allocations: one buffer for the key and every header value,
// and the header slice.
func Encode[H HeaderType](r Record) (key []byte, headers []H, value []byte) {
	n := headerCount
	switch r.Kind {
	case KindGap:
		n += 2
	case KindEnd:
		n++
	}
	if r.Instance != "" {
		n++
	}
	var keys [maxHeaders]string
	var ends [maxHeaders]int
	buf := make([]byte, 0, len(r.Stream)+len(r.Kind)+len(r.Codec)+len(r.Clock)+len(r.Reason)+len(r.Instance)+128)
	i := 0
	mark := func(key string) {
		keys[i], ends[i] = key, len(buf)
		i++
	}
	buf = append(buf, Version...)
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
	buf = r.CaptureTime.UTC().AppendFormat(buf, captureTimeFormat)
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
	if r.Instance != "" {
		buf = append(buf, r.Instance...)
		mark(HeaderInstance)
	}

	headers = make([]H, n)
	start := 0
	for j := range n {
		headers[j] = H(Header{Key: keys[j], Value: buf[start:ends[j]:ends[j]]})
		if j == 2 {
			key = buf[start:ends[j]:ends[j]] // the stream id
		}
		start = ends[j]
	}
	if len(r.PCM) > 0 {
		value = r.PCM
	}
	return key, headers, value
}

// Decode parses the Kafka key, headers and value of a schema 1 record. It
// checks that every required header is present once and well formed
// (decimal numbers in canonical form, capture time in RFC 3339 UTC), that
// headers of other kinds are absent, that the key is the stream id, and then
// validates the record (see Validate). Headers it does not know are ignored;
// so is the Kafka timestamp (CaptureTime comes from its header). PCM aliases
// value. Every error wraps ErrSchema.
func Decode[H HeaderType](key, value []byte, headers []H) (Record, error) {
	var (
		r                                                        Record
		seen                                                     [maxHeaders]bool
		schema, encoding, gapMS, reason, epoch, seq, rate, chans string
		offset, captureTime                                      string
	)
	for _, hh := range headers {
		h := Header(hh)
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
		case HeaderInstance:
			dst, idx = &r.Instance, 14
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
	if schema != Version {
		return Record{}, fmt.Errorf("%w: header %s is %q, want %q", ErrSchema, HeaderSchema, schema, Version)
	}
	for idx, name := range [...]string{HeaderKind, HeaderStream, HeaderEpoch, HeaderSeq, HeaderSampleRate, HeaderChannels, HeaderEncoding, HeaderCodec, HeaderOffset, HeaderCaptureTime, HeaderClock} {
		if !seen[idx+1] {
			return Record{}, fmt.Errorf("%w: missing header %s", ErrSchema, name)
		}
	}
	if !r.Kind.Known() {
		return Record{}, fmt.Errorf("%w: header %s: unknown kind %q", ErrSchema, HeaderKind, r.Kind)
	}
	if encoding != Encoding {
		return Record{}, fmt.Errorf("%w: header %s is %q, want %q", ErrSchema, HeaderEncoding, encoding, Encoding)
	}
	if string(key) != r.Stream {
		return Record{}, fmt.Errorf("%w: key %q is not the stream id %q", ErrSchema, key, r.Stream)
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
	if len(value) > 0 {
		r.PCM = value
	}
	if err := r.Validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// parseUint parses a header value as a canonical decimal number (ASCII
// digits, no sign, no leading zero) no greater than limit.
func parseUint(header, s string, limit uint64) (uint64, error) {
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
	if err != nil || v > limit {
		return 0, fmt.Errorf("%w: header %s: %s is out of range 0..%d", ErrSchema, header, s, limit)
	}
	return v, nil
}

// parseCaptureTime parses an RFC 3339 time in UTC ("Z").
func parseCaptureTime(s string) (time.Time, error) {
	if s == "" || s[len(s)-1] != 'Z' {
		return time.Time{}, fmt.Errorf("%w: header %s: %q is not an RFC 3339 time in UTC", ErrSchema, HeaderCaptureTime, s)
	}
	t, err := time.Parse(captureTimeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: header %s: %q is not an RFC 3339 time in UTC", ErrSchema, HeaderCaptureTime, s)
	}
	return t.UTC(), nil
}
