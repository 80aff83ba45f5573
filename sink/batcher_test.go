package sink

import (
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/sink/schema/schematest"
)

func TestBatcherBoundsEachPartitionsShare(t *testing.T) {
	// Streams a and b land in different partitions of 3.
	a, b := "cam-1", "cam-2"
	pa := kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(a)}, 0, 1, 2)
	pb := kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(b)}, 0, 1, 2)
	if pa == pb {
		t.Fatalf("test streams share partition %d", pa)
	}
	msg := func(stream string, seq uint64) *kafka.Message {
		return new(Message(schematest.Audio(stream, seq), testTopic))
	}
	size := messageSize(msg(a, 0))

	bt := batcher{maxRecords: 10}
	bt.reset(3, 3*size+100) // three records per partition, not four
	for seq := range uint64(3) {
		if !bt.add(msg(a, seq)) {
			t.Fatalf("record %d of stream a refused", seq)
		}
	}
	if bt.add(msg(a, 3)) {
		t.Error("a fourth record of stream a fits in its partition's share")
	}
	if !bt.add(msg(b, 0)) {
		t.Error("stream b's first record refused: another partition")
	}
	// The first record of a partition always fits, however large.
	bt.reset(3, 10)
	if !bt.add(msg(a, 0)) || bt.add(msg(a, 1)) {
		t.Error("share limit below one record")
	}
}

func TestBatcherBoundsRecordCount(t *testing.T) {
	bt := batcher{maxRecords: 5}
	bt.reset(0, 1<<30) // partition count unknown: one
	n := 0
	for seq := range uint64(7) {
		if bt.add(new(Message(schematest.Audio("cam-a", seq), testTopic))) {
			n++
		}
	}
	if n != 5 {
		t.Errorf("batch took %d records, want BatchSize 5", n)
	}
}

func TestBatcherBoundsTheTotal(t *testing.T) {
	m := new(Message(schematest.Audio("cam-a", 0), testTopic))
	bt := batcher{maxRecords: 100, maxTotal: 3*messageSize(m) + 10}
	bt.reset(3, 1<<30)
	n := 0
	for range 10 {
		if bt.add(m) {
			n++
		}
	}
	if n != 3 {
		t.Errorf("batch took %d records, want 3 within maxTotal", n)
	}
}

func TestBatcherBoundsEachPartitionsRecords(t *testing.T) {
	// kafka-go is given BatchSize partitionRecords(maxRecords): a partition's
	// share must never hold more, or kafka-go would split it in two batches.
	bt := batcher{maxRecords: 500}
	bt.reset(1, 1<<40)
	n := 0
	for seq := range uint64(300) {
		if bt.add(new(Message(schematest.Audio("cam-a", seq), testTopic))) {
			n++
		}
	}
	if want := partitionRecords(500); n != want || want != maxPartitionRecords {
		t.Errorf("one partition's share took %d records, want %d", n, want)
	}
	if partitionRecords(5) != 5 {
		t.Errorf("partitionRecords(5) = %d, want BatchSize 5", partitionRecords(5))
	}
}
