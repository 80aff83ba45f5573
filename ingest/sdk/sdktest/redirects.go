// Package sdktest holds the tests that every SDK backend (package sdk over
// gortsplib, package sdk/gst over GStreamer) must pass alike.
package sdktest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"

	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
)

// Backend is what the redirect test needs of a backend.
type Backend interface {
	OpenContext(ctx context.Context, rawURL string, o sdk.OpenOptions) (sdk.Handle, error)
	Close(h sdk.Handle) (sdk.HandleStats, error)
}

// startRecordingServer starts a loadtest.RecordingServer on host.
func startRecordingServer(t *testing.T, host string, challenge bool, describe func(*base.Request) *base.Response) *loadtest.RecordingServer {
	t.Helper()
	r := &loadtest.RecordingServer{Challenge: challenge, Describe: describe}
	if err := r.Start(host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

const redirectSecret = "s3cr3t-pass"

// Redirects checks that a backend follows DESCRIBE redirects as
// sdk.RedirectPolicy says, and that no host but the URL's own ever
// receives its credentials (the other host asks for them and records
// every request). newBackend makes the backend under test, logging to
// logger. connectsPerHop is how many connections the backend may open
// per redirect target: 1 for gortsplib; 2 for rtspsrc, which connects
// to a Location itself before earshot can stop it (without sending a
// request).
func Redirects(t *testing.T, newBackend func(t *testing.T, logger *slog.Logger) Backend, connectsPerHop int) {
	// A camera that wants the credentials, on the first server's host.
	cams := loadtesttest.NewServer(t, loadtest.ServerConfig{Streams: []loadtest.StreamSpec{{Name: "opus", Codec: "opus", User: "admin", Password: redirectSecret}}})
	cases := []struct {
		name   string
		policy sdk.RedirectPolicy
		// to is where the first server redirects, given the decoy on
		// 127.0.0.2 and the first server itself.
		to func(decoy, self *loadtest.RecordingServer) string
		// ok: Open succeeds; else its error wraps is, and is permanent
		// of this kind.
		ok   bool
		is   error
		kind string
		// decoyFollows is how many times the other host is opened.
		decoyFollows int
		// maxHops bounds the connections the first server gets, in
		// targets opened.
		maxHops int
	}{
		{name: "a redirect to another host is refused by default, which the other host never hears of",
			policy: sdk.RedirectSameHost, to: func(d, _ *loadtest.RecordingServer) string { return d.URL("/opus;password=" + redirectSecret) },
			is: sdk.ErrRedirectRefused, kind: sdk.FailRedirect, maxHops: 1},
		// The other host then asks for credentials, and gets none.
		{name: "a redirect to another host is followed under any, without the credentials",
			policy: sdk.RedirectAny, to: func(d, _ *loadtest.RecordingServer) string { return d.URL("/opus") },
			kind: sdk.FailUnauthorized, decoyFollows: 1, maxHops: 1},
		{name: "credentials in the Location are not ours to send either",
			policy: sdk.RedirectAny, to: func(d, _ *loadtest.RecordingServer) string {
				return strings.Replace(d.URL("/opus"), "rtsp://", "rtsp://admin:"+redirectSecret+"@", 1)
			},
			kind: sdk.FailUnauthorized, decoyFollows: 1, maxHops: 1},
		{name: "no redirect is followed under none",
			policy: sdk.RedirectNone, to: func(d, _ *loadtest.RecordingServer) string { return d.URL("/opus") },
			is: sdk.ErrRedirectRefused, kind: sdk.FailRedirect, maxHops: 1},
		{name: "a redirect loop ends after 3 redirects",
			policy: sdk.RedirectSameHost, to: func(_, self *loadtest.RecordingServer) string { return self.URL("/loop") },
			is: sdk.ErrTooManyRedirects, kind: sdk.FailRedirect, maxHops: 4},
		{name: "a redirect to the same host on another port is followed with the credentials",
			policy: sdk.RedirectSameHost, to: func(*loadtest.RecordingServer, *loadtest.RecordingServer) string {
				return "rtsp://" + cams.Addr() + "/opus"
			},
			ok: true, maxHops: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The other host: it demands credentials, and answers
			// DESCRIBE with 404 once it has them.
			decoy := startRecordingServer(t, "127.0.0.2", true, nil)
			// The handler reads first on the server's goroutine: the
			// race detector does not see the TCP connection order it.
			var self atomic.Pointer[loadtest.RecordingServer]
			first := startRecordingServer(t, "127.0.0.1", false, func(*base.Request) *base.Response {
				return &base.Response{StatusCode: base.StatusFound, Header: base.Header{"Location": base.HeaderValue{tc.to(decoy, self.Load())}}}
			})
			self.Store(first)
			// Open logs the redirects it follows on its own goroutine: the
			// buffer is read once it has returned.
			var logs bytes.Buffer
			s := newBackend(t, slog.New(slog.NewTextHandler(&logs, nil)))
			u := strings.Replace(first.URL("/cam"), "rtsp://", "rtsp://admin:"+redirectSecret+"@", 1)
			h, err := s.OpenContext(context.Background(), u, sdk.OpenOptions{Transport: sdk.TransportTCP, FollowRedirects: tc.policy, Timeout: 10 * time.Second})
			switch {
			case tc.ok && err != nil:
				t.Fatalf("Open: %v", err)
			case tc.ok:
				if _, err := s.Close(h); err != nil {
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
			accepts, _ := first.Seen()
			if max := tc.maxHops * connectsPerHop; accepts > max {
				t.Errorf("first server accepted %d connections, want at most %d", accepts, max)
			}
			decoyAccepts, decoyRequests := decoy.Seen()
			t.Logf("first server: %d connections; other host: %d connections, %d requests; Open: %v", accepts, decoyAccepts, len(decoyRequests), err)
			if decoyAccepts > (tc.decoyFollows+1)*connectsPerHop-1 || (tc.decoyFollows > 0) != (len(decoyRequests) > 0) {
				t.Errorf("other host accepted %d connections and got %d requests, want %d follows", decoyAccepts, len(decoyRequests), tc.decoyFollows)
			}
			for _, r := range decoyRequests {
				if r.Authorization != "" || strings.Contains(r.URL, redirectSecret) {
					t.Errorf("other host received credentials: %s %s Authorization=%q", r.Method, r.URL, r.Authorization)
				}
			}
			if strings.Contains(logs.String(), redirectSecret) {
				t.Errorf("log leaks the password:\n%s", logs.String())
			}
			if tc.decoyFollows > 0 || tc.ok {
				if !strings.Contains(logs.String(), "following redirect") {
					t.Errorf("the redirect was not logged:\n%s", logs.String())
				}
			}
		})
	}
}
