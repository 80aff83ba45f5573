package ingest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink/schema"
)

const apiSecret = "api-s3cret"

// apiCases run in order against one supervisor; each request's answer
// must have the status and contain the strings given, and never the
// password. connected waits for the stream's start record afterwards.
var apiCases = []struct {
	name, method, path, body string
	status                   int
	contains                 []string
	connected                string
}{
	{"listing shows the configured stream", "GET", "/api/streams", "", 200, []string{`"id":"s1"`, `"url":"rtsp://***@`}, ""},
	{"adding a stream with credentials answers its redacted state", "POST", "/api/streams", `{"id":"s2","url":"rtsp://admin:` + apiSecret + `@HOST/pcmu-2","transport":"tcp"}`, 201, []string{`"id":"s2"`, `rtsp://***@`}, "s2"},
	{"adding it twice conflicts", "POST", "/api/streams", `{"id":"s2","url":"rtsp://admin:` + apiSecret + `@HOST/pcmu-2"}`, 409, []string{"already exists"}, ""},
	{"a bad stream is refused with every problem", "POST", "/api/streams", `{"id":"bad id","url":"http://u:` + apiSecret + `@h/x","transport":"sctp"}`, 400, []string{"must match", "scheme must be rtsp", "unknown transport"}, ""},
	{"a body that is not a stream is refused without echo", "POST", "/api/streams", `{"id":"s3","url":"rtsp://u:` + apiSecret + `@h/x","extra":1}`, 400, []string{"not a stream object"}, ""},
	{"data after the stream object is refused", "POST", "/api/streams", `{"id":"s3","url":"rtsp://HOST/pcmu-2"} {"id":"s4"}`, 400, []string{"data after the stream object"}, ""},
	{"a body beyond 64 KiB is refused as too large", "POST", "/api/streams", `{"id":"s3","url":"rtsp://HOST/pcmu-2","transport":"` + strings.Repeat("x", 70<<10) + `"}`, 413, []string{"body exceeds 65536 bytes"}, ""},
	{"the id . is refused: no path could delete it", "POST", "/api/streams", `{"id":".","url":"rtsp://HOST/pcmu-2"}`, 400, []string{"is a path element"}, ""},
	{"the id .. is refused: no path could delete it", "POST", "/api/streams", `{"id":"..","url":"rtsp://HOST/pcmu-2"}`, 400, []string{"is a path element"}, ""},
	{"a stream beyond max streams is refused with the limit", "POST", "/api/streams", `{"id":"s3","url":"rtsp://HOST/pcmu-2"}`, 409, []string{"too many streams", "max streams is 2"}, ""},
	{"one stream", "GET", "/api/streams/s2", "", 200, []string{`"id":"s2"`}, ""},
	{"an unknown stream is 404", "GET", "/api/streams/nope", "", 404, []string{"unknown stream"}, ""},
	{"a stream's events of the last hour", "GET", "/api/streams/s2/events", "", 200, []string{"["}, ""},
	{"events of an unknown stream are 404", "GET", "/api/streams/nope/events", "", 404, []string{"unknown stream"}, ""},
	{"removing a stream", "DELETE", "/api/streams/s2", "", 204, nil, ""},
	{"removing it again is 404", "DELETE", "/api/streams/s2", "", 404, []string{"unknown stream"}, ""},
	{"stall counts", "GET", "/api/stalls", "", 200, []string{"["}, ""},
}

func TestStreamAPI(t *testing.T) {
	srv := loadtesttest.Cameras(t, "pcma-1", "pcmu-2")
	host := srv.Addr()
	ms := newMemSink()
	sup, err := ingest.New(ingest.Config{MaxStreams: 2, Streams: []ingest.StreamConfig{
		{ID: "s1", URL: "rtsp://admin:" + apiSecret + "@" + host + "/pcma-1", Transport: "tcp"},
	}}, ms)
	if err != nil {
		t.Fatal(err)
	}
	stop := runSupervisor(t, sup)
	api := httptest.NewServer(sup.Handler())
	defer api.Close()

	for _, c := range apiCases {
		req, _ := http.NewRequest(c.method, api.URL+c.path, strings.NewReader(strings.ReplaceAll(c.body, "HOST", host)))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, res.StatusCode, c.status, b)
		}
		for _, want := range c.contains {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s: answer lacks %q: %s", c.name, want, b)
			}
		}
		if strings.Contains(string(b), apiSecret) {
			t.Errorf("%s: answer leaks the password: %s", c.name, b)
		}
		if c.connected != "" {
			ms.await(t, c.connected+" connected", func(r schema.Record) bool { return r.Stream == c.connected && r.Kind == schema.KindStart })
		}
	}
	stop()
	recs := ms.Records("s2")
	if len(recs) == 0 || recs[len(recs)-1].Kind != schema.KindEnd || recs[len(recs)-1].Reason != schema.ReasonRemoved {
		t.Errorf("removed stream's records end with %+v, want end/removed", recs[max(0, len(recs)-1):])
	}
	var list []ingest.StreamStats
	b, _ := json.Marshal(sup.Stats())
	json.Unmarshal(b, &list)
	if len(list) != 1 || list[0].ID != "s1" {
		t.Errorf("streams after the API calls: %+v", list)
	}
}

// TestAddRemoveCyclesLeaveNothingBehind: 1,000 add/remove cycles of a
// stream, each connected before it is removed, leave no goroutine and no
// file descriptor behind, and every cycle's records end with end/removed.
func TestAddRemoveCyclesLeaveNothingBehind(t *testing.T) {
	const cycles = 1000
	srv := loadtesttest.Cameras(t, "pcma-1")
	ms := newMemSink()
	sup, err := ingest.New(ingest.Config{}, ms)
	if err != nil {
		t.Fatal(err)
	}
	stop := runSupervisor(t, sup)
	cycle := func(i int) {
		if err := sup.Add(context.Background(), ingest.StreamConfig{ID: "churn", URL: srv.URL("pcma-1"), Transport: "tcp"}); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		ms.await(t, "start record", func(r schema.Record) bool { return r.Stream == "churn" && r.Kind == schema.KindStart })
		if err := sup.Remove(context.Background(), "churn"); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
	}
	// Warm up pools and lazily started runtime goroutines first.
	for i := range 10 {
		cycle(i)
	}
	fds, before := openFDs(t), goleak.IgnoreCurrent()
	deadline := time.Now().Add(5 * time.Minute)
	for i := 10; i < cycles; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d cycles in 5 minutes", i)
		}
		cycle(i)
	}
	// Closed connections' goroutines may take a moment to go: every
	// goroutine not running before the cycles must be gone by waitTimeout.
	var leaked error
	if !testkit.Poll(waitTimeout, func() bool { leaked = goleak.Find(before); return leaked == nil }) {
		t.Errorf("after %d cycles: %v", cycles, leaked)
	}
	if n := openFDs(t); n > fds+2 {
		t.Errorf("%d file descriptors open after %d cycles, %d before", n, cycles, fds)
	}
	stop()
	ends := 0
	for _, r := range ms.Records("churn") {
		if r.Kind == schema.KindEnd && r.Reason == schema.ReasonRemoved {
			ends++
		}
	}
	if ends != cycles {
		t.Errorf("%d end/removed records, want %d", ends, cycles)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(entries)
}
