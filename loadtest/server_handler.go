package loadtest

import (
	"errors"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
)

// errConnReset ends the connection of a request FaultTCPReset refused.
var errConnReset = errors.New("loadtest: connection reset by a tcp_reset fault")

// errClosing ends a DESCRIBE that FaultSlowDescribe held when the server
// closes.
var errClosing = errors.New("loadtest: server closing")

// serverHandler answers gortsplib's RTSP requests for a Server, for one
// listening period (from listen to unlisten). gortsplib calls its methods
// from per-connection and per-session goroutines, concurrently. They never
// take Server.mu, and do not block, except a DESCRIBE held by
// FaultSlowDescribe, which waits for the fault to end or for closing.
type serverHandler struct {
	s *Server
	// closing is closed by unlisten before it closes the gortsplib server,
	// so that held requests let go.
	closing chan struct{}
}

var (
	_ gortsplib.ServerHandlerOnDescribe     = (*serverHandler)(nil)
	_ gortsplib.ServerHandlerOnSetup        = (*serverHandler)(nil)
	_ gortsplib.ServerHandlerOnPlay         = (*serverHandler)(nil)
	_ gortsplib.ServerHandlerOnConnClose    = (*serverHandler)(nil)
	_ gortsplib.ServerHandlerOnSessionClose = (*serverHandler)(nil)
)

// lookup finds the stream served at path (as gortsplib reports it, with a
// leading slash) and decides how to answer req for it: 404 for an unknown
// path, 503 while the stream is not served, the RTSP-level faults, then
// authentication. The connection is tracked as a reader of the stream, for
// the faults that act on connections.
func (h *serverHandler) lookup(conn *gortsplib.ServerConn, req *base.Request, path string) (*stream, *variant, *base.Response, error) {
	st, ok := h.s.byPath[path]
	if !ok {
		return nil, nil, &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	h.s.readers.trackConn(conn, st)
	for {
		v := st.cur.Load()
		if v == nil {
			return nil, nil, &base.Response{StatusCode: base.StatusServiceUnavailable}, nil
		}
		f := v.effects.Load().faults()
		switch {
		case f.reset:
			resetConn(conn)
			return nil, nil, &base.Response{StatusCode: base.StatusServiceUnavailable}, errConnReset
		case f.slow != nil && req.Method == base.Describe:
			select {
			case <-f.slow.done:
				continue // look again: other faults may have begun meanwhile
			case <-h.closing:
				return nil, nil, &base.Response{StatusCode: base.StatusServiceUnavailable}, errClosing
			}
		}
		if st.spec.User != "" && !conn.VerifyCredentials(req, st.spec.User, st.spec.Password) {
			// gortsplib adds the challenge, or closes the connection after
			// wrong credentials.
			return nil, nil, &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
		}
		switch {
		case f.unauthorized:
			// Checking impossible credentials sets up the connection's
			// digest nonce for the challenge gortsplib then adds.
			conn.VerifyCredentials(req, "loadtest", "\x00")
			return nil, nil, &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
		case f.notFound:
			return nil, nil, &base.Response{StatusCode: base.StatusNotFound}, nil
		case f.redirectLoop && req.Method == base.Describe:
			loc := *req.URL
			loc.User = nil
			return nil, nil, redirect(loc.String()), nil
		case f.redirectAway && req.Method == base.Describe:
			d, err := h.s.decoy.start()
			if err != nil {
				return nil, nil, &base.Response{StatusCode: base.StatusInternalServerError}, err
			}
			return nil, nil, redirect(d.URL(path)), nil
		}
		return st, v, &base.Response{StatusCode: base.StatusOK}, nil
	}
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (h *serverHandler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	_, v, res, err := h.lookup(ctx.Conn, ctx.Request, ctx.Path)
	if res.StatusCode != base.StatusOK {
		return res, nil, err
	}
	return res, v.ss, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup. Streams are live: a
// reader may SETUP at any time and joins at the current packet.
func (h *serverHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	st, v, res, err := h.lookup(ctx.Conn, ctx.Request, ctx.Path)
	if res.StatusCode != base.StatusOK {
		return res, nil, err
	}
	h.s.readers.trackSession(ctx.Session, st)
	// gortsplib panics if a session's SETUPs return different streams, as
	// they would if an SDP fault swapped the stream's variant in between;
	// the old stream is closed then, and so is the session.
	if prev := ctx.Session.SetuppedStream(); prev != nil {
		return res, prev, nil
	}
	return res, v.ss, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (h *serverHandler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnConnClose implements gortsplib.ServerHandlerOnConnClose.
func (h *serverHandler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	if fc, ok := ctx.Conn.NetConn().(*faultConn); ok {
		h.s.readers.untrackConn(fc)
	}
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (h *serverHandler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.s.readers.untrackSession(ctx.Session)
}

// redirect is a 302 Found to location.
func redirect(location string) *base.Response {
	return &base.Response{StatusCode: base.StatusFound, Header: base.Header{"Location": base.HeaderValue{location}}}
}

// resetConn resets conn's TCP connection; see faultConn.reset.
func resetConn(conn *gortsplib.ServerConn) {
	if fc, ok := conn.NetConn().(*faultConn); ok {
		fc.reset()
		return
	}
	conn.Close()
}
