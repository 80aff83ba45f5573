package ingest_test

import (
	"crypto/tls"
	"encoding/pem"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink/schema"
)

// transportCases: how a source is reached. Each either plays, or fails
// with the failure kind and state given.
var transportCases = []struct {
	name      string
	server    loadtest.ServerConfig // Streams is set to the one camera
	transport string
	user      string // the camera requires these credentials...
	password  string
	urlPass   string // ...and the URL carries this password
	tls       string // "", "ca" (verify with a CA file), "insecure", "untrusted"
	failure   string // "" when it plays
	state     ingest.State
}{
	{name: "tcp", transport: "tcp"},
	{name: "udp", server: loadtest.ServerConfig{UDP: true}, transport: "udp"},
	{name: "auto plays when UDP is offered", server: loadtest.ServerConfig{UDP: true}, transport: "auto"},
	{name: "auto falls back to TCP", transport: "auto"},
	{name: "basic authentication", server: loadtest.ServerConfig{AuthMethods: []loadtest.AuthMethod{loadtest.AuthBasic}},
		transport: "tcp", user: "admin", password: "b4sic", urlPass: "b4sic"},
	{name: "digest authentication", server: loadtest.ServerConfig{AuthMethods: []loadtest.AuthMethod{loadtest.AuthDigest}},
		transport: "tcp", user: "admin", password: "d1gest", urlPass: "d1gest"},
	{name: "a wrong password is a permanent unauthorized failure", transport: "tcp",
		user: "admin", password: "right", urlPass: "wrong", failure: sdk.FailUnauthorized, state: ingest.StateError},
	{name: "rtsps verified with a CA file", transport: "tcp", tls: "ca"},
	{name: "rtsps with a self-signed certificate accepted", transport: "tcp", tls: "insecure"},
	{name: "rtsps with an untrusted certificate is a permanent tls failure", transport: "tcp", tls: "untrusted",
		failure: sdk.FailTLS, state: ingest.StateError},
}

func TestTransportsAuthAndTLS(t *testing.T) {
	runTransportCases(t, ingest.BackendGortsplib)
}

// runTransportCases runs transportCases with the stream on backend.
func runTransportCases(t *testing.T, backend string) {
	for _, c := range transportCases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.server
			cfg.Streams = []loadtest.StreamSpec{{Name: "cam", Codec: "pcma", User: c.user, Password: c.password}}
			cfg.Logger = slog.New(slog.DiscardHandler)
			sc := ingest.StreamConfig{ID: "cam", Transport: c.transport, Backend: backend}
			if c.tls != "" {
				serverTLS, _, err := loadtest.LoopbackTLS()
				if err != nil {
					t.Fatal(err)
				}
				cfg.TLS = serverTLS
				switch c.tls {
				case "ca":
					sc.CAFile = writeCA(t, serverTLS)
				case "insecure":
					sc.InsecureSkipVerify = true
				}
			}
			srv := loadtesttest.NewServer(t, cfg)
			sc.URL = srv.URL("cam")
			if c.user != "" {
				sc.URL = withUserinfo(sc.URL, c.user, c.urlPass)
			}
			ms := newMemSink()
			sup, err := ingest.New(ingest.Config{Streams: []ingest.StreamConfig{sc}, Timeout: faultTimeout}, ms)
			if err != nil {
				t.Fatal(err)
			}
			runSupervisor(t, sup)
			if c.failure == "" {
				ms.await(t, "audio", func(r schema.Record) bool { return r.Kind == schema.KindAudio })
				return
			}
			testkit.WaitFor(t, waitTimeout, "failure "+c.failure, func() bool {
				st, _ := sup.StreamStats("cam")
				return st.Failure == c.failure
			})
			if st, _ := sup.StreamStats("cam"); st.State != c.state {
				t.Errorf("state %s, want %s (last error %q)", st.State, c.state, st.LastError)
			}
		})
	}
}

// writeCA writes the server's certificate as a PEM CA file.
func writeCA(t *testing.T, c *tls.Config) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificates[0].Certificate[0]})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func withUserinfo(raw, user, pass string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.User = url.UserPassword(user, pass)
	return u.String()
}
