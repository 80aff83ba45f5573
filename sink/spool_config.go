package sink

import (
	"errors"
	"fmt"
	"time"
)

// Fsync policies of the spool.
const (
	// FsyncNone leaves flushing to the operating system: a process crash
	// loses nothing, a power loss may lose what the kernel had not written.
	FsyncNone = "none"
	// FsyncInterval flushes written segments at most FsyncInterval after
	// a write: a power loss loses at most that much.
	FsyncInterval = "interval"
	// FsyncAlways flushes after every record: the slowest, for disks where
	// no record may be lost to a power loss.
	FsyncAlways = "always"
)

// SpoolConfig configures the Writer's on-disk spool, where records go while
// Kafka is unreachable, slow or stalled, or when the memory buffer is full,
// and where Close leaves what it could not deliver. The spool is replayed,
// in order, when a Writer starts on the same directory.
type SpoolConfig struct {
	// Dir is the spool directory, created if needed. One Writer at a time
	// may use it (a lock file enforces this). It defaults to "": no spool;
	// Write then fails with ErrBufferFull when memory is full, and Close
	// loses what it cannot deliver.
	Dir string

	// MaxBytes caps the spool. When a record does not fit, the oldest
	// records are dropped and replaced by gap records with reason
	// schema.ReasonSinkDrop. It defaults to 1 GiB: at 32 KiB/s of 16 kHz audio per
	// stream, about 9 hours of one stream, or 30 seconds of 1000.
	MaxBytes int64

	// SegmentBytes is the size at which a segment file is closed and the
	// next one started; a segment is deleted once all its records are
	// delivered. It defaults to 16 MiB.
	SegmentBytes int64

	// Fsync is the flush policy: FsyncNone, FsyncInterval or FsyncAlways.
	// It defaults to FsyncInterval.
	Fsync string

	// FsyncInterval is the flush period of FsyncInterval. It defaults to 1
	// second.
	FsyncInterval time.Duration
}

// Defaults of SpoolConfig.
const (
	DefaultSpoolMaxBytes      = 1 << 30
	DefaultSpoolSegmentBytes  = 16 << 20
	DefaultSpoolFsync         = FsyncInterval
	DefaultSpoolFsyncInterval = time.Second
	minSegmentBytes           = 4 << 10
)

func (c SpoolConfig) withDefaults() SpoolConfig {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultSpoolMaxBytes
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSpoolSegmentBytes
	}
	if c.Fsync == "" {
		c.Fsync = DefaultSpoolFsync
	}
	if c.FsyncInterval == 0 {
		c.FsyncInterval = DefaultSpoolFsyncInterval
	}
	return c
}

// validate reports every problem of c, which has its defaults applied.
func (c SpoolConfig) validate() error {
	var errs []error
	if c.SegmentBytes < minSegmentBytes {
		errs = append(errs, fmt.Errorf("sink: Spool.SegmentBytes must be at least %d, got %d", minSegmentBytes, c.SegmentBytes))
	}
	if c.MaxBytes < 2*c.SegmentBytes {
		errs = append(errs, fmt.Errorf("sink: Spool.MaxBytes must be at least twice Spool.SegmentBytes (%d), got %d", c.SegmentBytes, c.MaxBytes))
	}
	switch c.Fsync {
	case FsyncNone, FsyncInterval, FsyncAlways:
	default:
		errs = append(errs, fmt.Errorf(`sink: Spool.Fsync must be "none", "interval" or "always", got %q`, c.Fsync))
	}
	if c.FsyncInterval < 0 {
		errs = append(errs, fmt.Errorf("sink: Spool.FsyncInterval must not be negative, got %s", c.FsyncInterval))
	}
	return errors.Join(errs...)
}
