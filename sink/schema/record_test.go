package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testTime = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)

// testRecord returns a valid audio record of stream with the given seq.
func testRecord(stream string, seq uint64) Record {
	return Record{
		Stream:      stream,
		Kind:        KindAudio,
		Epoch:       1,
		Seq:         seq,
		SampleRate:  16000,
		Channels:    1,
		Codec:       "opus",
		Offset:      int64(seq) * 3200,
		CaptureTime: testTime.Add(time.Duration(seq) * 200 * time.Millisecond),
		Clock:       ClockNTP,
		PCM:         bytes.Repeat([]byte{byte(seq), 0x80}, 3200),
	}
}

// with returns r changed by f.
func with(r Record, f func(*Record)) Record {
	f(&r)
	return r
}

// message is the Kafka key, value and headers of a record.
type message struct {
	Key, Value []byte
	Headers    []Header
}

// encode returns the message of r.
func encode(r Record) message {
	key, headers, value := Encode[Header](r)
	return message{key, value, headers}
}

// decode decodes m.
func decode(m message) (Record, error) {
	return Decode(m.Key, m.Value, m.Headers)
}

// changed returns the message of r changed by f.
func changed(r Record, f func(*message)) message {
	m := encode(r)
	f(&m)
	return m
}

// setHeader sets (or adds) header key of m to value.
func setHeader(key, value string) func(*message) {
	return func(m *message) {
		for i := range m.Headers {
			if m.Headers[i].Key == key {
				m.Headers[i].Value = []byte(value)
				return
			}
		}
		m.Headers = append(m.Headers, Header{Key: key, Value: []byte(value)})
	}
}

// dropHeader removes header key of m.
func dropHeader(key string) func(*message) {
	return func(m *message) {
		hs := m.Headers[:0:0]
		for _, h := range m.Headers {
			if h.Key != key {
				hs = append(hs, h)
			}
		}
		m.Headers = hs
	}
}

var (
	audioRecord = testRecord("cam-1", 7)
	startRecord = Record{Stream: "cam-1", Kind: KindStart, Epoch: 2, SampleRate: 16000, Channels: 1,
		Codec: "pcma", CaptureTime: testTime, Clock: ClockArrival}
	gapRecord = Record{Stream: "cam-1", Kind: KindGap, Epoch: 2, Seq: 5, SampleRate: 16000, Channels: 1,
		Codec: "pcma", Offset: 16000, CaptureTime: testTime, Clock: ClockArrival, GapMS: 400, Reason: ReasonRTPLoss}
	endRecord = Record{Stream: "cam-1", Kind: KindEnd, Epoch: 2, Seq: 9, SampleRate: 16000, Channels: 1,
		Codec: "pcma", Offset: 32000, CaptureTime: testTime, Clock: ClockArrival, Reason: "rtsp: connection reset"}
)

// recordCases are valid records; each must survive Encode then Decode
// unchanged.
var recordCases = []struct {
	name string
	rec  Record
}{
	{"an audio chunk", audioRecord},
	{"a start record", startRecord},
	{"a gap record", gapRecord},
	{"an end record", endRecord},
	{"a stereo chunk of another rate", with(audioRecord, func(r *Record) { r.SampleRate, r.Channels, r.Codec = 48000, 2, "l16" })},
	{"a record with the largest counters", with(audioRecord, func(r *Record) {
		r.Epoch, r.Seq, r.Offset = 1<<64-1, 1<<64-1, 1<<63-1
	})},
	{"a record at epoch 0, seq 0, offset 0", with(audioRecord, func(r *Record) { r.Epoch, r.Seq, r.Offset = 0, 0, 0 })},
	{"a stream id with unicode and slashes", with(audioRecord, func(r *Record) { r.Stream = "site/Größe 1/cam:554" })},
	{"a capture time on a whole second", with(audioRecord, func(r *Record) { r.CaptureTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) })},
	{"a capture time given in another zone", with(audioRecord, func(r *Record) {
		r.CaptureTime = testTime.In(time.FixedZone("CET", 3600))
	})},
}

