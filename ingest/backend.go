package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/ingest/sdk/gst"
)

// Backends: the RTSP stacks a stream can be pulled through.
const (
	// BackendGortsplib is package sdk, over gortsplib.
	BackendGortsplib = "gortsplib"
	// BackendGStreamer is package sdk/gst, over GStreamer's rtspsrc; it is
	// in builds with the "gstreamer" tag only.
	BackendGStreamer = "gstreamer"
)

// backend is what a stream needs of an RTSP stack. *sdk.SDK and *gst.SDK
// both provide it, with the same callback semantics.
type backend interface {
	OpenContext(ctx context.Context, rawURL string, o sdk.OpenOptions) (sdk.Handle, error)
	Codec(h sdk.Handle) (sdk.Codec, error)
	Stats(h sdk.Handle) (sdk.HandleStats, error)
	// Close returns h's final counters, after its last callback.
	Close(h sdk.Handle) (sdk.HandleStats, error)
}

// validateBackend checks a backend name; "" stands for the default.
func validateBackend(name string) error {
	switch name {
	case "", BackendGortsplib:
		return nil
	case BackendGStreamer:
		if !gst.Available {
			return fmt.Errorf("backend %q: %w", name, gst.ErrUnavailable)
		}
		return nil
	}
	return fmt.Errorf("unknown backend %q (want %q or %q)", name, BackendGortsplib, BackendGStreamer)
}

// newGStreamer starts the GStreamer backend, or returns nil in a build
// without it (configurations asking for it are refused by validation).
func newGStreamer(o gst.Options) (*gst.SDK, error) {
	g, err := gst.New(o)
	if errors.Is(err, gst.ErrUnavailable) {
		return nil, nil
	}
	return g, err
}

// rtsp returns the backend that pulls st. It is valid once Run started.
func (st *stream) rtsp() backend {
	return st.sup.backends[cmp.Or(st.cfg.Backend, st.sup.cfg.Backend)]
}
