package loadtest

import (
	"crypto/tls"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"github.com/earshot/earshot/audio"
)

// loopbackRoots makes cfg serve RTSPS with a LoopbackTLS certificate and
// returns a client config that trusts it.
func loopbackRoots(t *testing.T, cfg *ServerConfig) *tls.Config {
	t.Helper()
	srv, roots, err := LoopbackTLS()
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS = srv
	return &tls.Config{RootCAs: roots}
}

func TestServerAuth(t *testing.T) {
	const user, pass = "admin", "s3cr3t!"
	cases := []struct {
		name       string
		methods    []AuthMethod
		user, pass string
		wantStatus base.StatusCode // 0: plays
		wantScheme string          // of the accepted Authorization header
	}{
		{name: "digest is used when both schemes are offered", user: user, pass: pass, wantScheme: "Digest"},
		{name: "basic credentials are accepted", methods: []AuthMethod{AuthBasic}, user: user, pass: pass, wantScheme: "Basic"},
		{name: "digest credentials are accepted", methods: []AuthMethod{AuthDigest}, user: user, pass: pass, wantScheme: "Digest"},
		{name: "a wrong password is refused with 401", user: user, pass: "nope", wantStatus: base.StatusUnauthorized},
		{name: "a wrong user is refused with 401", methods: []AuthMethod{AuthBasic}, user: "root", pass: pass, wantStatus: base.StatusUnauthorized},
		{name: "no credentials are refused with 401", wantStatus: base.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, ServerConfig{
				AuthMethods: tc.methods,
				Streams: []StreamSpec{
					{Name: "cam", Codec: audio.CodecPCMA, User: user, Password: pass},
					{Name: "open", Codec: audio.CodecPCMA},
				},
			})
			if strings.Contains(s.URL("cam"), pass) {
				t.Fatalf("URL %q holds the password", s.URL("cam"))
			}
			u, err := base.ParseURL(s.URL("cam"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.user != "" {
				u.User = url.UserPassword(tc.user, tc.pass)
			}
			tcp := gortsplib.TransportTCP
			c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
			var scheme string
			c.OnRequest = func(req *base.Request) { // on the client's goroutine
				if h, ok := req.Header["Authorization"]; ok && len(h) == 1 {
					scheme, _, _ = strings.Cut(h[0], " ")
				}
			}
			if err := c.Start2(); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _, err = c.Describe(u)
			var bad liberrors.ErrClientBadStatusCode
			switch {
			case tc.wantStatus == 0 && err != nil:
				t.Fatalf("describe: %v", err)
			case tc.wantStatus != 0 && (!errors.As(err, &bad) || bad.Code != tc.wantStatus):
				t.Fatalf("describe: %v, want status %d", err, tc.wantStatus)
			case tc.wantScheme != "" && scheme != tc.wantScheme:
				t.Fatalf("authorized with %q, want %q", scheme, tc.wantScheme)
			}
			// A stream without credentials needs none.
			startProbe(t, s.URL("open"), probeOptions{transport: tcp}).awaitAudio(t, probeCounts{}, 1)
		})
	}
}

func TestServerURLWithCredentials(t *testing.T) {
	s := startServer(t, ServerConfig{Streams: []StreamSpec{
		{Name: "cam", Codec: audio.CodecPCMA, User: "admin", Password: "p@ss word"},
		{Name: "open", Codec: audio.CodecPCMA},
	}})
	got := s.URLWithCredentials("cam")
	if want := "rtsp://admin:p%40ss%20word@" + s.Addr() + "/cam"; got != want {
		t.Errorf("URLWithCredentials(cam) = %q, want %q", got, want)
	}
	if got, want := s.URLWithCredentials("open"), s.URL("open"); got != want {
		t.Errorf("URLWithCredentials(open) = %q, want %q", got, want)
	}
	p := startProbe(t, got, probeOptions{transport: gortsplib.TransportTCP})
	p.awaitAudio(t, probeCounts{}, 3)
}

func TestServerTLS(t *testing.T) {
	cfg := ServerConfig{Streams: []StreamSpec{{Name: "cam", Codec: audio.CodecPCMU, Video: true}}}
	client := loopbackRoots(t, &cfg)
	s := startServer(t, cfg)
	if !strings.HasPrefix(s.URL("cam"), "rtsps://") {
		t.Fatalf("URL %q, want rtsps", s.URL("cam"))
	}
	p := startProbe(t, s.URL("cam"), probeOptions{transport: gortsplib.TransportTCP, tls: client})
	p.await(t, "audio, video and reports over RTSPS", func(c probeCounts) bool { return c.audio >= 5 && c.video >= 2 && c.srs >= 1 })

	// Plain RTSP to the RTSPS port is refused.
	plain := strings.Replace(s.URL("cam"), "rtsps://", "rtsp://", 1)
	if p, err := dialProbe(plain, probeOptions{transport: gortsplib.TransportTCP}); err == nil {
		p.close()
		t.Fatal("a plain RTSP client played from the RTSPS server")
	}
	// So is a client that does not trust the certificate.
	if p, err := dialProbe(s.URL("cam"), probeOptions{transport: gortsplib.TransportTCP, tls: &tls.Config{}}); err == nil {
		p.close()
		t.Fatal("a client that does not trust the certificate played")
	}
}
