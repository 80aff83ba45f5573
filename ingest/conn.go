package ingest

import (
	"time"

	"github.com/earshot/earshot/ingest/sdk"
)

// conn is one connection of a stream: its SDK handle, the signals that end
// it and when it began. The stream creates one per session and drops it
// when the session ends, so a signal never outlives its connection: there
// is nothing stale to drain or to tell apart by handle.
type conn struct {
	// h is the connection's handle and b the backend it belongs to; set
	// before the conn is published (stream.cur), never changed after.
	h     sdk.Handle
	b     backend
	start time.Time  // the session began streaming
	disc  chan error // disconnection reported by the status callback
	stall chan Stall // source stall found by the watchdog
	c     *counters  // the stream's
}

func newConn(c *counters) *conn {
	return &conn{disc: make(chan error, 1), stall: make(chan Stall, 1), c: c}
}

// onStatus is the SDK status callback of this connection. It runs on an
// SDK callback worker and never blocks: a second disconnection is
// dropped, the first one ends the session.
func (c *conn) onStatus(_ sdk.Handle, s sdk.Status) {
	switch s.Kind {
	case sdk.StatusDisconnected:
		select {
		case c.disc <- s.Err:
		default:
		}
	case sdk.StatusCallbackOverrun:
		c.c.overruns.Add(s.Overruns)
	}
}

// signal asks the worker to end this connection's session; called by the
// watchdog, it never blocks.
func (c *conn) signal(s Stall) {
	select {
	case c.stall <- s:
	default:
	}
}
