package sdk

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// maxReadCoalesce bounds OpenOptions.ReadCoalesce: the latency it adds
// stays well within a chunk.
const maxReadCoalesce = 100 * time.Millisecond

// readCoalescer makes the reads of one RTSP connection, once armed after
// PLAY, wait until delay after the previous read returned: a camera sends
// a packet every 20 ms or so, and gortsplib's reader would otherwise read
// each one as it arrives, with a second read finding nothing (EAGAIN) and
// parking. Waiting lets one read take the packets of several.
//
// It also makes a read burst cost one worker wake-up: once armed, the
// packets parsed from one read are queued with the handle's queue held,
// and the next read releases it, as gortsplib's reader wants more bytes
// only once it has dispatched every packet it has.
type readCoalescer struct {
	delay time.Duration
	burst burst // nil: none
	armed atomic.Bool
}

// burst is the queue whose scheduling the reads hold and release.
type burst interface {
	Hold()
	Release()
}

// dialer returns dial (net.Dialer's when nil) with its connections
// wrapped.
func (rc *readCoalescer) dialer(dial func(ctx context.Context, network, address string) (net.Conn, error)) func(ctx context.Context, network, address string) (net.Conn, error) {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return &coalescingConn{Conn: c, rc: rc}, nil
	}
}

// coalescingConn is a connection whose reads wait as its readCoalescer
// says. Reads come from one goroutine at a time (gortsplib's client during
// the handshake, its reader after PLAY); last is atomic all the same.
type coalescingConn struct {
	net.Conn
	rc   *readCoalescer
	last atomic.Int64 // unix nanoseconds when the previous read returned
}

func (c *coalescingConn) Read(p []byte) (int, error) {
	armed := c.rc.armed.Load()
	if armed && c.rc.burst != nil {
		c.rc.burst.Release()
	}
	if armed && c.rc.delay > 0 {
		if last := c.last.Load(); last != 0 {
			if d := c.rc.delay - time.Since(time.Unix(0, last)); d > 0 {
				time.Sleep(d)
			}
		}
	}
	n, err := c.Conn.Read(p)
	if c.rc.delay > 0 {
		c.last.Store(time.Now().UnixNano())
	}
	if armed && err == nil && n > 0 && c.rc.burst != nil {
		c.rc.burst.Hold()
	}
	return n, err
}
