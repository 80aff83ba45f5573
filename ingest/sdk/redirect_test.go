package sdk_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/conn"

	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest"
)

// rawRequest is one request a rawServer received.
type rawRequest struct {
	method base.Method
	url    string
	auth   string // the Authorization header, "" if none
}

// rawServer is a hostile RTSP server written by hand: it counts the
// connections it accepts, records every request, and answers DESCRIBE
// with describe's response. Other requests get 200; with challenge set,
// requests without an Authorization header get 401 first, so that a
// client holding credentials would send them.
type rawServer struct {
	ln        net.Listener
	challenge bool
	describe  func(s *rawServer) *base.Response

	mu       sync.Mutex
	accepts  int
	requests []rawRequest
	wg       sync.WaitGroup
	conns    map[net.Conn]bool
}

// startRawServer listens on host:0 (host within 127.0.0.0/8).
func startRawServer(t *testing.T, host string, challenge bool, describe func(s *rawServer) *base.Response) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, challenge: challenge, describe: describe, conns: map[net.Conn]bool{}}
	s.wg.Go(s.accept)
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) url(path string) string { return "rtsp://" + s.ln.Addr().String() + path }

func (s *rawServer) accept() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.accepts++
		s.conns[nc] = true
		s.mu.Unlock()
		s.wg.Go(func() { s.serve(nc) })
	}
}

func (s *rawServer) serve(nc net.Conn) {
	defer func() {
		nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
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
		r := rawRequest{method: req.Method, url: req.URL.String()}
		if a := req.Header["Authorization"]; len(a) > 0 {
			r.auth = a[0]
		}
		s.mu.Lock()
		s.requests = append(s.requests, r)
		s.mu.Unlock()
		res := &base.Response{StatusCode: base.StatusOK, Header: base.Header{}}
		switch {
		case s.challenge && r.auth == "":
			res.StatusCode = base.StatusUnauthorized
			res.Header["WWW-Authenticate"] = base.HeaderValue{`Basic realm="decoy"`}
		case req.Method == base.Options:
			res.Header["Public"] = base.HeaderValue{"DESCRIBE, SETUP, PLAY, TEARDOWN"}
		case req.Method == base.Describe:
			res = s.describe(s)
		}
		res.Header["CSeq"] = req.Header["CSeq"]
		if err := c.WriteResponse(res); err != nil {
			return
		}
	}
}

func (s *rawServer) seen() (accepts int, requests []rawRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepts, append([]rawRequest(nil), s.requests...)
}

