package sink

// WriterStats are a Writer's counters since it was created, and its gauges.
type WriterStats struct {
	// Delivered counts records Kafka acknowledged.
	Delivered uint64
	// Failed counts records given up: refused by Write for lack of room
	// without a spool, lost at Close without a spool, or refused by the
	// broker as too large.
	Failed uint64
	// Spooled counts records written to the spool (by Write, or moved
	// there from memory when Kafka failed or at Close).
	Spooled uint64
	// Dropped counts records dropped from a full spool; DropGaps the
	// sink_drop gap records that replaced them.
	Dropped  uint64
	DropGaps uint64
	// Retries counts failed produce attempts; each is retried.
	Retries uint64
	// Stalls counts the times the writer was found stalled (see Health).
	Stalls uint64
	// Batches counts produce calls that succeeded.
	Batches uint64
	// CorruptTails counts spool segments truncated at a damaged record.
	CorruptTails uint64

	// MemoryRecords and MemoryBytes are held in memory now (in flight
	// included); SpoolRecords and SpoolBytes are in the spool.
	MemoryRecords int
	MemoryBytes   int64
	SpoolRecords  int
	SpoolBytes    int64
}
