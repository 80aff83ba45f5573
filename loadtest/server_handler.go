package loadtest

import (
	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// serverHandler answers gortsplib's RTSP requests for a Server. gortsplib
// calls its methods from per-connection and per-session goroutines,
// concurrently; they must not block.
type serverHandler struct {
	s *Server
}

var (
	_ gortsplib.ServerHandlerOnDescribe = (*serverHandler)(nil)
	_ gortsplib.ServerHandlerOnSetup    = (*serverHandler)(nil)
	_ gortsplib.ServerHandlerOnPlay     = (*serverHandler)(nil)
)

// lookup finds the stream served at path (as gortsplib reports it, with a
// leading slash). It returns a non-OK response when the request must be
// refused: 404 for an unknown path, 503 when the server is not running.
// Per-stream RTSP faults will hook in here.
func (h *serverHandler) lookup(path string) (*gortsplib.ServerStream, *base.Response) {
	st, ok := h.s.byPath[path]
	if !ok {
		return nil, &base.Response{StatusCode: base.StatusNotFound}
	}
	ss := st.rtsp.Load()
	if ss == nil {
		return nil, &base.Response{StatusCode: base.StatusServiceUnavailable}
	}
	return ss, &base.Response{StatusCode: base.StatusOK}
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (h *serverHandler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	ss, res := h.lookup(ctx.Path)
	return res, ss, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup. Streams are live: a
// reader may SETUP at any time and joins at the current packet.
func (h *serverHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	ss, res := h.lookup(ctx.Path)
	return res, ss, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (h *serverHandler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}
