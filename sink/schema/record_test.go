package schema_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/sink/schema"
	"github.com/earshot/earshot/sink/schema/schematest"
)

// message is the Kafka key, value and headers of a record.
type message struct {
	Key, Value []byte
	Headers    []schema.Header
}

// encode returns the message of r.
func encode(r schema.Record) message {
	key, headers, value := schema.Encode[schema.Header](r)
	return message{key, value, headers}
}

// decode decodes m.
func decode(m message) (schema.Record, error) {
	return schema.Decode(m.Key, m.Value, m.Headers)
}

// changed returns the message of r changed by f.
func changed(r schema.Record, f func(*message)) message {
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
		m.Headers = append(m.Headers, schema.Header{Key: key, Value: []byte(value)})
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

// parseCases are messages schema.Decode must reject, with a part of the error
// text.
var parseCases = []struct {
	name string
	msg  message
	err  string
}{
	{"a message without headers is rejected", changed(schematest.AudioRecord, func(m *message) { m.Headers = nil }), "missing header earshot.schema"},
	{"a future schema is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderSchema, "2")), `header earshot.schema is "2", want "1"`},
	{"a missing kind is rejected", changed(schematest.AudioRecord, dropHeader(schema.HeaderKind)), "missing header earshot.kind"},
	{"a missing stream is rejected", changed(schematest.AudioRecord, dropHeader(schema.HeaderStream)), "missing header earshot.stream"},
	{"a missing epoch is rejected", changed(schematest.AudioRecord, dropHeader(schema.HeaderEpoch)), "missing header earshot.epoch"},
	{"a missing seq is rejected", changed(schematest.AudioRecord, dropHeader(schema.HeaderSeq)), "missing header earshot.seq"},
	{"a missing sample rate is rejected", changed(schematest.AudioRecord, dropHeader(schema.HeaderSampleRate)), "missing header earshot.sample_rate"},
	{"a missing channel count is rejected", changed(schematest.AudioRecord, dropHeader(schema.HeaderChannels)), "missing header earshot.channels"},
	{"a missing encoding is rejected", changed(schematest.AudioRecord, dropHeader(schema.HeaderEncoding)), "missing header earshot.encoding"},
	{"a missing codec is rejected", changed(schematest.AudioRecord, dropHeader(schema.HeaderCodec)), "missing header earshot.codec"},
	{"a missing offset is rejected", changed(schematest.AudioRecord, dropHeader(schema.HeaderOffset)), "missing header earshot.offset"},
	{"a missing capture time is rejected", changed(schematest.AudioRecord, dropHeader(schema.HeaderCaptureTime)), "missing header earshot.capture_time"},
	{"a missing clock is rejected", changed(schematest.AudioRecord, dropHeader(schema.HeaderClock)), "missing header earshot.clock"},
	{"a repeated header is rejected", changed(schematest.AudioRecord, func(m *message) {
		m.Headers = append(m.Headers, schema.Header{Key: schema.HeaderSeq, Value: []byte("8")})
	}), "header earshot.seq appears more than once"},
	{"an unknown kind is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderKind, "video")), `unknown kind "video"`},
	{"another encoding is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderEncoding, "f32le")), `header earshot.encoding is "f32le", want "s16le"`},
	{"a key other than the stream id is rejected", changed(schematest.AudioRecord, func(m *message) { m.Key = []byte("cam-2") }), `key "cam-2" is not the stream id "cam-1"`},
	{"a signed seq is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderSeq, "+7")), `header earshot.seq: "+7" is not a decimal number`},
	{"a seq with a leading zero is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderSeq, "07")), `header earshot.seq: "07" has a leading zero`},
	{"an empty epoch is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderEpoch, "")), "header earshot.epoch is empty"},
	{"an epoch beyond 64 bits is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderEpoch, "18446744073709551616")), "header earshot.epoch: 18446744073709551616 is out of range"},
	{"a negative offset is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderOffset, "-1")), `header earshot.offset: "-1" is not a decimal number`},
	{"an offset beyond int64 is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderOffset, "9223372036854775808")), "header earshot.offset: 9223372036854775808 is out of range"},
	{"a sample rate of 0 is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderSampleRate, "0")), "sample rate 0 is out of range"},
	{"a huge sample rate is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderSampleRate, "1000000")), "header earshot.sample_rate: 1000000 is out of range"},
	{"9 channels are rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderChannels, "9")), "header earshot.channels: 9 is out of range"},
	{"an uppercase codec is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderCodec, "OPUS")), `codec "OPUS" has a character outside [a-z0-9._-]`},
	{"a capture time with an offset is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderCaptureTime, "2026-03-01T13:30:45+01:00")), "is not an RFC 3339 time in UTC"},
	{"a capture time that is not a time is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderCaptureTime, "yesterdayZ")), "is not an RFC 3339 time in UTC"},
	{"an unknown clock is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderClock, "ptp")), `clock "ptp" is neither "ntp" nor "arrival"`},
	{"audio without PCM is rejected", changed(schematest.AudioRecord, func(m *message) { m.Value = nil }), "audio record without PCM"},
	{"PCM of odd length is rejected", changed(schematest.AudioRecord, func(m *message) { m.Value = m.Value[:5] }), "5 bytes of PCM are not a whole number of 2-byte frames"},
	{"stereo PCM of half a frame is rejected", changed(schematest.AudioRecord, func(m *message) {
		setHeader(schema.HeaderChannels, "2")(m)
		m.Value = m.Value[:6]
	}), "6 bytes of PCM are not a whole number of 4-byte frames"},
	{"a start record with PCM is rejected", changed(schematest.StartRecord, func(m *message) { m.Value = []byte{0, 0} }), "start record carries 2 bytes of PCM"},
	{"a gap without gap_ms is rejected", changed(schematest.GapRecord, dropHeader(schema.HeaderGapMS)), "gap record: missing header earshot.gap_ms"},
	{"a gap of 0 ms is rejected", changed(schematest.GapRecord, setHeader(schema.HeaderGapMS, "0")), "gap record with gap of 0 ms"},
	{"a gap without reason is rejected", changed(schematest.GapRecord, dropHeader(schema.HeaderReason)), "gap record: missing header earshot.reason"},
	{"a gap with an empty reason is rejected", changed(schematest.GapRecord, setHeader(schema.HeaderReason, "")), "gap record without reason"},
	{"an end without reason is rejected", changed(schematest.EndRecord, dropHeader(schema.HeaderReason)), "end record: missing header earshot.reason"},
	{"an audio record with a reason is rejected", changed(schematest.AudioRecord, setHeader(schema.HeaderReason, "x")), "audio record: unexpected header earshot.reason"},
	{"an end record with gap_ms is rejected", changed(schematest.EndRecord, setHeader(schema.HeaderGapMS, "5")), "end record: unexpected header earshot.gap_ms"},
	{"an empty stream id is rejected", changed(schematest.AudioRecord, func(m *message) {
		setHeader(schema.HeaderStream, "")(m)
		m.Key = nil
	}), "empty stream id"},
	{"a stream id with a newline is rejected", changed(schematest.AudioRecord, func(m *message) {
		setHeader(schema.HeaderStream, "cam\n1")(m)
		m.Key = []byte("cam\n1")
	}), "contains control character U+000A"},
	{"a stream id that is not UTF-8 is rejected", changed(schematest.AudioRecord, func(m *message) {
		setHeader(schema.HeaderStream, "cam\xff")(m)
		m.Key = []byte("cam\xff")
	}), "is not valid UTF-8"},
}

func TestRecordRoundTrip(t *testing.T) {
	for _, tc := range schematest.Valid {
		t.Run(tc.Name, func(t *testing.T) {
			if err := tc.Record.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			m := encode(tc.Record)
			if string(m.Key) != tc.Record.Stream {
				t.Errorf("key %q, want the stream id", m.Key)
			}
			got, err := decode(m)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !schematest.Same(got, tc.Record) {
				t.Errorf("Decode(schema.Encode(r)) =\n%+v\nwant\n%+v", got, tc.Record)
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
	for _, tc := range schematest.Valid {
		key, hs, value := schema.Encode[clientHeader](tc.Record)
		want := encode(tc.Record)
		if len(hs) != len(want.Headers) {
			t.Fatalf("%s: %d client headers, want %d", tc.Name, len(hs), len(want.Headers))
		}
		for i, h := range hs {
			if h.Key != want.Headers[i].Key || !bytes.Equal(h.Value, want.Headers[i].Value) {
				t.Errorf("%s: header %d is %s=%q, want %s=%q", tc.Name, i, h.Key, h.Value, want.Headers[i].Key, want.Headers[i].Value)
			}
		}
		got, err := schema.Decode(key, value, hs)
		if err != nil || !schematest.Same(got, tc.Record) {
			t.Errorf("%s: schema.Decode of client headers = %+v, %v", tc.Name, got, err)
		}
	}
}

func TestRecordHeaders(t *testing.T) {
	m := encode(schematest.GapRecord)
	want := []string{
		schema.HeaderSchema, schema.Version,
		schema.HeaderKind, "gap",
		schema.HeaderStream, "cam-1",
		schema.HeaderEpoch, "2",
		schema.HeaderSeq, "5",
		schema.HeaderSampleRate, "16000",
		schema.HeaderChannels, "1",
		schema.HeaderEncoding, "s16le",
		schema.HeaderCodec, "pcma",
		schema.HeaderOffset, "16000",
		schema.HeaderCaptureTime, "2026-03-01T12:30:45.123456789Z",
		schema.HeaderClock, "arrival",
		schema.HeaderGapMS, "400",
		schema.HeaderReason, schema.ReasonRTPLoss,
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
			if !errors.Is(err, schema.ErrSchema) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Decode error %v, want ErrSchema with %q", err, tc.err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range schematest.Invalid {
		t.Run(tc.Name, func(t *testing.T) {
			err := tc.Record.Validate()
			if !errors.Is(err, schema.ErrSchema) || !strings.Contains(err.Error(), tc.Err) {
				t.Errorf("Validate error %v, want ErrSchema with %q", err, tc.Err)
			}
		})
	}
}

// encodeFuzzHeaders packs headers as length-prefixed key, value pairs, the
// fuzz input form of headers.
func encodeFuzzHeaders(hs []schema.Header) []byte {
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
func decodeFuzzHeaders(b []byte) []schema.Header {
	var hs []schema.Header
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
		hs = append(hs, schema.Header{Key: string(key), Value: value})
	}
	return hs
}

// FuzzDecode checks that whatever schema.Decode accepts is a valid record that
// survives schema.Encode and schema.Decode again unchanged, and that what it rejects wraps
// schema.ErrSchema.
func FuzzDecode(f *testing.F) {
	for _, tc := range schematest.Valid {
		m := encode(tc.Record)
		f.Add(m.Key, m.Value, encodeFuzzHeaders(m.Headers))
	}
	for _, tc := range parseCases {
		f.Add(tc.msg.Key, tc.msg.Value, encodeFuzzHeaders(tc.msg.Headers))
	}
	f.Fuzz(func(t *testing.T, key, value, headers []byte) {
		r, err := schema.Decode(key, value, decodeFuzzHeaders(headers))
		if err != nil {
			if !errors.Is(err, schema.ErrSchema) {
				t.Fatalf("error %v does not wrap ErrSchema", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Decode accepted a record Validate rejects: %v", err)
		}
		again, err := decode(encode(r))
		if err != nil {
			t.Fatalf("Decode(schema.Encode(r)): %v", err)
		}
		if !schematest.Same(again, r) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", again, r)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	r := schematest.AudioRecord
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = schema.Encode[schema.Header](r)
	}
}

func BenchmarkDecode(b *testing.B) {
	m := encode(schematest.AudioRecord)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(m); err != nil {
			b.Fatal(err)
		}
	}
}
