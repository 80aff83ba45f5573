package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
)

// WriterConfig configures a Writer. Only Brokers and Topic are required; the
// zero value of every other field selects its default.
type WriterConfig struct {
	// Brokers are the bootstrap brokers, as host:port. Required.
	Brokers []string

	// Topic is the topic to produce to. It must exist: the writer never
	// creates topics. Required.
	Topic string

	// BatchTimeout is the batching latency: how long the writer lets the
	// oldest record in memory wait for others to go with it before it
	// produces them, unless BatchSize records or BatchBytes are waiting
	// already. Records from the spool, and records at Close, do not wait.
	// It defaults to 10 milliseconds; a negative value sends at once.
	// Longer waits make fewer, larger produce requests, which cost less CPU
	// on both ends, for latency (docs/performance.md, "Batching latency").
	BatchTimeout time.Duration

	// BatchSize is the most records sent in one produce call, over all
	// partitions; one partition gets at most 128 of them. It defaults to
	// 500.
	BatchSize int

	// BatchBytes is the most bytes sent to one partition in one produce
	// call, and so the largest record the writer accepts; keep it within
	// the broker's message.max.bytes. It defaults to 1 MiB, the broker's
	// default.
	BatchBytes int64

	// RequiredAcks is how many replicas must acknowledge a produce: "all"
	// (the in-sync replicas), "one" (the leader) or "none". It defaults to
	// "all".
	RequiredAcks string

	// WriteTimeout bounds every produce attempt, including the metadata
	// lookup before it. An attempt that runs out of time is abandoned with
	// its kafka-go transport and connections, and retried on fresh ones. It
	// defaults to 10 seconds.
	WriteTimeout time.Duration

	// StallTimeout is how long records may wait without any produce
	// completing before Health reports the writer stalled. It defaults to
	// 20 seconds.
	StallTimeout time.Duration

	// BufferBytes bounds the records held in memory (counted as Kafka
	// message bytes). Beyond it, and while Kafka is failing, records go to
	// the spool; while the spool cannot write, the oldest records held are
	// replaced by sink_drop gap records to stay within it. It defaults to
	// 32 MiB: about a second of 1000 streams.
	BufferBytes int64

	// CloseTimeout is how long Close keeps delivering what is held before
	// it moves the rest to the spool. It defaults to 10 seconds.
	CloseTimeout time.Duration

	// Spool configures the on-disk spool; see SpoolConfig for the
	// defaults of its fields. It defaults to no spool (Spool.Dir empty).
	Spool SpoolConfig

	// Security configures TLS and SASL. It defaults to plaintext.
	Security Security

	// Observer, if set, receives delivery events for metrics; see
	// Observer. It defaults to nil.
	Observer Observer

	// Compression is the compression codec: "" or "none", "gzip", "snappy",
	// "lz4" or "zstd". It defaults to none: PCM barely compresses.
	Compression string

	// Logger receives a line per failed produce attempt, per recovery, per
	// stall and per spool event. It defaults to slog.Default().
	Logger *slog.Logger

	// Dial opens connections to brokers; tests use it to inject failures.
	// kafka-go's goroutines call it; it may block until ctx is done. It
	// defaults to a net.Dialer with a 5-second timeout.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Defaults of WriterConfig, applied by WithDefaults.
const (
	DefaultBatchTimeout = 10 * time.Millisecond
	DefaultBatchSize    = 500
	DefaultBatchBytes   = 1 << 20
	DefaultRequiredAcks = "all"
	DefaultWriteTimeout = 10 * time.Second
	DefaultStallTimeout = 20 * time.Second
	DefaultBufferBytes  = 32 << 20
	DefaultCloseTimeout = 10 * time.Second
	defaultDialTimeout  = 5 * time.Second
)

// setDefaults sets every zero field of c to its default. It is the only
// place defaults are applied.
func (c *WriterConfig) setDefaults() {
	if c.BatchTimeout == 0 {
		c.BatchTimeout = DefaultBatchTimeout
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.RequiredAcks == "" {
		c.RequiredAcks = DefaultRequiredAcks
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.BufferBytes == 0 {
		c.BufferBytes = DefaultBufferBytes
	}
	if c.Spool.MaxBytes == 0 {
		c.Spool.MaxBytes = DefaultSpoolMaxBytes
	}
	if c.Spool.SegmentBytes == 0 {
		c.Spool.SegmentBytes = DefaultSpoolSegmentBytes
	}
	if c.Spool.Fsync == "" {
		c.Spool.Fsync = DefaultSpoolFsync
	}
	if c.Spool.FsyncInterval == 0 {
		c.Spool.FsyncInterval = DefaultSpoolFsyncInterval
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Dial == nil {
		c.Dial = (&net.Dialer{Timeout: defaultDialTimeout}).DialContext
	}
}

// WithDefaults returns c with every zero field set to its default, as
// NewWriter uses it.
func (c WriterConfig) WithDefaults() WriterConfig {
	c.setDefaults()
	return c
}

// Validate reports every problem of c, with defaults applied to unset
// fields.
func (c WriterConfig) Validate() error {
	return c.WithDefaults().validate()
}

// validate reports every problem of c, which has its defaults applied.
func (c WriterConfig) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, fmt.Errorf("sink: Brokers is required"))
	}
	for i, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("sink: Brokers[%d] %q is not host:port: %w", i, b, err))
		}
	}
	if c.Topic == "" {
		errs = append(errs, fmt.Errorf("sink: Topic is required"))
	} else if err := checkTopic(c.Topic); err != nil {
		errs = append(errs, fmt.Errorf("sink: Topic %q: %w", c.Topic, err))
	}
	if c.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("sink: BatchSize must not be negative, got %d", c.BatchSize))
	}
	if c.BatchBytes < 0 {
		errs = append(errs, fmt.Errorf("sink: BatchBytes must not be negative, got %d", c.BatchBytes))
	}
	if c.BatchBytes > 1<<31-1 {
		errs = append(errs, fmt.Errorf("sink: BatchBytes must be below 2 GiB, got %d", c.BatchBytes))
	}
	if _, err := c.requiredAcks(); err != nil {
		errs = append(errs, err)
	}
	if c.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("sink: WriteTimeout must not be negative, got %s", c.WriteTimeout))
	}
	if c.StallTimeout < 0 {
		errs = append(errs, fmt.Errorf("sink: StallTimeout must not be negative, got %s", c.StallTimeout))
	}
	if c.BufferBytes < 0 {
		errs = append(errs, fmt.Errorf("sink: BufferBytes must not be negative, got %d", c.BufferBytes))
	}
	if c.CloseTimeout < 0 {
		errs = append(errs, fmt.Errorf("sink: CloseTimeout must not be negative, got %s", c.CloseTimeout))
	}
	if _, err := c.compression(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Spool.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Security.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// requiredAcks maps RequiredAcks to kafka-go's value.
func (c WriterConfig) requiredAcks() (kafka.RequiredAcks, error) {
	switch c.RequiredAcks {
	case "all":
		return kafka.RequireAll, nil
	case "one":
		return kafka.RequireOne, nil
	case "none":
		return kafka.RequireNone, nil
	}
	return 0, fmt.Errorf(`sink: RequiredAcks must be "all", "one" or "none", got %q`, c.RequiredAcks)
}

// compression maps Compression to kafka-go's codec; 0 means none.
func (c WriterConfig) compression() (kafka.Compression, error) {
	switch c.Compression {
	case "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf(`sink: Compression must be "", "none", "gzip", "snappy", "lz4" or "zstd", got %q`, c.Compression)
}
