//go:build gstreamer

package gst

import (
	"log/slog"
	"testing"

	"github.com/earshot/earshot/ingest/sdk/sdktest"
)

// TestRedirects: the gortsplib backend's redirect policy, through rtspsrc.
func TestRedirects(t *testing.T) {
	sdktest.Redirects(t, func(t *testing.T, logger *slog.Logger) sdktest.Backend {
		return newGst(t, Options{Logger: logger})
	}, 2)
}