// parseCases are messages Decode must reject, with a part of the error
// text.
var parseCases = []struct {
	name string
	msg  message
	err  string
}{
	{"a message without headers is rejected", changed(audioRecord, func(m *message) { m.Headers = nil }), "missing header earshot.schema"},
	{"a future schema is rejected", changed(audioRecord, setHeader(HeaderSchema, "2")), `header earshot.schema is "2", want "1"`},
	{"a missing kind is rejected", changed(audioRecord, dropHeader(HeaderKind)), "missing header earshot.kind"},
	{"a missing stream is rejected", changed(audioRecord, dropHeader(HeaderStream)), "missing header earshot.stream"},
	{"a missing epoch is rejected", changed(audioRecord, dropHeader(HeaderEpoch)), "missing header earshot.epoch"},
	{"a missing seq is rejected", changed(audioRecord, dropHeader(HeaderSeq)), "missing header earshot.seq"},
	{"a missing sample rate is rejected", changed(audioRecord, dropHeader(HeaderSampleRate)), "missing header earshot.sample_rate"},
	{"a missing channel count is rejected", changed(audioRecord, dropHeader(HeaderChannels)), "missing header earshot.channels"},
	{"a missing encoding is rejected", changed(audioRecord, dropHeader(HeaderEncoding)), "missing header earshot.encoding"},
	{"a missing codec is rejected", changed(audioRecord, dropHeader(HeaderCodec)), "missing header earshot.codec"},
	{"a missing offset is rejected", changed(audioRecord, dropHeader(HeaderOffset)), "missing header earshot.offset"},
	{"a missing capture time is rejected", changed(audioRecord, dropHeader(HeaderCaptureTime)), "missing header earshot.capture_time"},
	{"a missing clock is rejected", changed(audioRecord, dropHeader(HeaderClock)), "missing header earshot.clock"},
	{"a repeated header is rejected", changed(audioRecord, func(m *message) {
		m.Headers = append(m.Headers, Header{Key: HeaderSeq, Value: []byte("8")})
	}), "header earshot.seq appears more than once"},
	{"an unknown kind is rejected", changed(audioRecord, setHeader(HeaderKind, "video")), `unknown kind "video"`},
	{"another encoding is rejected", changed(audioRecord, setHeader(HeaderEncoding, "f32le")), `header earshot.encoding is "f32le", want "s16le"`},
	{"a key other than the stream id is rejected", changed(audioRecord, func(m *message) { m.Key = []byte("cam-2") }), `key "cam-2" is not the stream id "cam-1"`},
	{"a signed seq is rejected", changed(audioRecord, setHeader(HeaderSeq, "+7")), `header earshot.seq: "+7" is not a decimal number`},
	{"a seq with a leading zero is rejected", changed(audioRecord, setHeader(HeaderSeq, "07")), `header earshot.seq: "07" has a leading zero`},
	{"an empty epoch is rejected", changed(audioRecord, setHeader(HeaderEpoch, "")), "header earshot.epoch is empty"},
	{"an epoch beyond 64 bits is rejected", changed(audioRecord, setHeader(HeaderEpoch, "18446744073709551616")), "header earshot.epoch: 18446744073709551616 is out of range"},
	{"a negative offset is rejected", changed(audioRecord, setHeader(HeaderOffset, "-1")), `header earshot.offset: "-1" is not a decimal number`},
	{"an offset beyond int64 is rejected", changed(audioRecord, setHeader(HeaderOffset, "9223372036854775808")), "header earshot.offset: 9223372036854775808 is out of range"},
	{"a sample rate of 0 is rejected", changed(audioRecord, setHeader(HeaderSampleRate, "0")), "sample rate 0 is out of range"},
	{"a huge sample rate is rejected", changed(audioRecord, setHeader(HeaderSampleRate, "1000000")), "header earshot.sample_rate: 1000000 is out of range"},
	{"9 channels are rejected", changed(audioRecord, setHeader(HeaderChannels, "9")), "header earshot.channels: 9 is out of range"},
	{"an uppercase codec is rejected", changed(audioRecord, setHeader(HeaderCodec, "OPUS")), `codec "OPUS" has a character outside [a-z0-9._-]`},
	{"a capture time with an offset is rejected", changed(audioRecord, setHeader(HeaderCaptureTime, "2026-03-01T13:30:45+01:00")), "is not an RFC 3339 time in UTC"},
	{"a capture time that is not a time is rejected", changed(audioRecord, setHeader(HeaderCaptureTime, "yesterdayZ")), "is not an RFC 3339 time in UTC"},
	{"an unknown clock is rejected", changed(audioRecord, setHeader(HeaderClock, "ptp")), `clock "ptp" is neither "ntp" nor "arrival"`},
	{"audio without PCM is rejected", changed(audioRecord, func(m *message) { m.Value = nil }), "audio record without PCM"},
	{"PCM of odd length is rejected", changed(audioRecord, func(m *message) { m.Value = m.Value[:5] }), "5 bytes of PCM are not a whole number of 2-byte frames"},
	{"stereo PCM of half a frame is rejected", changed(audioRecord, func(m *message) {
		setHeader(HeaderChannels, "2")(m)
		m.Value = m.Value[:6]
	}), "6 bytes of PCM are not a whole number of 4-byte frames"},
	{"a start record with PCM is rejected", changed(startRecord, func(m *message) { m.Value = []byte{0, 0} }), "start record carries 2 bytes of PCM"},
	{"a gap without gap_ms is rejected", changed(gapRecord, dropHeader(HeaderGapMS)), "gap record: missing header earshot.gap_ms"},
	{"a gap of 0 ms is rejected", changed(gapRecord, setHeader(HeaderGapMS, "0")), "gap record with gap of 0 ms"},
	{"a gap without reason is rejected", changed(gapRecord, dropHeader(HeaderReason)), "gap record: missing header earshot.reason"},
	{"a gap with an empty reason is rejected", changed(gapRecord, setHeader(HeaderReason, "")), "gap record without reason"},
	{"an end without reason is rejected", changed(endRecord, dropHeader(HeaderReason)), "end record: missing header earshot.reason"},
	{"an audio record with a reason is rejected", changed(audioRecord, setHeader(HeaderReason, "x")), "audio record: unexpected header earshot.reason"},
	{"an end record with gap_ms is rejected", changed(endRecord, setHeader(HeaderGapMS, "5")), "end record: unexpected header earshot.gap_ms"},
	{"an empty stream id is rejected", changed(audioRecord, func(m *message) {
		setHeader(HeaderStream, "")(m)
		m.Key = nil
	}), "empty stream id"},
	{"a stream id with a newline is rejected", changed(audioRecord, func(m *message) {
		setHeader(HeaderStream, "cam\n1")(m)
		m.Key = []byte("cam\n1")
	}), "contains control character U+000A"},
	{"a stream id that is not UTF-8 is rejected", changed(audioRecord, func(m *message) {
		setHeader(HeaderStream, "cam\xff")(m)
		m.Key = []byte("cam\xff")
	}), "is not valid UTF-8"},
}

