package sdk_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/base"

	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
)

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

func TestRedirects(t *testing.T) {
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
		// decoyAccepts is how many connections the other host may get.
		decoyAccepts int
		// maxAccepts bounds the connections the first server gets.
		maxAccepts int
	}{
		{name: "a redirect to another host is refused by default, which the other host never hears of",
			policy: sdk.RedirectSameHost, to: func(d, _ *loadtest.RecordingServer) string { return d.URL("/opus;password=" + redirectSecret) },
			is: sdk.ErrRedirectRefused, kind: sdk.FailRedirect, maxAccepts: 1},
		// The other host then asks for credentials, and gets none.
		{name: "a redirect to another host is followed under any, without the credentials",
			policy: sdk.RedirectAny, to: func(d, _ *loadtest.RecordingServer) string { return d.URL("/opus") },
			kind: sdk.FailUnauthorized, decoyAccepts: 1, maxAccepts: 1},
		{name: "credentials in the Location are not ours to send either",
			policy: sdk.RedirectAny, to: func(d, _ *loadtest.RecordingServer) string {
				return strings.Replace(d.URL("/opus"), "rtsp://", "rtsp://admin:"+redirectSecret+"@", 1)
			},
			kind: sdk.FailUnauthorized, decoyAccepts: 1, maxAccepts: 1},
		{name: "no redirect is followed under none",
			policy: sdk.RedirectNone, to: func(d, _ *loadtest.RecordingServer) string { return d.URL("/opus") },
			is: sdk.ErrRedirectRefused, kind: sdk.FailRedirect, maxAccepts: 1},
		{name: "a redirect loop ends after 3 redirects",
			policy: sdk.RedirectSameHost, to: func(_, self *loadtest.RecordingServer) string { return self.URL("/loop") },
			is: sdk.ErrTooManyRedirects, kind: sdk.FailRedirect, maxAccepts: 4},
		{name: "a redirect to the same host on another port is followed with the credentials",
			policy: sdk.RedirectSameHost, to: func(*loadtest.RecordingServer, *loadtest.RecordingServer) string {
				return "rtsp://" + cams.Addr() + "/opus"
			},
			ok: true, maxAccepts: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The other host: it demands credentials, and answers
			// DESCRIBE with 404 once it has them.
			decoy := startRecordingServer(t, "127.0.0.2", true, nil)
			var first *loadtest.RecordingServer
			first = startRecordingServer(t, "127.0.0.1", false, func(*base.Request) *base.Response {
				return &base.Response{StatusCode: base.StatusFound, Header: base.Header{"Location": base.HeaderValue{tc.to(decoy, first)}}}
			})
			// Open logs the redirects it follows on its own goroutine: the
			// buffer is read once it has returned.
			var logs bytes.Buffer
			s := newSDK(t, sdk.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			u := strings.Replace(first.URL("/cam"), "rtsp://", "rtsp://admin:"+redirectSecret+"@", 1)
			h, err := s.Open(u, sdk.OpenOptions{Transport: sdk.TransportTCP, FollowRedirects: tc.policy, Timeout: waitTimeout})
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
			if accepts > tc.maxAccepts {
				t.Errorf("first server accepted %d connections, want at most %d", accepts, tc.maxAccepts)
			}
			decoyAccepts, decoyRequests := decoy.Seen()
			if decoyAccepts != tc.decoyAccepts {
				t.Errorf("other host accepted %d connections, want %d", decoyAccepts, tc.decoyAccepts)
			}
			for _, r := range decoyRequests {
				if r.Authorization != "" || strings.Contains(r.URL, redirectSecret) {
					t.Errorf("other host received credentials: %s %s Authorization=%q", r.Method, r.URL, r.Authorization)
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
