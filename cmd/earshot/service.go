package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
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
// writer, and the admin listener. Shutdown order: ingest stops pulling and
// drains into the writer, then the writer delivers what it holds and
// closes; the admin listener closes last, so the API answers while the
// pipeline drains.
type service struct {
	log    *slog.Logger
	writer *sink.Writer
	sup    *ingest.Supervisor
	admin  *adminServer // nil when off
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
	admin, err := newAdminServer(c.Admin, sup.Handler(), log)
	if err != nil {
		w.Close()
		return nil, err
	}
	return &service{log: log, writer: w, sup: sup, admin: admin}, nil
}

// AdminAddr returns the admin listener's address, "" when it is off.
func (s *service) AdminAddr() string {
	if s.admin == nil {
		return ""
	}
	return s.admin.Addr()
}

// Run pulls until ctx is done, then drains: ingest stops pulling, flushes
// its chunkers and writes each stream's end record into the writer (which
// never blocks); the writer then delivers what it holds for up to
// kafka.close_timeout and leaves the rest in the spool. It returns an error
// wrapping errTopicMissing, without pulling, if the topic does not exist;
// otherwise the writer's Close error (a *sink.UndeliveredError when records
// were left in the spool or lost).
func (s *service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	if s.admin != nil {
		wg.Go(func() { s.admin.Run(adminCtx) })
	}
	defer wg.Wait()
	defer stopAdmin()

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
	s.log.Info("ingest stopped; delivering what is left", "pending", s.writer.Health().Pending)
	if cerr := s.writer.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}

// Reload applies the streams of c: only streams added, removed or changed
// are touched. Other settings need a restart; a change to them is logged.
func (s *service) Reload(old, c *Config) (ingest.Changes, error) {
	ch, err := s.sup.Reload(c.ingestConfig(nil).Streams)
	o, n := *old, *c
	o.Streams, n.Streams = nil, nil
	if !reflect.DeepEqual(o, n) {
		s.log.Warn("reload: only streams are reloaded; restart earshot to apply the other changes")
	}
	return ch, err
}
