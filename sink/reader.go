package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/sink/schema"
)

// Reader settings of ReadTopic.
//
// kafka-go's Reader gives a fetch response readMaxWait to start arriving
// (the broker is asked to answer within three quarters of it) and
// otherwise drops the connection and fetches again from the same offset.
// A response must therefore be quick to produce: a 16 MiB fetch of a
// backlog (kfake answers one request at a time, and each timed-out fetch
// it still answers delays the retries) timed out on every retry, even with
// 1 s, and a 15 MB topic could not be read at all. readMaxBytes is
// kafka-go's default, which any record batch up to max.message.bytes
// still passes (the broker returns the first batch whole).
const (
	readMaxWait  = time.Second      // longest fetch wait; bounds how long stopping takes
	readMaxBytes = 1 << 20          // largest fetch response per partition
	readTimeout  = 10 * time.Second // dial and metadata timeout
)

// ReadTopic consumes every partition of topic from its oldest record and
// calls fn for each record, in order within a partition, serially from the
// calling goroutine. Messages ParseMessage rejects are skipped: the first is
// logged with its error, and their count is logged when ReadTopic returns.
// ReadTopic does not join a consumer group and commits nothing.
//
// It returns ctx's error once ctx is done, fn's error as soon as fn returns
// one, or an error naming the topic if it does not exist or a partition
// cannot be read.
func ReadTopic(ctx context.Context, brokers []string, topic string, fn func(schema.Record) error) error {
	return Read(ctx, ReadConfig{Brokers: brokers, Topic: topic}, fn)
}

// ReadConfig says what Read consumes and how it connects.
type ReadConfig struct {
	// Brokers are the bootstrap brokers, as host:port. Required.
	Brokers []string
	// Topic is the topic to read. Required.
	Topic string
	// Security is TLS and SASL, as for the writer. It defaults to
	// plaintext without authentication.
	Security Security
}

// Read is ReadTopic over the connections c.Security describes.
func Read(ctx context.Context, c ReadConfig, fn func(schema.Record) error) error {
	topic := c.Topic
	var skipped int
	defer func() {
		if skipped > 0 {
			slog.Warn("sink: skipped unparseable messages", "topic", topic, "count", skipped)
		}
	}()
	return ReadMessages(ctx, c, func(m kafka.Message) error {
		r, err := ParseMessage(m)
		if err != nil {
			if skipped == 0 {
				slog.Warn("sink: skipping unparseable message", "topic", topic, "partition", m.Partition, "offset", m.Offset, "error", err)
			}
			skipped++
			return nil
		}
		return fn(r)
	})
}

// ReadMessages is Read for callers that need the Kafka messages themselves
// (their partition and offset; consumer.Decode parses them): it calls fn
// for every message of every partition of c.Topic, from the oldest, in
// order within a partition, serially from the calling goroutine, and
// returns as Read does.
func ReadMessages(ctx context.Context, c ReadConfig, fn func(kafka.Message) error) error {
	dial, err := c.Security.load()
	if err != nil {
		return fmt.Errorf("sink: read: %w", err)
	}
	return readMessages(ctx, c.Brokers, c.Topic, dial, fn)
}

// readMessages runs one kafka.Reader per partition of topic, each in its own
// goroutine, and passes their messages to fn from the calling goroutine. It
// stops every reader before it returns.
func readMessages(ctx context.Context, brokers []string, topic string, dial dialOptions, fn func(kafka.Message) error) error {
	if len(brokers) == 0 {
		return errors.New("sink: read: no brokers")
	}
	if err := checkTopic(topic); err != nil {
		return fmt.Errorf("sink: read topic %q: %w", topic, err)
	}
	partitions, err := lookupPartitions(ctx, brokers, topic, dial)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	msgs := make(chan kafka.Message)
	errc := make(chan error, len(partitions))
	for _, p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := readPartition(ctx, brokers, topic, p, dial, msgs); err != nil {
				errc <- err
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		case m := <-msgs:
			if err := fn(m); err != nil {
				return err
			}
		}
	}
}

// lookupPartitions returns the partition ids of topic, with a transport of
// its own that it closes.
func lookupPartitions(ctx context.Context, brokers []string, topic string, dial dialOptions) ([]int, error) {
	tctx, stop := context.WithCancel(context.Background())
	transport := &kafka.Transport{ClientID: "earshot", Context: tctx, TLS: dial.tls, SASL: dial.sasl}
	defer func() {
		stop()
		transport.CloseIdleConnections()
	}()
	return topicPartitions(ctx, transport, brokers, topic, readTimeout)
}

// readPartition sends the messages of one partition to msgs until ctx is
// done, when it returns nil, or reading fails.
func readPartition(ctx context.Context, brokers []string, topic string, partition int, dial dialOptions, msgs chan<- kafka.Message) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   brokers,
		Topic:     topic,
		Partition: partition,
		Dialer:    &kafka.Dialer{ClientID: "earshot", Timeout: readTimeout, TLS: dial.tls, SASLMechanism: dial.sasl},
		MinBytes:  1,
		MaxBytes:  readMaxBytes,
		MaxWait:   readMaxWait,
		// Fetch errors are retried; at debug level they explain a reader
		// that makes no progress.
		ErrorLogger: kafka.LoggerFunc(func(format string, args ...any) {
			slog.Debug("sink: read: "+fmt.Sprintf(format, args...), "topic", topic, "partition", partition)
		}),
	})
	defer r.Close()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sink: read topic %q partition %d: %w", topic, partition, err)
		}
		select {
		case msgs <- m:
		case <-ctx.Done():
			return nil
		}
	}
}
