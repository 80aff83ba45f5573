package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/earshot/earshot/ingest"
)

// errNoMetrics: the build under test serves no /metrics.
var errNoMetrics = errors.New("no /metrics on the admin listener")

// adminTimeout bounds every request to earshot's admin API.
const adminTimeout = 5 * time.Second

// adminClient talks to earshot's admin listener: the stream API (add,
// remove, state and counters, stalls) and /metrics.
type adminClient struct {
	base string // http://host:port
	http *http.Client
}

func newAdminClient(addr string) *adminClient {
	return &adminClient{base: "http://" + addr, http: &http.Client{Timeout: adminTimeout}}
}

// do sends a request and decodes a JSON answer into out (if not nil); a
// status of 300 or more is an error with the answer's text.
func (a *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin API: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return &statusError{method: method, path: path, code: resp.StatusCode, body: string(bytes.TrimSpace(data))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API: %s %s: %w", method, path, err)
	}
	return nil
}

// statusError is an answer of the admin API with an error status.
type statusError struct {
	method, path string
	code         int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("admin API: %s %s: %d %s", e.method, e.path, e.code, e.body)
}

// streams returns every stream's state and counters.
func (a *adminClient) streams(ctx context.Context) ([]ingest.StreamStats, error) {
	var out []ingest.StreamStats
	return out, a.do(ctx, http.MethodGet, "/api/streams", nil, &out)
}

// stalls returns the stalls detected, by stage and reason.
func (a *adminClient) stalls(ctx context.Context) ([]ingest.StallCount, error) {
	var out []ingest.StallCount
	return out, a.do(ctx, http.MethodGet, "/api/stalls", nil, &out)
}

// add asks earshot to pull a stream.
func (a *adminClient) add(ctx context.Context, id, url, transport string) error {
	return a.do(ctx, http.MethodPost, "/api/streams", map[string]string{"id": id, "url": url, "transport": transport}, nil)
}

// remove asks earshot to stop pulling a stream.
func (a *adminClient) remove(ctx context.Context, id string) error {
	return a.do(ctx, http.MethodDelete, "/api/streams/"+id, nil, nil)
}

// metrics scrapes /metrics; errNoMetrics when the build has none.
func (a *adminClient) metrics(ctx context.Context) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, errNoMetrics
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape /metrics: status %d: %v", resp.StatusCode, err)
	}
	return parseMetrics(string(data)), nil
}
