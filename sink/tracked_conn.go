package sink

import (
	"net"
	"sync"
)

// trackedConn is a connection opened by a connTracker; closing it removes it
// from the tracker.
type trackedConn struct {
	net.Conn
	tracker *connTracker
	once    sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.tracker.forget(c) })
	return c.Conn.Close()
}
