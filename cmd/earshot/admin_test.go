package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// adminCases: with a token, everything needs it but /healthz and /readyz.
var adminCases = []struct {
	name, path, auth string
	status           int
}{
	{"health needs no token", "/healthz", "", 200},
	{"readiness needs no token", "/readyz", "", 200},
	{"metrics without a token are refused", "/metrics", "", 401},
	{"metrics with the token pass", "/metrics", "Bearer s3cret", 200},
	{"pprof without a token is refused", "/debug/pprof/", "", 401},
	{"pprof with the token passes", "/debug/pprof/goroutine?debug=1", "Bearer s3cret", 200},
	{"the API without a token is refused", "/api/x", "", 401},
	{"a wrong token is refused", "/api/x", "Bearer nope", 401},
	{"a token of another scheme is refused", "/api/x", "Basic s3cret", 401},
	{"the right token passes", "/api/x", "Bearer s3cret", 200},
	{"the scheme is case-insensitive (RFC 7235)", "/api/x", "bearer s3cret", 200},
	{"the scheme in capitals passes too", "/api/x", "BEARER s3cret", 200},
	{"a token with no scheme is refused", "/api/x", "s3cret", 401},
}

func TestAdminRequiresTokenButForHealthAndReadiness(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("api")) })
	a := serveAdmin(t, AdminConfig{Listen: "127.0.0.1:0", Token: "s3cret"}, adminRoutes{API: api, Metrics: api, Ready: api})
	for _, c := range adminCases {
		req, _ := http.NewRequest("GET", "http://"+a.Addr()+c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.name, res.StatusCode, c.status)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestAdminListenOffAndBadAddress(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if a, err := newAdminServer(AdminConfig{Listen: "off"}, adminRoutes{}, log); a != nil || err != nil {
		t.Errorf("off: %v, %v", a, err)
	}
	if _, err := newAdminServer(AdminConfig{Listen: "256.0.0.1:1"}, adminRoutes{}, log); err == nil {
		t.Error("a bad address was accepted")
	}
	// Refused before binding: nothing listens beyond loopback.
	if _, err := newAdminServer(AdminConfig{Listen: "0.0.0.0:0"}, adminRoutes{}, log); err == nil || !strings.Contains(err.Error(), "allow_insecure") {
		t.Errorf("a listener beyond loopback without a token: %v", err)
	}
}

// slowClients each open a connection and misbehave; the server must close
// it within its timeouts rather than hold a goroutine for ever.
var slowClients = []struct {
	name string
	send string // written once; the client then only reads
	// complete: the request is whole, so an answer comes before the close.
	complete bool
}{
	{"headers that never end (ReadHeaderTimeout)", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Le", false},
	{"a body that never ends (ReadTimeout)", "POST /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nContent-Length: 1000\r\n\r\n{\"id\":", false},
	{"a kept-alive connection left idle (IdleTimeout)", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", true},
}

// TestAdminCutsOffSlowClients: 300 connections of each slow client (the
// reproduction held 300 goroutines for ever) are all closed by the server
// within the configured timeouts, and leave no goroutine behind (goleak,
// in TestMain).
func TestAdminCutsOffSlowClients(t *testing.T) {
	const conns = 300
	const timeout = 300 * time.Millisecond
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As the stream API does: read the whole body.
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write([]byte("api"))
	})
	a := serveAdmin(t, AdminConfig{Listen: "127.0.0.1:0", Token: "s3cret", ReadTimeout: timeout, IdleTimeout: timeout}, adminRoutes{API: api})

	for _, c := range slowClients {
		t.Run(c.name, func(t *testing.T) {
			var open []net.Conn
			for range conns {
				conn, err := net.Dial("tcp", a.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, err := io.WriteString(conn, c.send); err != nil {
					t.Fatal(err)
				}
				open = append(open, conn)
			}
			start := time.Now()
			for i, conn := range open {
				// The deadline only keeps a failing test from hanging.
				conn.SetReadDeadline(time.Now().Add(15 * time.Second))
				got, err := io.ReadAll(conn) // returns at the server's close
				if err != nil {
					t.Fatalf("connection %d not closed by the server: %v", i, err)
				}
				if answered := strings.HasPrefix(string(got), "HTTP/1.1 200"); answered != c.complete {
					t.Errorf("connection %d: answered %q", i, got)
					break
				}
			}
			if took := time.Since(start); took > 20*timeout {
				t.Errorf("closing %d slow connections took %s with %s timeouts", conns, took, timeout)
			}
		})
	}
}

// TestAdminBoundsRequestBodies: a body beyond the admin listener's limit
// fails the handler's read, whatever the handler.
func TestAdminBoundsRequestBodies(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
		}
		w.Write([]byte("api"))
	})
	a := serveAdmin(t, AdminConfig{Listen: "127.0.0.1:0"}, adminRoutes{API: api})
	for _, c := range []struct {
		size   int
		status int
	}{{maxAdminBody, 200}, {maxAdminBody + 1, 413}} {
		res, err := http.Post("http://"+a.Addr()+"/api/x", "application/json", strings.NewReader(strings.Repeat("x", c.size)))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Errorf("a body of %d bytes: status %d, want %d", c.size, res.StatusCode, c.status)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

// serveAdmin runs an admin server until the test ends.
func serveAdmin(t *testing.T, c AdminConfig, routes adminRoutes) *adminServer {
	t.Helper()
	a, err := newAdminServer(c, routes, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return a
}
