package sink

import (
	"github.com/segmentio/kafka-go"
)

// batcher gathers queued messages into batches for one WriteMessages call,
// keeping each partition's share within kafka-go's BatchSize and BatchBytes.
// kafka-go then sends each partition's share as a single produce batch, so a
// batch never splits into parts that could fail separately and be retried
// out of order. It is owned by the writer's run goroutine.
type batcher struct {
	queue      <-chan kafka.Message
	maxRecords int   // records in a batch
	maxBytes   int64 // bytes of one partition's share, counted by messageSize

	batch      []kafka.Message
	partitions []int   // 0..n-1, for the balancer
	bytes      []int64 // per partition, of the batch being gathered
	carry      kafka.Message
	hasCarry   bool // carry did not fit in the last batch
}

func newBatcher(queue <-chan kafka.Message, maxRecords int, maxBytes int64) *batcher {
	return &batcher{queue: queue, maxRecords: maxRecords, maxBytes: maxBytes, batch: make([]kafka.Message, 0, maxRecords)}
}

// next waits for a message, then adds whatever else is queued and fits. It
// asks partitionCount for the topic's partition count (1 if unknown) once it
// has a message. It returns false once the queue is closed and empty. The
// batch is valid until the next call.
func (b *batcher) next(partitionCount func() int) ([]kafka.Message, bool) {
	b.batch = b.batch[:0]
	first := b.carry
	if b.hasCarry {
		b.hasCarry = false
	} else {
		var ok bool
		if first, ok = <-b.queue; !ok {
			return nil, false
		}
	}
	b.reset(max(partitionCount(), 1))
	b.add(first) // fits: Write refuses messages larger than maxBytes
	for len(b.batch) < b.maxRecords {
		select {
		case m, ok := <-b.queue:
			if !ok {
				return b.batch, true
			}
			if !b.add(m) {
				b.carry, b.hasCarry = m, true
				return b.batch, true
			}
		default:
			return b.batch, true
		}
	}
	return b.batch, true
}

// reset starts a batch for n partitions.
func (b *batcher) reset(n int) {
	if len(b.partitions) != n {
		b.partitions = make([]int, n)
		for i := range b.partitions {
			b.partitions[i] = i
		}
		b.bytes = make([]int64, n)
	}
	clear(b.bytes)
}

// add appends m to the batch unless its partition's share would exceed
// maxBytes; the first message of a partition always fits.
func (b *batcher) add(m kafka.Message) bool {
	p := kafka.Murmur2Balancer{}.Balance(m, b.partitions...)
	n := messageSize(&m)
	if b.bytes[p] > 0 && b.bytes[p]+n > b.maxBytes {
		return false
	}
	b.bytes[p] += n
	b.batch = append(b.batch, m)
	return true
}

// drain counts the messages left, the carried one included, emptying the
// queue, which must be closed.
func (b *batcher) drain() int {
	n := 0
	if b.hasCarry {
		n, b.hasCarry = 1, false
	}
	for range b.queue {
		n++
	}
	return n
}
