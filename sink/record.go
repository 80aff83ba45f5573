// Package sink owns earshot's Kafka side: a Writer that accepts schema 1
// records (package sink/schema) without blocking and delivers them, through
// an on-disk spool when Kafka is unreachable or slow, ReadTopic to read them
// back, and an embedded broker for demos and tests. Package sink/consumer is
// the ASR side: decoding, deduplication and reassembly, without a Kafka
// client.
package sink

import (
	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/sink/schema"
)

// Message builds the Kafka message of r for topic: key, value, timestamp and
// headers (see schema.Encode). The value aliases r.PCM. It does not validate
// r.
func Message(r schema.Record, topic string) kafka.Message {
	key, headers, value := schema.Encode[kafka.Header](r)
	return kafka.Message{Topic: topic, Key: key, Value: value, Time: r.CaptureTime, Headers: headers}
}

// ParseMessage parses a schema 1 message (see schema.Decode). PCM aliases
// m.Value. Every error wraps schema.ErrSchema.
func ParseMessage(m kafka.Message) (schema.Record, error) {
	return schema.Decode(m.Key, m.Value, m.Headers)
}