// validateCases are records Validate must reject, with a part of the error
// text; Write refuses them too.
var validateCases = []struct {
	name string
	rec  Record
	err  string
}{
	{"the zero record is invalid", Record{}, "empty stream id"},
	{"a record without capture time is invalid", with(audioRecord, func(r *Record) { r.CaptureTime = time.Time{} }), "capture time is not set"},
	{"a record in year 10000 is invalid", with(audioRecord, func(r *Record) { r.CaptureTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), "year 10000 is out of range"},
	{"a negative offset is invalid", with(audioRecord, func(r *Record) { r.Offset = -1 }), "negative offset -1"},
	{"a start record with a reason is invalid", with(startRecord, func(r *Record) { r.Reason = "why" }), `start record with reason "why"`},
	{"an audio record with a gap length is invalid", with(audioRecord, func(r *Record) { r.GapMS = 10 }), "audio record with gap of 10 ms"},
	{"a stream id longer than 255 bytes is invalid", with(audioRecord, func(r *Record) { r.Stream = strings.Repeat("c", 256) }), "stream id of 256 bytes is longer than 255"},
	{"an empty codec is invalid", with(audioRecord, func(r *Record) { r.Codec = "" }), "empty codec"},
	{"an unknown kind is invalid", with(audioRecord, func(r *Record) { r.Kind = "Audio" }), `unknown kind "Audio"`},
}

// sameRecord reports whether a and b are equal, comparing times with Equal
// and treating nil and empty PCM alike.
func sameRecord(a, b Record) bool {
	if !a.CaptureTime.Equal(b.CaptureTime) || !a.Arrival.Equal(b.Arrival) || !bytes.Equal(a.PCM, b.PCM) {
		return false
	}
	a.CaptureTime, b.CaptureTime, a.PCM, b.PCM, a.Arrival, b.Arrival = time.Time{}, time.Time{}, nil, nil, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func TestRecordRoundTrip(t *testing.T) {
	for _, tc := range recordCases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.rec.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			m := encode(tc.rec)
			if string(m.Key) != tc.rec.Stream {
				t.Errorf("key %q, want the stream id", m.Key)
			}
			got, err := decode(m)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !sameRecord(got, tc.rec) {
				t.Errorf("Decode(Encode(r)) =\n%+v\nwant\n%+v", got, tc.rec)
			}
			if got.CaptureTime.Location() != time.UTC {
				t.Errorf("capture time in %v, want UTC", got.CaptureTime.Location())
			}
		})
	}
}

