package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/sink"
)

// service is earshot's pipeline: the ingest supervisor feeding the Kafka
// writer. Shutdown order: ingest stops pulling and drains into the writer,
// then the writer delivers what it holds and closes.
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

// Run pulls until ctx is done, then drains. The error reports records the
// writer could not deliver.
func (s *service) Run(ctx context.Context) error {
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := s.writer.Ping(pingCtx); err != nil && ctx.Err() == nil {
		// Not fatal: records queue and are retried until the broker answers.
		s.log.Warn("kafka not reachable at start", "err", err)
	}
	cancel()
	err := s.sup.Run(ctx)
	if cerr := s.writer.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("kafka writer: %w", cerr))
	}
	return err
}
