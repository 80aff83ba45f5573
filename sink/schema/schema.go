// Package schema is earshot's record format, schema 1, without a Kafka
// client: the Record that carries a chunk of 16-bit PCM (or a control event)
// of one stream, its Kind, the header names, the gap and end reasons, and
// Encode and Decode between a Record and a Kafka key, headers and value. It
// imports only the standard library, so whatever reads earshot's topic can
// use it with any Kafka client, without cgo.
//
// A record's key is its stream id, so the Murmur2 balancer keeps every record
// of a stream in one partition, in order, where Java clients would put it.
// Everything but the PCM travels in headers; the value is the raw PCM. The
// Kafka timestamp is the capture time, in milliseconds.
package schema

import (
	"errors"
	"time"
)

// Version is the value of the earshot.schema header of every record earshot
// writes and the only one Decode accepts.
const Version = "1"

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
	// HeaderInstance is optional: the instance of an earshot fleet that
	// pulled the record. Schema 1 readers may ignore it.
	HeaderInstance = "earshot.instance"
)

// Limits enforced by Validate.
const (
	MaxStreamLen  = 255    // bytes of a stream id
	MaxCodecLen   = 32     // bytes of a codec name
	MaxReasonLen  = 256    // bytes of a reason
	MaxSampleRate = 384000 // Hz
	MaxChannels   = 8
)

// captureTimeFormat is the layout of the earshot.capture_time header, in UTC.
const captureTimeFormat = time.RFC3339Nano

// ErrSchema is wrapped by every error of Decode and Validate: the record
// does not follow schema 1.
var ErrSchema = errors.New("invalid earshot record")
