package sink

import (
	"context"
	"net"
	"sync"
)

// connTracker dials broker connections and remembers the open ones, so that a
// Writer whose deadline passed can close them all and unblock kafka-go's
// goroutines (a retired producer's produce requests in flight).
type connTracker struct {
	dial func(ctx context.Context, network, address string) (net.Conn, error)

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newConnTracker(dial func(ctx context.Context, network, address string) (net.Conn, error)) *connTracker {
	return &connTracker{dial: dial, conns: make(map[*trackedConn]struct{})}
}

// Dial opens a connection with the configured dialer and tracks it. After
// closeAll it fails with net.ErrClosed. kafka-go calls it from its own
// goroutines.
func (t *connTracker) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, net.ErrClosed
	}
	c, err := t.dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, tracker: t}
	t.conns[tc] = struct{}{}
	return tc, nil
}

// forget stops tracking c; trackedConn.Close calls it.
func (t *connTracker) forget(c *trackedConn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// closeAll closes every open connection and makes later dials fail.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	t.closed = true
	conns := t.conns
	t.conns = make(map[*trackedConn]struct{})
	t.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
}
