package ingest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/sink"
)

// Sink receives records. Write may block while the sink is behind; it
// returns when ctx is done. Records of one stream are written in order by
// one goroutine.
type Sink interface {
	Write(ctx context.Context, r sink.Record) error
}

// Supervisor owns the SDK and one worker goroutine per stream.
type Supervisor struct {
	cfg     Config
	sink    Sink
	sdk     *sdk.SDK
	streams []*stream
	// epochBase makes epochs unique across restarts of the process, so
	// that (stream, epoch, seq) identifies a record for deduplication:
	// milliseconds since 1970 at New, far more than a stream reconnects.
	epochBase uint64
	// writeCtx bounds sink writes: it ends DrainTimeout after Run's context,
	// so that records produced while stopping are still written.
	writeCtx context.Context
}

// New validates cfg. Nothing runs until Run.
func New(cfg Config, s Sink) (*Supervisor, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("ingest config: %w", err)
	}
	if s == nil {
		return nil, fmt.Errorf("ingest: nil sink")
	}
	sup := &Supervisor{cfg: cfg, sink: s, epochBase: uint64(time.Now().UnixMilli())}
	for _, sc := range cfg.Streams {
		sup.streams = append(sup.streams, newStream(sup, sc))
	}
	return sup, nil
}

// Run pulls every stream until ctx is done, then closes the SDK, writes
// each stream's remaining audio and end record, and returns nil. It returns
// an error only if it cannot start.
func (s *Supervisor) Run(ctx context.Context) error {
	sd, err := sdk.New(s.cfg.SDK)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	s.sdk = sd
	defer sd.Shutdown()

	writeCtx, cancelWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWrites()
	// A cancel after Run has returned is a no-op, so the timer needs no stop.
	defer context.AfterFunc(ctx, func() { time.AfterFunc(s.cfg.DrainTimeout, cancelWrites) })()
	s.writeCtx = writeCtx

	var wg sync.WaitGroup
	for _, st := range s.streams {
		wg.Go(func() { st.run(ctx) })
	}
	wg.Wait()
	return nil
}

// Stats returns every stream's counters, in configuration order.
func (s *Supervisor) Stats() []StreamStats {
	out := make([]StreamStats, len(s.streams))
	for i, st := range s.streams {
		out[i] = st.stats()
	}
	return out
}
