package sdk

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestReadCoalescingGridShortensWaitsByLessThanAStep: a wait ends on
// a line of the grid (a step of delay): it is shortened by less than a
// step, never lengthened.
func TestReadCoalescingGridShortensWaitsByLessThanAStep(t *testing.T) {
	for _, delay := range []time.Duration{time.Millisecond, 40 * time.Millisecond, maxReadCoalesce} {
		rc := newReadCoalescer(delay, nil)
		step := delay
		for _, d := range []time.Duration{time.Nanosecond, step / 2, step, delay / 2, delay} {
			got := rc.onGrid(d)
			if got > d || got <= d-step {
				t.Errorf("delay %v: a wait of %v became %v, want within (%v, %v]", delay, d, got, d-step, d)
			}
		}
	}
}

// TestConnWatchCallsItsFunctionOnceTheClientPlaysOnNoConnection: the
// function is called once, when the connection dialed last is closed and
// no transport switch dials another, and never later than that.
func TestConnWatchCallsItsFunctionOnceTheClientPlaysOnNoConnection(t *testing.T) {
	errDial := errors.New("refused")
	cases := []struct {
		name string
		// run drives the watch through rc's dialer; dial dials or fails,
		// watch registers the function, calls reports how often it ran.
		run func(t *testing.T, dial func(fail bool) net.Conn, watch func(), calls func() int)
	}{
		{"closed after the function is registered", func(t *testing.T, dial func(bool) net.Conn, watch func(), calls func() int) {
			c := dial(false)
			watch()
			c.Close()
			c.Close()
		}},
		{"closed before the function is registered", func(t *testing.T, dial func(bool) net.Conn, watch func(), calls func() int) {
			c := dial(false)
			c.Close()
			watch()
		}},
		{"closed through tls.Client", func(t *testing.T, dial func(bool) net.Conn, watch func(), calls func() int) {
			c := tls.Client(dial(false), &tls.Config{})
			watch()
			c.Close()
		}},
		{"no connection dialed", func(t *testing.T, dial func(bool) net.Conn, watch func(), calls func() int) {
			watch()
		}},
		{"a connection closed before the last one was dialed", func(t *testing.T, dial func(bool) net.Conn, watch func(), calls func() int) {
			first := dial(false)
			last := dial(false)
			watch()
			first.Close()
			if calls() != 0 {
				t.Error("called when an earlier connection closed")
			}
			last.Close()
		}},
		{"a transport switch closes the connection and dials another", func(t *testing.T, dial func(bool) net.Conn, watch func(), calls func() int) {
			c := dial(false)
			watch()
			rcOf(c).watch.handOver()
			c.Close()
			next := dial(false)
			if calls() != 0 {
				t.Error("called on the switch")
			}
			next.Close()
		}},
		{"a transport switch fails to dial", func(t *testing.T, dial func(bool) net.Conn, watch func(), calls func() int) {
			c := dial(false)
			watch()
			rcOf(c).watch.handOver()
			c.Close()
			dial(true)
		}},
		{"a transport switch closes the connection and dials none", func(t *testing.T, dial func(bool) net.Conn, watch func(), calls func() int) {
			c := dial(false)
			watch()
			rcOf(c).watch.handOver()
			c.Close()
			time.Sleep(handOverBound - time.Nanosecond) // synctest: fake clock
			if calls() != 0 {
				t.Error("called before handOverBound")
			}
			time.Sleep(time.Nanosecond)
			synctest.Wait()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rc := newReadCoalescer(0, nil)
				var calls atomic.Int64
				dial := func(fail bool) net.Conn {
					client, server := net.Pipe()
					t.Cleanup(func() { server.Close(); client.Close() })
					conn, err := rc.dialer(func(context.Context, string, string) (net.Conn, error) {
						if fail {
							return nil, errDial
						}
						return client, nil
					})(context.Background(), "tcp", "x")
					if fail != (err != nil) {
						t.Fatalf("dial: %v", err)
					}
					return conn
				}
				c.run(t, dial, func() { rc.watch.onClose(func() { calls.Add(1) }) }, func() int { return int(calls.Load()) })
				if n := calls.Load(); n != 1 {
					t.Fatalf("called %d times, want once", n)
				}
			})
		})
	}
}

// rcOf returns the read coalescer of a connection its dialer made.
func rcOf(c net.Conn) *readCoalescer { return c.(*coalescingConn).rc }
