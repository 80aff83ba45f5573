package sink

import (
	"github.com/segmentio/kafka-go"
)

// batcher decides which records go into one produce call, keeping each
// partition's share within maxBytes (counted by messageSize, no less than
// its records take in the request) and the whole within maxRecords. The
// producer sends each partition's share as one record batch in one produce
// request, so a batch never splits into parts that could fail separately
// and be retried out of order. It is owned by the writer's goroutine.
//
// A partition's share also holds at most partitionRecords(maxRecords)
// records. The bound was the BatchSize given to kafka-go's Writer, which
// allocated room for that many messages (152 bytes each) for every
// partition batch; the producer now sends shares without such batches, and
// the bound only limits a request's record count.
type batcher struct {
	maxRecords int
	maxBytes   int64
	// maxTotal bounds the whole batch (0: no bound): a batch stays a small
	// part of a full spool, where it is kept while in flight.
	maxTotal int64

	records    int
	total      int64
	partitions []int   // 0..n-1, for the balancer
	bytes      []int64 // per partition, of the batch being gathered
	counts     []int   // records per partition, of the batch being gathered
}

// maxPartitionRecords bounds the records of one partition in one produce
// call. With the default 200 ms chunks (~6.5 KB a record) BatchBytes' 1 MiB
// allows ~160, so it rarely binds.
const maxPartitionRecords = 128

// partitionIDs returns 0..n-1, the partitions the balancer chooses from.
func partitionIDs(n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return ids
}

// partitionRecords is the most records of one partition in one produce call
// for a BatchSize of maxRecords.
func partitionRecords(maxRecords int) int { return min(maxRecords, maxPartitionRecords) }

// reset starts a batch for n partitions (1 if n is unknown) with a share
// limit of maxBytes.
func (b *batcher) reset(n int, maxBytes int64) {
	n = max(n, 1)
	if len(b.partitions) != n {
		b.partitions = partitionIDs(n)
		b.bytes = make([]int64, n)
		b.counts = make([]int, n)
	}
	clear(b.bytes)
	clear(b.counts)
	b.records, b.total = 0, 0
	b.maxBytes = maxBytes
}

// add counts m in the batch unless the batch is full or m's partition's
// share would exceed maxBytes; the first message of a batch always fits,
// and so does the first of a partition unless the batch holds maxTotal.
func (b *batcher) add(m *kafka.Message) bool {
	if b.records >= b.maxRecords {
		return false
	}
	p := kafka.Murmur2Balancer{}.Balance(*m, b.partitions...)
	n := messageSize(m)
	if b.records > 0 && (b.bytes[p] > 0 && b.bytes[p]+n > b.maxBytes || b.maxTotal > 0 && b.total+n > b.maxTotal) {
		return false
	}
	if b.counts[p] >= partitionRecords(b.maxRecords) {
		return false
	}
	b.counts[p]++
	b.bytes[p] += n
	b.total += n
	b.records++
	return true
}
