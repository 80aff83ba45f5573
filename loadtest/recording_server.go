package loadtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/conn"
)

// RecordedRequest is one request a RecordingServer received.
type RecordedRequest struct {
	Method base.Method
	URL    string
	// Authorization is the request's Authorization header, "" if none.
	Authorization string
}

// RecordingServer is a hostile RTSP server written by hand, for what a
// gortsplib server cannot be made to do: it counts the connections it
// accepts and records every request. It answers OPTIONS with 200, and
// DESCRIBE with Describe's response (404 if nil), every other request with
// 200; with Challenge set, a request without an Authorization header gets
// 401 with a Basic challenge first, so that a client holding credentials
// sends them. Server's redirect_other_host fault redirects to one.
type RecordingServer struct {
	// Challenge asks for credentials. Set it before Start.
	Challenge bool
	// Describe answers a DESCRIBE; it may be called concurrently. Set it
	// before Start.
	Describe func(req *base.Request) *base.Response

	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	accepts  int
	requests []RecordedRequest
	conns    map[net.Conn]bool
	closed   bool
}

// Start listens on host:0; host should be within 127.0.0.0/8 (127.0.0.2 is
// "another host" to a client of 127.0.0.1).
func (r *RecordingServer) Start(host string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return fmt.Errorf("recording server: %w", err)
	}
	r.ln, r.conns = ln, map[net.Conn]bool{}
	r.wg.Go(r.accept)
	return nil
}

// Close closes the listener and every connection, and waits for them.
func (r *RecordingServer) Close() {
	r.ln.Close()
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// URL returns rtsp://host:port followed by path.
func (r *RecordingServer) URL(path string) string {
	return "rtsp://" + r.ln.Addr().String() + path
}

// Seen returns how many connections the server accepted and the requests
// it received, in order.
func (r *RecordingServer) Seen() (accepts int, requests []RecordedRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accepts, append([]RecordedRequest(nil), r.requests...)
}

func (r *RecordingServer) accept() {
	for {
		nc, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.accepts++
		if r.closed {
			r.mu.Unlock()
			nc.Close()
			continue
		}
		r.conns[nc] = true
		r.mu.Unlock()
		r.wg.Go(func() { r.serve(nc) })
	}
}

func (r *RecordingServer) serve(nc net.Conn) {
	defer func() {
		nc.Close()
		r.mu.Lock()
		delete(r.conns, nc)
		r.mu.Unlock()
	}()
	c := conn.NewConn(struct {
		io.Reader
		io.Writer
	}{bufio.NewReader(nc), nc})
	for {
		req, err := c.ReadRequest()
		if err != nil {
			return
		}
		rec := RecordedRequest{Method: req.Method, URL: req.URL.String()}
		if a := req.Header["Authorization"]; len(a) > 0 {
			rec.Authorization = a[0]
		}
		r.mu.Lock()
		r.requests = append(r.requests, rec)
		r.mu.Unlock()
		res := &base.Response{StatusCode: base.StatusOK, Header: base.Header{}}
		switch {
		case r.Challenge && rec.Authorization == "":
			res.StatusCode = base.StatusUnauthorized
			res.Header["WWW-Authenticate"] = base.HeaderValue{`Basic realm="loadtest"`}
		case req.Method == base.Options:
			res.Header["Public"] = base.HeaderValue{"DESCRIBE, SETUP, PLAY, TEARDOWN"}
		case req.Method == base.Describe && r.Describe != nil:
			res = r.Describe(req)
			if res.Header == nil {
				res.Header = base.Header{}
			}
		case req.Method == base.Describe:
			res.StatusCode = base.StatusNotFound
		}
		res.Header["CSeq"] = req.Header["CSeq"]
		if err := c.WriteResponse(res); err != nil {
			return
		}
	}
}

// decoyHost is the other host of FaultRedirectOtherHost: a RecordingServer
// on 127.0.0.2, started by the first redirect to it, closed by
// Server.Close.
type decoyHost struct {
	mu     sync.Mutex
	srv    *RecordingServer
	closed bool
}

// start returns the decoy, starting it if needed. It is called from the
// RTSP handler's goroutines.
func (d *decoyHost) start() (*RecordingServer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return nil, errClosing
	case d.srv != nil:
		return d.srv, nil
	}
	srv := &RecordingServer{Challenge: true}
	if err := srv.Start("127.0.0.2"); err != nil {
		return nil, err
	}
	d.srv = srv
	return srv, nil
}

func (d *decoyHost) get() *RecordingServer {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.srv
}

func (d *decoyHost) close() {
	d.mu.Lock()
	srv := d.srv
	d.closed = true
	d.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}
