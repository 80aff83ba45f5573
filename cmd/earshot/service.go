package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/sink"
)

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

// Run pulls until ctx is done, then drains. The error reports records the
// writer could not deliver.
func (s *service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	if s.admin != nil {
		wg.Go(func() { s.admin.Run(adminCtx) })
	}
	defer wg.Wait()
	defer stopAdmin()

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
