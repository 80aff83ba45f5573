// Package consumer is the ASR side of earshot's Kafka records. Decode turns
// a Kafka message into a typed event, a *Chunk of audio or a *Control (start,
// gap or end), with its schema-1 headers validated. Kafka delivers at least
// once and earshot's writer may send a record twice, so a Deduplicator drops
// redeliveries by (stream, epoch, seq). A Reassembler then turns each
// stream's records into a continuous timeline of audio and explicit gaps,
// across epochs (reconnections and restarts), and Tap writes what a topic
// holds as WAV files.
//
// Records of a stream are in one partition (the key is the stream id), in
// the order earshot wrote them, apart from redeliveries; consume each
// partition in order and feed every record to the same Deduplicator and
// Reassembler.
package consumer

import (
	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/sink"
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

// Event is a decoded record: a *Chunk or a *Control.
type Event interface {
	// Key identifies the record.
	Key() Key
	// Fields returns the record's fields.
	Fields() *sink.Record
}

// Position is where a record was in Kafka.
type Position struct {
	Partition int
	Offset    int64
}

// Chunk is an audio record: Kind is sink.KindAudio and PCM holds the
// samples (s16le, channels interleaved) starting at sample Offset of the
// epoch.
type Chunk struct {
	sink.Record
	Kafka Position
}

// Key identifies the chunk.
func (c *Chunk) Key() Key { return Key{c.Stream, c.Epoch, c.Seq} }

// Fields returns the chunk's fields.
func (c *Chunk) Fields() *sink.Record { return &c.Record }

// Samples is the number of samples per channel.
func (c *Chunk) Samples() int64 { return int64(len(c.PCM) / (2 * c.Channels)) }

// Control is a start, gap or end record; see sink.Kind.
type Control struct {
	sink.Record
	Kafka Position
}

// Key identifies the record.
func (c *Control) Key() Key { return Key{c.Stream, c.Epoch, c.Seq} }

// Fields returns the record's fields.
func (c *Control) Fields() *sink.Record { return &c.Record }

// Decode validates m as a schema-1 record (see sink.ParseMessage; errors
// wrap sink.ErrSchema) and returns it as a *Chunk or a *Control. The PCM
// aliases m.Value.
func Decode(m kafka.Message) (Event, error) {
	r, err := sink.ParseMessage(m)
	if err != nil {
		return nil, err
	}
	return FromRecord(r, Position{Partition: m.Partition, Offset: m.Offset}), nil
}

// FromRecord wraps a record obtained otherwise (sink.ReadTopic, a test) as
// an event. It does not validate r.
func FromRecord(r sink.Record, at Position) Event {
	if r.Kind == sink.KindAudio {
		return &Chunk{Record: r, Kafka: at}
	}
	return &Control{Record: r, Kafka: at}
}
