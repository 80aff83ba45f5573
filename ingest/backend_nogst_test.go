//go:build !gstreamer

package ingest_test

import (
	"errors"
	"testing"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/ingest/sdk/gst"
)

// TestGStreamerIsRefusedClearlyWithoutIt: a build without the gstreamer
// tag refuses a config that asks for the backend, naming why.
func TestGStreamerIsRefusedClearlyWithoutIt(t *testing.T) {
	cases := []ingest.Config{
		{Backend: ingest.BackendGStreamer},
		{Streams: []ingest.StreamConfig{{ID: "a", URL: "rtsp://127.0.0.1:1/a", Backend: ingest.BackendGStreamer}}},
	}
	for _, cfg := range cases {
		_, err := ingest.New(cfg, nil)
		if !errors.Is(err, gst.ErrUnavailable) {
			t.Errorf("New: %v, want gst.ErrUnavailable", err)
		}
	}
}
