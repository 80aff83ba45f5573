package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/earshot/earshot/sink"
)

// Readiness checks: a broker check is reused this long, so that probes
// cannot load the brokers, and bounded by readyTimeout.
const (
	readyCacheFor = 2 * time.Second
	readyTimeout  = 3 * time.Second
)

// broker is what readiness asks of the Kafka writer.
type broker interface {
	Health() sink.Health
	Ping(ctx context.Context) error
}

// readiness serves /readyz: 200 when at least one stream is configured
// (in fleet mode: the registry is loaded and the instance not fenced)
// and the broker is reachable (the writer is not stalled, and a metadata
// request is answered); otherwise 503 with the reason. /readyz needs no
// token, so when the listener is reachable beyond loopback the reason
// leaves out the broker's error, which names its addresses.
type readiness struct {
	streams func() int
	// fleet, in fleet mode, says why the instance is not ready (fenced,
	// registry not loaded yet); an instance of a fleet may own no stream.
	fleet  func() error
	broker broker
	// terse leaves the broker's errors out of the answers.
	terse bool

	mu      sync.Mutex // held during a check: concurrent probes share it
	checked time.Time
	err     error
}

func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if err := r.check(req.Context()); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

func (r *readiness) check(ctx context.Context) error {
	if r.fleet != nil {
		if err := r.fleet(); err != nil {
			return err
		}
	} else if r.streams() == 0 {
		return errors.New("no stream configured")
	}
	h := r.broker.Health()
	if h.Stalled {
		if r.terse {
			return fmt.Errorf("kafka stalled since %s", h.StalledSince.Format(time.RFC3339))
		}
		return fmt.Errorf("kafka stalled since %s: %s", h.StalledSince.Format(time.RFC3339), h.Reason)
	}
	if h.SpoolError != "" {
		if r.terse {
			return errors.New("spool cannot write")
		}
		return fmt.Errorf("spool cannot write: %s", h.SpoolError)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < readyCacheFor {
		return r.err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	r.err = r.broker.Ping(ctx)
	switch {
	case r.err != nil && r.terse:
		r.err = errors.New("kafka not reachable")
	case r.err != nil:
		r.err = fmt.Errorf("kafka: %w", r.err)
	}
	r.checked = time.Now()
	return r.err
}
