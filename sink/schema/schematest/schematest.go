// Package schematest holds schema 1 records for the tests of the packages
// that encode, spool and read them: a table of valid records and one of
// invalid ones, shared by unit tests, fuzz seeds and benchmarks.
package schematest

import (
	"bytes"
	"reflect"
	"strings"
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// Time is the capture time of the records below.
var Time = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)

// Audio returns a valid audio record of stream with the given seq: 200 ms
// of 16 kHz mono Opus at offset seq×3200, epoch 1.
func Audio(stream string, seq uint64) schema.Record {
	return schema.Record{
		Stream:      stream,
		Kind:        schema.KindAudio,
		Epoch:       1,
		Seq:         seq,
		SampleRate:  16000,
		Channels:    1,
		Codec:       "opus",
		Offset:      int64(seq) * 3200,
		CaptureTime: Time.Add(time.Duration(seq) * 200 * time.Millisecond),
		Clock:       schema.ClockNTP,
		PCM:         bytes.Repeat([]byte{byte(seq), 0x80}, 3200),
	}
}

// With returns r changed by f.
func With(r schema.Record, f func(*schema.Record)) schema.Record {
	f(&r)
	return r
}

// Records of stream "cam-1", one of each kind.
var (
	AudioRecord = Audio("cam-1", 7)
	StartRecord = schema.Record{Stream: "cam-1", Kind: schema.KindStart, Epoch: 2, SampleRate: 16000, Channels: 1,
		Codec: "pcma", CaptureTime: Time, Clock: schema.ClockArrival}
	GapRecord = schema.Record{Stream: "cam-1", Kind: schema.KindGap, Epoch: 2, Seq: 5, SampleRate: 16000, Channels: 1,
		Codec: "pcma", Offset: 16000, CaptureTime: Time, Clock: schema.ClockArrival, GapMS: 400, Reason: schema.ReasonRTPLoss}
	EndRecord = schema.Record{Stream: "cam-1", Kind: schema.KindEnd, Epoch: 2, Seq: 9, SampleRate: 16000, Channels: 1,
		Codec: "pcma", Offset: 32000, CaptureTime: Time, Clock: schema.ClockArrival, Reason: schema.ReasonDisconnected}
)

// Case is a record with a name that says what it is.
type Case struct {
	Name   string
	Record schema.Record
}

// Valid are valid records; each must survive encoding and decoding
// unchanged.
var Valid = []Case{
	{"an audio chunk", AudioRecord},
	{"a start record", StartRecord},
	{"a gap record", GapRecord},
	{"an end record", EndRecord},
	{"a stereo chunk of another rate", With(AudioRecord, func(r *schema.Record) { r.SampleRate, r.Channels, r.Codec = 48000, 2, "l16" })},
	{"a record with the largest counters", With(AudioRecord, func(r *schema.Record) {
		r.Epoch, r.Seq, r.Offset = 1<<64-1, 1<<64-1, 1<<63-1
	})},
	{"a record at epoch 0, seq 0, offset 0", With(AudioRecord, func(r *schema.Record) { r.Epoch, r.Seq, r.Offset = 0, 0, 0 })},
	{"a stream id with unicode and slashes", With(AudioRecord, func(r *schema.Record) { r.Stream = "site/Größe 1/cam:554" })},
	{"a capture time on a whole second", With(AudioRecord, func(r *schema.Record) { r.CaptureTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) })},
	{"a capture time given in another zone", With(AudioRecord, func(r *schema.Record) {
		r.CaptureTime = Time.In(time.FixedZone("CET", 3600))
	})},
	{"an audio chunk of a fleet instance", With(AudioRecord, func(r *schema.Record) { r.Instance = "node-2" })},
	{"a gap record of a fleet instance", With(GapRecord, func(r *schema.Record) { r.Instance = "node-2" })},
	{"an end record of a fleet instance", With(EndRecord, func(r *schema.Record) { r.Instance = "node-2"; r.Reason = schema.ReasonMoved })},
}

// InvalidCase is a record Validate must reject, with a part of the error
// text.
type InvalidCase struct {
	Name   string
	Record schema.Record
	Err    string
}

// Invalid are records Validate rejects; so must whatever writes records.
var Invalid = []InvalidCase{
	{"the zero record is invalid", schema.Record{}, "empty stream id"},
	{"a record without capture time is invalid", With(AudioRecord, func(r *schema.Record) { r.CaptureTime = time.Time{} }), "capture time is not set"},
	{"a record in year 10000 is invalid", With(AudioRecord, func(r *schema.Record) { r.CaptureTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), "year 10000 is out of range"},
	{"a negative offset is invalid", With(AudioRecord, func(r *schema.Record) { r.Offset = -1 }), "negative offset -1"},
	{"a start record with a reason is invalid", With(StartRecord, func(r *schema.Record) { r.Reason = "why" }), `start record with reason "why"`},
	{"an audio record with a gap length is invalid", With(AudioRecord, func(r *schema.Record) { r.GapMS = 10 }), "audio record with gap of 10 ms"},
	{"a stream id longer than 255 bytes is invalid", With(AudioRecord, func(r *schema.Record) { r.Stream = strings.Repeat("c", 256) }), "stream id of 256 bytes is longer than 255"},
	{"an empty codec is invalid", With(AudioRecord, func(r *schema.Record) { r.Codec = "" }), "empty codec"},
	{"an unknown kind is invalid", With(AudioRecord, func(r *schema.Record) { r.Kind = "Audio" }), `unknown kind "Audio"`},
}

// Same reports whether a and b are equal, comparing times with Equal and
// treating nil and empty PCM alike.
func Same(a, b schema.Record) bool {
	if !a.CaptureTime.Equal(b.CaptureTime) || !a.Arrival.Equal(b.Arrival) || !bytes.Equal(a.PCM, b.PCM) {
		return false
	}
	a.CaptureTime, b.CaptureTime, a.PCM, b.PCM, a.Arrival, b.Arrival = time.Time{}, time.Time{}, nil, nil, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}
