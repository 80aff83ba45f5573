package loadtest

import (
	"sync"

	"github.com/bluenviron/gortsplib/v4"
)

// readers tracks which stream each RTSP connection and session is for, so
// that faults can reset a stream's connections and end its sessions. The
// RTSP handler adds and removes entries from gortsplib's goroutines; the
// fault code reads them under Server.mu. mu is a leaf lock: nothing that
// blocks is called while holding it.
type readers struct {
	mu       sync.Mutex
	conns    map[*faultConn]*stream
	sessions map[*gortsplib.ServerSession]*stream
}

func newReaders() *readers {
	return &readers{
		conns:    make(map[*faultConn]*stream),
		sessions: make(map[*gortsplib.ServerSession]*stream),
	}
}

// trackConn records that conn asked for st.
func (r *readers) trackConn(conn *gortsplib.ServerConn, st *stream) {
	fc, ok := conn.NetConn().(*faultConn)
	if !ok {
		return
	}
	fc.stream.Store(st)
	r.mu.Lock()
	r.conns[fc] = st
	r.mu.Unlock()
}

func (r *readers) untrackConn(fc *faultConn) {
	r.mu.Lock()
	delete(r.conns, fc)
	r.mu.Unlock()
}

// trackSession records that ss set up st.
func (r *readers) trackSession(ss *gortsplib.ServerSession, st *stream) {
	r.mu.Lock()
	r.sessions[ss] = st
	r.mu.Unlock()
}

func (r *readers) untrackSession(ss *gortsplib.ServerSession) {
	r.mu.Lock()
	delete(r.sessions, ss)
	r.mu.Unlock()
}

// resetConns resets the connections that asked for st.
func (r *readers) resetConns(st *stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	forStream(r.conns, st, (*faultConn).reset)
}

// endSessions closes st's sessions, and with them their connections. It
// does not wait: gortsplib closes them on their own goroutines.
func (r *readers) endSessions(st *stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	forStream(r.sessions, st, (*gortsplib.ServerSession).Close)
}

// forStream calls f for each key of m that maps to st.
func forStream[K comparable](m map[K]*stream, st *stream, f func(K)) {
	for k, s := range m {
		if s == st {
			f(k)
		}
	}
}