// redirectTo answers DESCRIBE with 302 to location.
func redirectTo(location func() string) func(*rawServer) *base.Response {
	return func(*rawServer) *base.Response {
		return &base.Response{StatusCode: base.StatusFound, Header: base.Header{"Location": base.HeaderValue{location()}}}
	}
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const redirectSecret = "s3cr3t-pass"

func TestRedirects(t *testing.T) {
	// A camera that wants the credentials, on the first server's host.
	cams, err := loadtest.NewServer(loadtest.ServerConfig{Streams: []loadtest.StreamSpec{{Name: "opus", Codec: "opus", User: "admin", Password: redirectSecret}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cams.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cams.Close)
	cases := []struct {
		name   string
		policy sdk.RedirectPolicy
		// to is where the first server redirects, given the decoy on
		// 127.0.0.2 and the first server itself.
		to func(decoy, self *rawServer) string
		// ok: Open succeeds; else its error wraps is, and is permanent
		// of this kind.
		ok   bool
		is   error
		kind string
		// decoyAccepts is how many connections the other host may get.
		decoyAccepts int
		// maxAccepts bounds the connections the first server gets.
		maxAccepts int
	}{
		{name: "a redirect to another host is refused by default, which the other host never hears of",
			policy: sdk.RedirectSameHost, to: func(d, _ *rawServer) string { return d.url("/opus;password=" + redirectSecret) },
			is: sdk.ErrRedirectRefused, kind: sdk.FailRedirect, maxAccepts: 1},
		// The other host then asks for credentials, and gets none.
		{name: "a redirect to another host is followed under any, without the credentials",
			policy: sdk.RedirectAny, to: func(d, _ *rawServer) string { return d.url("/opus") },
			kind: sdk.FailUnauthorized, decoyAccepts: 1, maxAccepts: 1},
		{name: "credentials in the Location are not ours to send either",
			policy: sdk.RedirectAny, to: func(d, _ *rawServer) string {
				return strings.Replace(d.url("/opus"), "rtsp://", "rtsp://admin:"+redirectSecret+"@", 1)
			},
			kind: sdk.FailUnauthorized, decoyAccepts: 1, maxAccepts: 1},
		{name: "no redirect is followed under none",
			policy: sdk.RedirectNone, to: func(d, _ *rawServer) string { return d.url("/opus") },
			is: sdk.ErrRedirectRefused, kind: sdk.FailRedirect, maxAccepts: 1},
		{name: "a redirect loop ends after 3 redirects",
			policy: sdk.RedirectSameHost, to: func(_, self *rawServer) string { return self.url("/loop") },
			is: sdk.ErrTooManyRedirects, kind: sdk.FailRedirect, maxAccepts: 4},
		{name: "a redirect to the same host on another port is followed with the credentials",
			policy: sdk.RedirectSameHost, to: func(*rawServer, *rawServer) string {
				return "rtsp://" + cams.Addr() + "/opus"
			},
			ok: true, maxAccepts: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The other host: it demands credentials, and answers
			// DESCRIBE with 404 once it has them.
			decoy := startRawServer(t, "127.0.0.2", true, func(*rawServer) *base.Response {
				return &base.Response{StatusCode: base.StatusNotFound}
			})
			var first *rawServer
			first = startRawServer(t, "127.0.0.1", false, redirectTo(func() string { return tc.to(decoy, first) }))
			var logs lockedBuffer
			s := newSDK(t, sdk.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			u := strings.Replace(first.url("/cam"), "rtsp://", "rtsp://admin:"+redirectSecret+"@", 1)
			h, err := s.Open(u, sdk.OpenOptions{Transport: sdk.TransportTCP, FollowRedirects: tc.policy, Timeout: waitTimeout})
			switch {
			case tc.ok && err != nil:
				t.Fatalf("Open: %v", err)
			case tc.ok:
				if err := s.Close(h); err != nil {
					t.Fatal(err)
				}
			case err == nil:
				t.Fatal("Open succeeded")
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Fatalf("Open error = %v, want %v", err, tc.is)
			}
			if err != nil {
				if kind, permanent := sdk.Classify(err); kind != tc.kind || !permanent {
					t.Errorf("Classify(%v) = %s, %t; want %s, permanent", err, kind, permanent, tc.kind)
				}
				if strings.Contains(err.Error(), redirectSecret) {
					t.Errorf("error leaks the password: %v", err)
				}
			}
			accepts, _ := first.seen()
			if accepts > tc.maxAccepts {
				t.Errorf("first server accepted %d connections, want at most %d", accepts, tc.maxAccepts)
			}
			decoyAccepts, decoyRequests := decoy.seen()
			if decoyAccepts != tc.decoyAccepts {
				t.Errorf("other host accepted %d connections, want %d", decoyAccepts, tc.decoyAccepts)
			}
			for _, r := range decoyRequests {
				if r.auth != "" || strings.Contains(r.url, redirectSecret) {
					t.Errorf("other host received credentials: %s %s Authorization=%q", r.method, r.url, r.auth)
				}
			}
			if strings.Contains(logs.String(), redirectSecret) {
				t.Errorf("log leaks the password:\n%s", logs.String())
			}
			if tc.decoyAccepts > 0 || tc.ok {
				if !strings.Contains(logs.String(), "following redirect") {
					t.Errorf("the redirect was not logged:\n%s", logs.String())
				}
			}
		})
	}
}
