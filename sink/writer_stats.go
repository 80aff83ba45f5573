package sink

// WriterStats are a Writer's counters since it was created, and its gauges.
type WriterStats struct {
	// Delivered counts records Kafka acknowledged.
	Delivered uint64
	// Failed counts records given up: refused by Write for lack of room
	// without a spool, lost at Close without a spool (or with a failing
	// one), or refused by the broker as too large.
	Failed uint64
	// Spooled counts records written to the spool (by Write, or moved
	// there from memory when Kafka failed or at Close).
	Spooled uint64
	// Dropped counts records accepted by Write and then dropped, each
	// covered by a sink_drop gap record of exactly its audio: the oldest
	// records of a full spool, the oldest held in memory when the spool
	// could not write and memory was full, and records skipped over damage
	// in a spool segment. DropGaps counts the sink_drop gap records that
	// replaced them.
	Dropped  uint64
	DropGaps uint64
	// Lost counts records accepted by Write that will never be delivered
	// and that no gap record covers: not spooled at Close, refused by the
	// broker as too large, or unreadable in the spool.
	Lost uint64
	// Retries counts failed produce attempts; each is retried.
	Retries uint64
	// Stalls counts the times the writer was found stalled (see Health).
	Stalls uint64
	// Batches counts produce calls that succeeded.
	Batches uint64
	// CorruptTails counts spool segments truncated at a damaged record
	// with no intact record after it; CorruptSkips counts damaged stretches
	// skipped inside a segment, reading on at the next intact record.
	CorruptTails uint64
	CorruptSkips uint64
	// SpoolWriteErrors counts spool writes that failed (disk full, quota,
	// I/O error); SpoolFailing is set from such a failure until the records
	// held in memory instead have been delivered (see Health.SpoolError).
	SpoolWriteErrors uint64
	SpoolFailing     bool

	// MemoryRecords and MemoryBytes are held in memory now (in flight
	// included); SpoolRecords and SpoolBytes are in the spool.
	MemoryRecords int
	MemoryBytes   int64
	SpoolRecords  int
	SpoolBytes    int64
}
