package sink

import (
	"errors"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/sink/schema"
	"github.com/earshot/earshot/sink/schema/schematest"
)

const testTopic = "audio"

func TestMessageRoundTrip(t *testing.T) {
	for _, tc := range schematest.Valid {
		t.Run(tc.Name, func(t *testing.T) {
			m := Message(tc.Record, testTopic)
			if m.Topic != testTopic || string(m.Key) != tc.Record.Stream || !m.Time.Equal(tc.Record.CaptureTime) {
				t.Errorf("message topic %q key %q time %v", m.Topic, m.Key, m.Time)
			}
			got, err := ParseMessage(m)
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if !schematest.Same(got, tc.Record) {
				t.Errorf("ParseMessage(Message(r)) =\n%+v\nwant\n%+v", got, tc.Record)
			}
		})
	}
}

func TestParseMessageRejects(t *testing.T) {
	m := Message(schematest.AudioRecord, testTopic)
	m.Headers = append(m.Headers[:0:0], kafka.Header{Key: schema.HeaderSchema, Value: []byte("2")})
	if _, err := ParseMessage(m); !errors.Is(err, schema.ErrSchema) {
		t.Errorf("ParseMessage of schema 2: %v, want ErrSchema", err)
	}
}

func BenchmarkMessage(b *testing.B) {
	r := schematest.AudioRecord
	b.ReportAllocs()
	for b.Loop() {
		_ = Message(r, testTopic)
	}
}

func BenchmarkParseMessage(b *testing.B) {
	m := Message(schematest.AudioRecord, testTopic)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMessage(m); err != nil {
			b.Fatal(err)
		}
	}
}
