package ingest

import (
	"errors"
	"testing"

	"github.com/earshot/earshot/sink/schema"

	"github.com/earshot/earshot/ingest/sdk"
)

// TestConnSignalsNeverBlockNorOutliveTheirConnection: a connection's
// callbacks never block, its first disconnection is the one kept, and the
// next connection starts with no signal of the previous one to drain.
func TestConnSignalsNeverBlockNorOutliveTheirConnection(t *testing.T) {
	var c counters
	first := newConn(&c)
	reset, closed := errors.New("reset"), errors.New("closed")
	first.onStatus(1, sdk.Status{Kind: sdk.StatusDisconnected, Err: reset})
	first.onStatus(1, sdk.Status{Kind: sdk.StatusDisconnected, Err: closed})
	first.onStatus(1, sdk.Status{Kind: sdk.StatusCallbackOverrun, Overruns: 3})
	first.signal(Stall{Reason: schema.ReasonNoRTP})
	first.signal(Stall{Reason: schema.ReasonRTCPOnly})
	if err := <-first.disc; err != reset {
		t.Errorf("disconnection %v, want the first: %v", err, reset)
	}
	if s := <-first.stall; s.Reason != schema.ReasonNoRTP {
		t.Errorf("stall %s, want the first: %s", s.Reason, schema.ReasonNoRTP)
	}
	if n := c.overruns.Load(); n != 3 {
		t.Errorf("%d overruns counted, want 3", n)
	}
	next := newConn(&c)
	select {
	case err := <-next.disc:
		t.Errorf("a new connection has a disconnection: %v", err)
	case s := <-next.stall:
		t.Errorf("a new connection has a stall: %+v", s)
	default:
	}
}
