package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
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
}

func TestAdminRequiresTokenButForHealthAndReadiness(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("api")) })
	a, err := newAdminServer(AdminConfig{Listen: "127.0.0.1:0", Token: "s3cret"}, adminRoutes{API: api, Metrics: api, Ready: api}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.Run(ctx) })
	defer wg.Wait()
	defer cancel()
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
}
