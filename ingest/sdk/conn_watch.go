package sdk

import (
	"sync"
	"time"
)

// handOverBound bounds how long a connWatch waits, after a transport
// switch closed the watched connection, for the client to start dialing
// the next one; then it assumes none comes and calls its function.
const handOverBound = time.Second

// connWatch calls a function when the connection a gortsplib client plays
// on is closed, so that no goroutine need wait for the client while it
// plays. gortsplib (v4.16.2) closes its connection whenever the client
// ends, whatever the cause: Client.run calls doClose after runInner
// returned (read error, timeout, Close), and doClose closes c.nconn,
// directly or through the tls.Conn wrapping it, which closes the
// connection it wraps. Client.Wait then returns promptly.
//
// A client also closes its connection while it lives on when it switches
// from UDP to TCP after PLAY (trySwitchingProtocol: OnTransportSwitch,
// reset, then doDescribe dials again). handOver, called from
// OnTransportSwitch, moves the watch to the connection dialed next; the
// function is called at once if that dial fails (the client then ends
// with no connection to close), or if no dial starts within
// handOverBound. Whatever happens, the function is called no later than
// the client's end: early is harmless, never is not.
type connWatch struct {
	mu   sync.Mutex
	conn *coalescingConn // dialed last
	// closed: conn has been closed. handingOver: the next close of conn
	// is a transport switch's. awaiting: a switch closed conn and no dial
	// has started since; timer bounds that wait.
	closed, handingOver, awaiting bool
	timer                         *time.Timer
	f                             func() // nil until onClose, then until called
}

// onClose calls f once the connection dialed last is closed, at once (on
// this goroutine) if it already is or if none was dialed.
func (w *connWatch) onClose(f func()) {
	w.mu.Lock()
	w.f = f
	w.mu.Unlock()
	w.fireIf(func() bool { return w.conn == nil || (w.closed && !w.awaiting) })
}

// handOver says that the next close of the connection is a transport
// switch's: the watch moves to the connection dialed next.
func (w *connWatch) handOver() {
	w.mu.Lock()
	w.handingOver = true
	w.mu.Unlock()
}

// dialing is called before each dial.
func (w *connWatch) dialing() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handingOver, w.awaiting = false, false
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

// dialed is called with each connection dialed, wrapped.
func (w *connWatch) dialed(c *coalescingConn) {
	w.mu.Lock()
	w.conn, w.closed = c, false
	w.mu.Unlock()
}

// dialFailed is called when a dial fails: if the watched connection was
// closed, the client ends without another.
func (w *connWatch) dialFailed() {
	w.fireIf(func() bool { return w.closed })
}

// closing is called by c's first Close.
func (w *connWatch) closing(c *coalescingConn) {
	w.fireIf(func() bool {
		if c != w.conn {
			return false
		}
		w.closed = true
		if w.handingOver {
			w.handingOver, w.awaiting = false, true
			w.timer = time.AfterFunc(handOverBound, w.dialNotStarted)
			return false
		}
		return true
	})
}

// dialNotStarted ends a hand-over that no dial followed.
func (w *connWatch) dialNotStarted() {
	w.fireIf(func() bool {
		if !w.awaiting {
			return false
		}
		w.awaiting = false
		return true
	})
}

// fireIf runs cond with w.mu held, then calls the function registered,
// once, if one is and cond says so.
func (w *connWatch) fireIf(cond func() bool) {
	w.mu.Lock()
	f := w.f
	fire := cond() && f != nil
	if fire {
		w.f = nil
	}
	w.mu.Unlock()
	if fire {
		f()
	}
}
