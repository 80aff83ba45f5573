package sink

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestBatcherBoundsEachPartitionsShare(t *testing.T) {
	// Streams a and b land in different partitions of 3.
	a, b := "cam-1", "cam-2"
	pa := kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(a)}, 0, 1, 2)
	pb := kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(b)}, 0, 1, 2)
	if pa == pb {
		t.Fatalf("test streams share partition %d", pa)
	}
	msg := func(stream string, seq uint64) kafka.Message { return testRecord(stream, seq).Message(testTopic) }
	size := messageSize(new(msg(a, 0)))

	queue := make(chan kafka.Message, 16)
	for seq := range uint64(4) {
		queue <- msg(a, seq)
	}
	for seq := range uint64(2) {
		queue <- msg(b, seq)
	}
	close(queue)
	bt := newBatcher(queue, 10, 3*size+100) // three records per partition, not four
	three := func() int { return 3 }

	batch, ok := bt.next(three)
	if !ok || len(batch) != 3 {
		t.Fatalf("first batch: %d records, ok %v; want stream a's first three", len(batch), ok)
	}
	// a's fourth record did not fit: it starts the next batch, with b's.
	batch, ok = bt.next(three)
	if !ok || len(batch) != 3 || string(batch[0].Key) != a || string(batch[1].Key) != b {
		t.Fatalf("second batch: %d records, ok %v", len(batch), ok)
	}
	if _, ok := bt.next(three); ok {
		t.Fatal("batch from a closed, empty queue")
	}
	if n := bt.drain(); n != 0 {
		t.Errorf("drain counted %d", n)
	}
}

func TestBatcherBoundsRecordCount(t *testing.T) {
	queue := make(chan kafka.Message, 16)
	for seq := range uint64(7) {
		queue <- testRecord("cam-a", seq).Message(testTopic)
	}
	close(queue)
	bt := newBatcher(queue, 5, 1<<30)
	unknown := func() int { return 0 }
	if batch, _ := bt.next(unknown); len(batch) != 5 {
		t.Errorf("first batch has %d records, want BatchSize 5", len(batch))
	}
	if n := bt.drain(); n != 2 {
		t.Errorf("drain counted %d, want 2", n)
	}
}
