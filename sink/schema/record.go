package schema

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

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
	// Instance is the fleet instance that pulled the record: the optional
	// earshot.instance header, absent when "" (a single instance).
	Instance string
	// Arrival is when the first RTP packet of the record's audio arrived,
	// for measuring earshot's arrival-to-acknowledgement latency. It is not
	// on the wire: Encode ignores it, Decode leaves it zero, and earshot's
	// spool keeps it. Zero when unknown (control records).
	Arrival time.Time
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
	if !r.Kind.Known() {
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
	case r.Kind.Control() && len(r.PCM) != 0:
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

// checkText checks that s is 1 to limit bytes of UTF-8 without control
// characters.
func checkText(what, s string, limit int) error {
	if s == "" {
		return fmt.Errorf("%w: empty %s", ErrSchema, what)
	}
	if len(s) > limit {
		return fmt.Errorf("%w: %s of %d bytes is longer than %d", ErrSchema, what, len(s), limit)
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
