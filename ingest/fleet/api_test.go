package fleet

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest"
)

func TestAPIEditsReachTheOwner(t *testing.T) {
	f, ids := startFleet(t, 3)
	local := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "local", http.StatusTeapot) })
	srv := httptest.NewServer(f.members["a"].m.Handler(local, nil))
	defer srv.Close()

	cases := []struct {
		name, method, path, body string
		code                     int
	}{
		{"a stream posted to one instance is accepted", "POST", "/api/streams", `{"id":"cam-api","url":"rtsp://127.0.0.1:8554/api","transport":"tcp"}`, http.StatusAccepted},
		{"a url with credentials is refused", "POST", "/api/streams", `{"id":"cam-pw","url":"rtsp://u:secret@127.0.0.1/x"}`, http.StatusBadRequest},
		{"unknown fields are refused", "POST", "/api/streams", `{"id":"cam-x","url":"rtsp://127.0.0.1/x","extra":1}`, http.StatusBadRequest},
		{"a delete writes a tombstone", "DELETE", "/api/streams/" + ids[0], "", http.StatusAccepted},
		{"other paths go to the local API", "GET", "/api/stalls", "", http.StatusTeapot},
		{"deleting what is no stream id is refused: the partition count record stays", "DELETE", "/api/streams/%23partitions", "", http.StatusBadRequest},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, buf.String(), tc.code)
		}
		if strings.Contains(buf.String(), "secret") {
			t.Errorf("%s: answer shows the password: %s", tc.name, buf.String())
		}
	}
	f.l.waitFor(t, 10*time.Second, "edits reached their owners", func() bool {
		own := f.l.owners()
		return len(own["cam-api"]) == 1 && len(own[ids[0]]) == 0
	})

	var list []APIStream
	f.l.waitFor(t, 5*time.Second, "every stream listed with its owner", func() bool {
		list = nil
		getJSON(t, srv.URL+"/api/streams", &list)
		if len(list) != len(ids) {
			return false
		}
		own := ownerOf(f.l)
		for _, s := range list {
			if s.Owner == "" || s.Owner != own[s.ID] {
				return false
			}
		}
		return true
	})
	var fl APIFleet
	f.l.waitFor(t, 5*time.Second, "three members counted", func() bool {
		getJSON(t, srv.URL+"/api/fleet", &fl)
		return fl.Self.Members == 3
	})
	if len(fl.Instances) != 3 || fl.Partitions != testPartitions {
		t.Errorf("GET /api/fleet: %+v", fl)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestAPIAnswersForEveryStreamOfTheFleet: GET /api/streams/{id} on one
// instance answers for every stream of the fleet, with its owner, from the
// view, which follows the registry live.
func TestAPIAnswersForEveryStreamOfTheFleet(t *testing.T) {
	f, ids := startFleet(t, 2)
	a := f.members["a"].m
	stats := func(id string) (ingest.StreamStats, error) {
		return ingest.StreamStats{ID: id, URL: streamConfig(id).URL, State: ingest.StateStreaming}, nil
	}
	srv := httptest.NewServer(a.Handler(http.NotFoundHandler(), stats))
	defer srv.Close()
	var list []APIStream
	f.l.waitFor(t, 5*time.Second, "every stream listed with its owner", func() bool {
		list = nil
		getJSON(t, srv.URL+"/api/streams", &list)
		own := ownerOf(f.l)
		for _, s := range list {
			if s.Owner != own[s.ID] {
				return false
			}
		}
		return len(list) == len(ids)
	})
	own := ownerOf(f.l)
	for _, id := range ids {
		var d APIStreamDetail
		getJSON(t, srv.URL+"/api/streams/"+id, &d)
		local := own[id] == "a"
		want := StateUnknown
		if local {
			want = ingest.StateStreaming
		}
		if d.ID != id || d.Owner != own[id] || d.Local != local || d.State != want || d.Partition != a.Registry().PartitionOf(id) || d.URL != streamConfig(id).URL {
			t.Errorf("GET /api/streams/%s: %+v, want owner %s, local %t, state %s", id, d, own[id], local, want)
		}
	}
	resp, err := http.Get(srv.URL + "/api/streams/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/streams/nope: %d, want 404", resp.StatusCode)
	}

	// A removal reaches the view without a request reading the topics.
	if err := a.Registry().Delete(t.Context(), ids[0]); err != nil {
		t.Fatal(err)
	}
	f.l.waitFor(t, 5*time.Second, "the removal in the view", func() bool {
		_, _, ok := a.View().Stream(ids[0])
		return !ok && len(a.View().Streams()) == len(ids)-1
	})
	if n := a.View().BadRecords(); n != 0 {
		t.Errorf("%d records of the fleet topics did not parse", n)
	}
}