// clientHeader stands for a Kafka client's header type (kafka-go's
// kafka.Header, franz-go's kgo.RecordHeader).
type clientHeader struct {
	Key   string
	Value []byte
}

func TestEncodeDecodeClientHeaders(t *testing.T) {
	for _, tc := range recordCases {
		key, hs, value := Encode[clientHeader](tc.rec)
		want := encode(tc.rec)
		if len(hs) != len(want.Headers) {
			t.Fatalf("%s: %d client headers, want %d", tc.name, len(hs), len(want.Headers))
		}
		for i, h := range hs {
			if h.Key != want.Headers[i].Key || !bytes.Equal(h.Value, want.Headers[i].Value) {
				t.Errorf("%s: header %d is %s=%q, want %s=%q", tc.name, i, h.Key, h.Value, want.Headers[i].Key, want.Headers[i].Value)
			}
		}
		got, err := Decode(key, value, hs)
		if err != nil || !sameRecord(got, tc.rec) {
			t.Errorf("%s: Decode of client headers = %+v, %v", tc.name, got, err)
		}
	}
}

func TestRecordHeaders(t *testing.T) {
	m := encode(gapRecord)
	want := []string{
		HeaderSchema, Version,
		HeaderKind, "gap",
		HeaderStream, "cam-1",
		HeaderEpoch, "2",
		HeaderSeq, "5",
		HeaderSampleRate, "16000",
		HeaderChannels, "1",
		HeaderEncoding, "s16le",
		HeaderCodec, "pcma",
		HeaderOffset, "16000",
		HeaderCaptureTime, "2026-03-01T12:30:45.123456789Z",
		HeaderClock, "arrival",
		HeaderGapMS, "400",
		HeaderReason, ReasonRTPLoss,
	}
	var got []string
	for _, h := range m.Headers {
		got = append(got, h.Key, string(h.Value))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("headers\n%q\nwant\n%q", got, want)
	}
	if m.Value != nil {
		t.Errorf("gap record value %q, want none", m.Value)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(tc.msg)
			if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Decode error %v, want ErrSchema with %q", err, tc.err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range validateCases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.rec.Validate()
			if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Validate error %v, want ErrSchema with %q", err, tc.err)
			}
		})
	}
}

// encodeFuzzHeaders packs headers as length-prefixed key, value pairs, the
// fuzz input form of headers.
func encodeFuzzHeaders(hs []Header) []byte {
	var b []byte
	for _, h := range hs {
		b = binary.AppendUvarint(b, uint64(len(h.Key)))
		b = append(b, h.Key...)
		b = binary.AppendUvarint(b, uint64(len(h.Value)))
		b = append(b, h.Value...)
	}
	return b
}

// decodeFuzzHeaders undoes encodeFuzzHeaders, stopping at the first
// truncated field.
func decodeFuzzHeaders(b []byte) []Header {
	var hs []Header
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		f := b[k : k+int(n)]
		b = b[k+int(n):]
		return f, true
	}
	for len(b) > 0 {
		key, ok := field()
		if !ok {
			break
		}
		value, ok := field()
		if !ok {
			break
		}
		hs = append(hs, Header{Key: string(key), Value: value})
	}
	return hs
}

// FuzzDecode checks that whatever Decode accepts is a valid record that
// survives Encode and Decode again unchanged, and that what it rejects wraps
// ErrSchema.
func FuzzDecode(f *testing.F) {
	for _, tc := range recordCases {
		m := encode(tc.rec)
		f.Add(m.Key, m.Value, encodeFuzzHeaders(m.Headers))
	}
	for _, tc := range parseCases {
		f.Add(tc.msg.Key, tc.msg.Value, encodeFuzzHeaders(tc.msg.Headers))
	}
	f.Fuzz(func(t *testing.T, key, value, headers []byte) {
		r, err := Decode(key, value, decodeFuzzHeaders(headers))
		if err != nil {
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("error %v does not wrap ErrSchema", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Decode accepted a record Validate rejects: %v", err)
		}
		again, err := decode(encode(r))
		if err != nil {
			t.Fatalf("Decode(Encode(r)): %v", err)
		}
		if !sameRecord(again, r) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", again, r)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	r := audioRecord
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = Encode[Header](r)
	}
}

func BenchmarkDecode(b *testing.B) {
	m := encode(audioRecord)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(m); err != nil {
			b.Fatal(err)
		}
	}
}
