package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	netpprof "net/http/pprof"
	"strings"
	"time"

	pyroscopepprof "github.com/grafana/pyroscope-go/http/pprof"
)

// adminServer is the admin HTTP listener: /healthz, /readyz, /metrics,
// /api/ (the stream API) and /debug/pprof/. It is opened by
// newAdminServer, so a bad address fails at start, served by Run and
// closed when Run's context ends.
type adminServer struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// adminRoutes are the handlers the admin listener serves; a nil one is
// not served. Everything but /healthz and /readyz requires the token when
// one is set.
type adminRoutes struct {
	API     http.Handler // /api/
	Metrics http.Handler // /metrics
	Ready   http.Handler // /readyz
	// Console serves /console and /console/…, and checks the token itself:
	// its page loads without one and asks for it.
	Console http.Handler
}

// maxAdminBody bounds a request body on the admin listener; the stream
// API bounds its own further.
const maxAdminBody = 1 << 20

// newAdminServer listens on c's address; it returns nil when the listener
// is off. It refuses a listener reachable beyond loopback without a token
// unless c.AllowInsecure.
func newAdminServer(c AdminConfig, routes adminRoutes, log *slog.Logger) (*adminServer, error) {
	addr := c.listen()
	if addr == "" {
		return nil, nil
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	if c.Token == "" && !isLoopback(ln.Addr()) {
		log.Warn("admin listener is reachable beyond loopback without a token (admin.allow_insecure)", "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	if routes.Ready != nil {
		mux.Handle("GET /readyz", routes.Ready)
	}
	if routes.Metrics != nil {
		mux.Handle("GET /metrics", requireToken(c.Token, routes.Metrics))
	}
	if routes.API != nil {
		mux.Handle("/api/", requireToken(c.Token, routes.API))
	}
	if routes.Console != nil {
		mux.Handle("/console", routes.Console)
		mux.Handle("/console/", routes.Console)
	}
	mux.Handle("/debug/pprof/", requireToken(c.Token, pprofHandler()))
	return &adminServer{
		ln:  ln,
		log: log,
		// No WriteTimeout: /debug/pprof/profile and trace answer after
		// their duration. A client that sends slowly is cut off by the
		// read timeouts, an idle one by IdleTimeout.
		srv: &http.Server{
			Handler:           http.MaxBytesHandler(mux, maxAdminBody),
			ReadHeaderTimeout: c.readHeaderTimeout(),
			ReadTimeout:       c.readTimeout(),
			IdleTimeout:       c.idleTimeout(),
		},
	}, nil
}

// pprofHandler serves net/http/pprof's profiles. The CPU profile is
// pyroscope-go's handler, which pauses continuous profiling for the
// request instead of failing with "CPU profiling already in use".
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", netpprof.Index) // and every named profile: heap, goroutine, mutex, block…
	mux.HandleFunc("/debug/pprof/cmdline", netpprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pyroscopepprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", netpprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", netpprof.Trace)
	return mux
}

// Addr returns the address the listener is bound to.
func (a *adminServer) Addr() string { return a.ln.Addr().String() }

// Run serves until ctx is done, then shuts the server down, giving
// requests in flight a few seconds.
func (a *adminServer) Run(ctx context.Context) {
	done := make(chan error, 1)
	go func() { done <- a.srv.Serve(a.ln) }()
	select {
	case err := <-done:
		a.log.Error("admin listener failed", "err", err)
		return
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(sctx); err != nil {
		a.srv.Close()
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Error("admin listener failed", "err", err)
	}
}

// Close closes a listener that Run never served.
func (a *adminServer) Close() { a.ln.Close() }

// requireToken wraps h with a bearer-token check when token is set. The
// scheme is matched case-insensitively (RFC 7235, section 2.1).
func requireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		got = strings.TrimLeft(got, " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="earshot"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
