package sdk

import (
	"context"
	"net"
	"sync"
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
// A read that filled the caller's buffer (gortsplib's 4 KiB bufio.Reader)
// left data waiting: the next read does not wait, so that a backlog (after
// a scheduling hiccup, a burst from the camera, a packet larger than the
// buffer) drains at full speed rather than one buffer per delay. No read
// waits longer than delay, whatever the clocks do.
//
// It also makes a read burst cost one worker wake-up: once armed, the
// packets parsed from one read are queued with the handle's queue held,
// and the next read releases it, as gortsplib's reader wants more bytes
// only once it has dispatched every packet it has.
type readCoalescer struct {
	delay time.Duration // 0 or negative: reads do not wait
	burst burst         // nil: none
	armed atomic.Bool
	// epoch is the monotonic origin of coalescingConn.last.
	epoch time.Time
	// watch follows the connections dialed, for the SDK to learn when the
	// client plays on none.
	watch connWatch
}

func newReadCoalescer(delay time.Duration, b burst) *readCoalescer {
	return &readCoalescer{delay: delay, burst: b, epoch: time.Now()}
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
		rc.watch.dialing()
		c, err := dial(ctx, network, address)
		if err != nil {
			rc.watch.dialFailed()
			return nil, err
		}
		cc := &coalescingConn{Conn: c, rc: rc}
		if rc.delay > 0 {
			cc.quiet = newQuietReader(c)
		}
		rc.watch.dialed(cc)
		return cc, nil
	}
}

// coalescingConn is a connection whose reads wait as its readCoalescer
// says. Reads come from one goroutine at a time (gortsplib's client during
// the handshake, its reader after PLAY); last is atomic all the same.
type coalescingConn struct {
	net.Conn
	rc *readCoalescer
	// last is when the previous read returned, in nanoseconds since
	// rc.epoch (monotonic), or 0 if the next read must not wait: none
	// yet, or the previous one filled its buffer.
	last atomic.Int64
	// closeOnce tells rc.watch of the first Close only.
	closeOnce sync.Once
	// quiet reads the socket once armed, so that packets arriving while a
	// read waits do not signal it readable (quietReader); nil when reads
	// do not wait or c is not a socket.
	quiet *quietReader
}

// Close closes the connection and tells rc.watch. gortsplib calls it on
// its client goroutine, directly or through the tls.Conn wrapping c.
func (c *coalescingConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.rc.watch.closing(c) })
	return err
}

func (c *coalescingConn) Read(p []byte) (int, error) {
	armed := c.rc.armed.Load()
	if armed && c.rc.burst != nil {
		c.rc.burst.Release()
	}
	if armed && c.rc.delay > 0 {
		if last := c.last.Load(); last != 0 {
			since := time.Since(c.rc.epoch) - time.Duration(last)
			if d := min(c.rc.delay-since, c.rc.delay); d > 0 {
				time.Sleep(c.rc.onGrid(d))
			}
		}
	}
	var (
		n   int
		err error
	)
	if armed && c.quiet != nil {
		n, err = c.quiet.read(p)
	} else {
		n, err = c.Conn.Read(p)
	}
	if c.rc.delay > 0 {
		if n == len(p) {
			c.last.Store(0)
		} else {
			c.last.Store(max(int64(time.Since(c.rc.epoch)), 1))
		}
	}
	if armed && err == nil && n > 0 && c.rc.burst != nil {
		c.rc.burst.Hold()
	}
	return n, err
}

// onGrid shortens a wait of d so that it ends on a line of a grid of
// delay in wall-clock time, shared by every connection of the process:
// the reads of all connections then wake together, as one pass of the
// runtime's timers, rather than each at its own instant, and the process
// goes idle and wakes once per delay rather than once per connection.
// A connection locks onto the grid after its first wait: a read returns
// just after a line, and the next wait, delay later, ends on the next
// one. The wait is never longer than d.
func (rc *readCoalescer) onGrid(d time.Duration) time.Duration {
	g := int64(rc.delay)
	if g <= 0 {
		return d
	}
	r := time.Now().Add(d).UnixNano() % g
	if r < 0 { // before 1970
		r += g
	}
	return d - time.Duration(r)
}
