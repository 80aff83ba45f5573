package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/sink"
)

// errTopicMissing is returned by Run when the topic does not exist: a
// configuration error, since earshot never creates topics.
var errTopicMissing = errors.New("kafka topic does not exist")

// pingTimeout bounds the broker check at start.
const pingTimeout = 5 * time.Second

// service is earshot's pipeline: the ingest supervisor feeding the Kafka
// writer. Shutdown order: ingest stops pulling, flushes its chunkers and
// writes each stream's end record into the writer (which never blocks);
// then the writer delivers what it holds for up to kafka.close_timeout and
// leaves the rest in the spool.
type service struct {
	log    *slog.Logger
	writer *sink.Writer
	sup    *ingest.Supervisor
}

func newService(c *Config, log *slog.Logger) (*service, error) {
	w, err := sink.NewWriter(c.writerConfig(log))
	if err != nil {
		return nil, err
	}
	sup, err := ingest.New(c.ingestConfig(log), w)
	if err != nil {
		w.Close()
		return nil, err
	}
	return &service{log: log, writer: w, sup: sup}, nil
}

// Run pulls until ctx is done, then drains. It returns an error wrapping
// errTopicMissing, without pulling, if the topic does not exist; otherwise
// the writer's Close error (a *sink.UndeliveredError when records were left
// in the spool or lost).
func (s *service) Run(ctx context.Context) error {
	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	err := s.writer.Ping(pingCtx)
	cancel()
	switch {
	case errors.Is(err, kafka.UnknownTopicOrPartition):
		s.writer.Close()
		return fmt.Errorf("%w: %w", errTopicMissing, err)
	case err != nil && ctx.Err() == nil:
		// Not fatal: records go to the spool until the brokers answer.
		s.log.Warn("kafka not reachable at start; spooling until it is", "err", err)
	}
	err = s.sup.Run(ctx)
	h := s.writer.Health()
	s.log.Info("ingest stopped; delivering what is left", "pending", h.Pending)
	if cerr := s.writer.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}
