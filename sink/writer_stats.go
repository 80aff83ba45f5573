package sink

// WriterStats are a Writer's counters since it was created.
type WriterStats struct {
	// Written counts records Kafka acknowledged.
	Written uint64
	// Failed counts records given up when Close's deadline passed; they may
	// or may not have reached Kafka.
	Failed uint64
	// Retries counts produce attempts that failed; each is retried.
	Retries uint64
	// Batches counts produce calls that succeeded.
	Batches uint64
	// Queued is the number of records waiting in the queue now.
	Queued int
}
