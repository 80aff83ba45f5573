package sink

import "time"

// Health is a snapshot of delivery progress.
type Health struct {
	Pending      int       // records accepted and not yet acknowledged (memory + spool)
	LastAck      time.Time // when Kafka last acknowledged a produce (zero before the first)
	Stalled      bool      // no produce has completed for StallTimeout while records are pending, or the broker is unreachable
	StalledSince time.Time // when the current stall began (zero when not stalled)
	Reason       string    // short cause when stalled, credentials-free (e.g. "broker unreachable: dial tcp ...", "produce timed out")
	// SpoolError is set while the spool cannot write (disk full, quota, I/O
	// error): records are held in memory instead, and when BufferBytes are
	// held the oldest are replaced by sink_drop gap records. It is the last
	// write error, and is cleared once the records held have been delivered.
	SpoolError string
}
