package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/sink"
)

// TestRunRefusesAnExposedAdminListenerWithoutToken: `earshot run` with
// the admin listener on every interface and no token exits with the
// configuration status, naming the way out, before binding anything.
func TestRunRefusesAnExposedAdminListenerWithoutToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "earshot.yaml")
	yaml := "kafka: {brokers: [\"127.0.0.1:1\"], topic: t}\nadmin: {listen: \"0.0.0.0:0\"}\nstreams: [{id: a, url: \"rtsp://127.0.0.1:1/x\"}]\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startJSONChild(t, "run", "--config", path)
	var out []string
	for m := range c.lines {
		out = append(out, fmt.Sprint(m["msg"]))
	}
	if code := c.exit(t); code != exitConfig || !strings.Contains(strings.Join(out, "\n"), "admin.allow_insecure: true") {
		t.Errorf("exit status %d, output %q; want %d naming admin.allow_insecure", code, out, exitConfig)
	}
}

// runAbuseCases are requests to a running `earshot run` that must be
// refused with the reason.
var runAbuseCases = []struct {
	name, body string
	status     int
	reason     string
}{
	{"a stream beyond ingest.max_streams", `{"id":"b","url":"rtsp://CAMS/p2"}`, http.StatusConflict, "max streams is 1"},
	{"data after the stream object", `{"id":"b","url":"rtsp://CAMS/p2"}{}`, http.StatusBadRequest, "data after the stream object"},
	{"the id ..", `{"id":"..","url":"rtsp://CAMS/p2"}`, http.StatusBadRequest, "path element"},
}

// TestRunRefusesAbuse runs earshot as a process with one stream and
// ingest.max_streams 1: API requests beyond the cap or malformed are
// refused with their reason, and a client that never finishes its body is
// cut off after admin.read_timeout.
func TestRunRefusesAbuse(t *testing.T) {
	cams, broker := startCamerasAndBroker(t, "abuse", loadtest.StreamSpec{Name: "p1", Codec: "pcma"}, loadtest.StreamSpec{Name: "p2", Codec: "pcmu"})
	dir := t.TempDir()
	path := filepath.Join(dir, "earshot.yaml")
	yaml := fmt.Sprintf(`kafka: {brokers: [%q], topic: abuse}
spool: {dir: %q}
diagnostics: {dir: "off"}
admin: {listen: "127.0.0.1:0", read_timeout: 300ms}
ingest: {max_streams: 1}
log: {format: json}
streams: [{id: a, url: "rtsp://%s/p1", transport: tcp}]
`, broker, filepath.Join(dir, "spool"), cams.Addr())
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startJSONChild(t, "run", "--config", path)
	admin, _ := c.await(t, "earshot running")["admin"].(string)

	for _, tc := range runAbuseCases {
		body := strings.ReplaceAll(tc.body, "CAMS", cams.Addr())
		res, err := http.Post("http://"+admin+"/api/streams", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || !strings.Contains(string(b), tc.reason) {
			t.Errorf("%s: %d %s; want %d with %q", tc.name, res.StatusCode, b, tc.status, tc.reason)
		}
	}
	http.DefaultClient.CloseIdleConnections()

	conn, err := net.Dial("tcp", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /api/streams HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"id\":")
	conn.SetReadDeadline(time.Now().Add(15 * time.Second)) // keeps a failing test from hanging
	if _, err := io.ReadAll(conn); err != nil {
		t.Errorf("a request body that never ends was not cut off: %v", err)
	}

	c.cmd.Process.Signal(syscall.SIGTERM)
	if code := c.exit(t); code != exitDelivered {
		t.Errorf("exit status %d after SIGTERM", code)
	}
}

// startCamerasAndBroker starts synthetic cameras and an embedded broker
// with a one-partition topic, both stopped when the test ends.
func startCamerasAndBroker(t *testing.T, topic string, specs ...loadtest.StreamSpec) (*loadtest.Server, string) {
	t.Helper()
	cams := loadtesttest.NewServer(t, loadtest.ServerConfig{Streams: specs})
	broker, stopBroker, err := sink.StartEmbeddedBroker(topic, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopBroker() })
	return cams, broker
}
