package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/sink/schema"
)

// jsonChild is earshot running as a child process, with its JSON log lines.
type jsonChild struct {
	cmd   *exec.Cmd
	lines chan map[string]any
	done  chan error
}

// startChild runs `earshot args...` from the test binary (see TestMain).
func startJSONChild(t *testing.T, args ...string) *jsonChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &jsonChild{cmd: cmd, lines: make(chan map[string]any, 1024), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]any{"msg": sc.Text()}
			}
			c.lines <- m
		}
		close(c.lines)
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for range c.lines {
		}
	})
	return c
}

// await returns the first log line whose msg is msg.
func (c *jsonChild) await(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-c.lines:
			if !ok {
				t.Fatalf("earshot exited before logging %q", msg)
			}
			if m["msg"] == msg {
				return m
			}
		case <-timeout:
			t.Fatalf("timed out waiting for log %q", msg)
		}
	}
}

// exit waits for the child to exit after its log is drained.
func (c *jsonChild) exit(t *testing.T) int {
	t.Helper()
	for range c.lines {
	}
	select {
	case err := <-c.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatal("earshot did not exit")
		return -1
	}
}

func writeConfig(t *testing.T, path, broker, topic, cams string, streams map[string]string) {
	t.Helper()
	var b strings.Builder
	dir := filepath.Dir(path)
	fmt.Fprintf(&b, "kafka: {brokers: [%q], topic: %q}\nspool: {dir: %q}\nadmin: {listen: \"127.0.0.1:0\"}\ndiagnostics: {dir: %q}\nlog: {format: json}\nstreams:\n",
		broker, topic, filepath.Join(dir, "spool"), filepath.Join(dir, "diag"))
	ids := make([]string, 0, len(streams))
	for id := range streams {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "  - {id: %s, url: \"rtsp://%s/%s\", transport: tcp}\n", id, cams, streams[id])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSIGHUPReloadsOnlyChangedStreams runs earshot as a process, changes
// its configuration file and sends SIGHUP: the added stream starts, the
// removed one ends with end/removed, the changed one restarts and the
// unchanged one keeps its epoch. A file that does not load changes
// nothing; SIGTERM then drains and exits 0.
func TestSIGHUPReloadsOnlyChangedStreams(t *testing.T) {
	cams, broker := startCamerasAndBroker(t, "hup",
		loadtest.StreamSpec{Name: "p1", Codec: "pcma"}, loadtest.StreamSpec{Name: "p2", Codec: "pcmu"}, loadtest.StreamSpec{Name: "p3", Codec: "pcma"})

	path := filepath.Join(t.TempDir(), "earshot.yaml")
	writeConfig(t, path, broker, "hup", cams.Addr(), map[string]string{"keep": "p1", "change": "p2", "drop": "p3"})
	c := startJSONChild(t, "run", "--config", path)
	admin, _ := c.await(t, "earshot running")["admin"].(string)
	for range 3 {
		c.await(t, "stream connected")
	}

	writeConfig(t, path, broker, "hup", cams.Addr(), map[string]string{"keep": "p1", "change": "p3", "add": "p2"})
	c.cmd.Process.Signal(syscall.SIGHUP)
	m := c.await(t, "configuration reloaded")
	if fmt.Sprint(m["added"], m["removed"], m["restarted"]) != "[add] [drop] [change]" {
		t.Errorf("reload: added %v removed %v restarted %v", m["added"], m["removed"], m["restarted"])
	}
	c.await(t, "stream connected")
	c.await(t, "stream connected")

	os.WriteFile(path, []byte("streams: [{id: x"), 0o600)
	c.cmd.Process.Signal(syscall.SIGHUP)
	c.await(t, "reload refused; keeping the running configuration")

	var list []ingest.StreamStats
	getJSON(t, "http://"+admin+"/api/streams", &list)
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
		if s.ID == "keep" && (s.Epochs != 1 || s.Reconnects != 0) {
			t.Errorf("unchanged stream was restarted: %+v", s)
		}
	}
	if fmt.Sprint(ids) != "[add change keep]" {
		t.Errorf("streams after reload: %v", ids)
	}

	c.cmd.Process.Signal(syscall.SIGTERM)
	if code := c.exit(t); code != 0 {
		t.Errorf("exit status %d after SIGTERM", code)
	}
	recs := readAll(t, broker, "hup", 5) // end records: one per epoch
	ends := map[string][]string{}
	for id, rs := range recs {
		for _, r := range rs {
			switch r.Kind {
			case schema.KindStart:
				ends[id] = append(ends[id], "start")
			case schema.KindEnd:
				ends[id] = append(ends[id], "end/"+r.Reason)
			}
		}
	}
	want := map[string]string{
		"keep":   "[start end/shutdown]",
		"drop":   "[start end/removed]",
		"change": "[start end/removed start end/shutdown]",
		"add":    "[start end/shutdown]",
	}
	for id, w := range want {
		if got := fmt.Sprint(ends[id]); got != w {
			t.Errorf("%s: epochs %s, want %s", id, got, w)
		}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, res.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}
