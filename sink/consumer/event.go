// Package consumer is the ASR side of earshot's Kafka records, without a
// Kafka client and without cgo: bring the messages with any client. Decode
// turns a Message into a typed event, a *Chunk of audio or a *Control
// (start, gap or end), with its schema-1 headers validated (package
// sink/schema). Kafka delivers at least once and earshot's writer may send a
// record twice, so a Deduplicator drops redeliveries by (stream, epoch,
// seq). A Reassembler then turns each stream's records into a continuous
// timeline of audio and explicit gaps, across epochs (reconnections and
// restarts), and Tap writes such records as WAV files.
//
// A Message is what every Kafka client delivers; one line converts one.
// From kafka-go (github.com/segmentio/kafka-go), a kafka.Message m:
//
//	consumer.Message{Key: m.Key, Value: m.Value, Headers: consumer.Headers(m.Headers), Time: m.Time, Partition: m.Partition, Offset: m.Offset}
//
// From franz-go (github.com/twmb/franz-go/pkg/kgo), a *kgo.Record r:
//
//	consumer.Message{Key: r.Key, Value: r.Value, Headers: consumer.Headers(r.Headers), Time: r.Timestamp, Partition: int(r.Partition), Offset: r.Offset}
//
// Records of a stream are in one partition (the key is the stream id), in
// the order earshot wrote them, apart from redeliveries; consume each
// partition in order and feed every record to the same Deduplicator and
// Reassembler.
package consumer

import (
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// Key identifies a record: earshot numbers the records of a stream by
// epoch, which grows each time the stream connects (and across restarts),
// and by seq within an epoch.
type Key struct {
	Stream string
	Epoch  uint64
	Seq    uint64
}

// Less reports whether k comes before o in its stream's order.
func (k Key) Less(o Key) bool {
	return k.Epoch < o.Epoch || k.Epoch == o.Epoch && k.Seq < o.Seq
}

// Message is a Kafka record as a client delivers it; see the package
// documentation for converting kafka-go's and franz-go's.
type Message struct {
	Key, Value []byte
	Headers    []schema.Header
	// Time is the Kafka timestamp: the capture time in milliseconds as
	// earshot wrote it, or the broker's append time on a topic with
	// message.timestamp.type=LogAppendTime. Decode does not use it; the
	// capture time comes from its header.
	Time time.Time
	// Partition and Offset are where the record is in its topic.
	Partition int
	Offset    int64
}

// Headers converts a Kafka client's headers (kafka-go's kafka.Header,
// franz-go's kgo.RecordHeader, any type laid out as schema.Header) to
// schema.Header, sharing their keys and values.
func Headers[H schema.HeaderType](hs []H) []schema.Header {
	out := make([]schema.Header, len(hs))
	for i, h := range hs {
		out[i] = schema.Header(h)
	}
	return out
}

// Event is a decoded record: a *Chunk or a *Control.
type Event interface {
	// Key identifies the record.
	Key() Key
	// Fields returns the record's fields.
	Fields() *schema.Record
}

// Position is where a record was in Kafka.
type Position struct {
	Partition int
	Offset    int64
	// Time is the Kafka timestamp (see Message.Time); zero when unknown.
	Time time.Time
}

// Chunk is an audio record: Kind is schema.KindAudio and PCM holds the
// samples (s16le, channels interleaved) starting at sample Offset of the
// epoch.
type Chunk struct {
	schema.Record
	Kafka Position
}

// Key identifies the chunk.
func (c *Chunk) Key() Key { return Key{c.Stream, c.Epoch, c.Seq} }

// Fields returns the chunk's fields.
func (c *Chunk) Fields() *schema.Record { return &c.Record }

// Samples is the number of samples per channel.
func (c *Chunk) Samples() int64 { return int64(len(c.PCM) / (2 * c.Channels)) }

// Control is a start, gap or end record; see schema.Kind.
type Control struct {
	schema.Record
	Kafka Position
}

// Key identifies the record.
func (c *Control) Key() Key { return Key{c.Stream, c.Epoch, c.Seq} }

// Fields returns the record's fields.
func (c *Control) Fields() *schema.Record { return &c.Record }

// Decode validates m as a schema-1 record (see schema.Decode; errors wrap
// schema.ErrSchema) and returns it as a *Chunk or a *Control. The PCM
// aliases m.Value.
func Decode(m Message) (Event, error) {
	r, err := schema.Decode(m.Key, m.Value, m.Headers)
	if err != nil {
		return nil, err
	}
	return FromRecord(r, Position{Partition: m.Partition, Offset: m.Offset, Time: m.Time}), nil
}

// FromRecord wraps a record obtained otherwise (sink.ReadTopic, a test) as
// an event. It does not validate r.
func FromRecord(r schema.Record, at Position) Event {
	if r.Kind == schema.KindAudio {
		return &Chunk{Record: r, Kafka: at}
	}
	return &Control{Record: r, Kafka: at}
}
