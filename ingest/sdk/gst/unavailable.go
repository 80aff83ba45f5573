//go:build !gstreamer

package gst

import (
	"context"

	"github.com/earshot/earshot/ingest/sdk"
)

// Available reports whether this build has the GStreamer backend.
const Available = false

// SDK is the GStreamer backend; in this build it cannot be made.
type SDK struct{}

// Validate returns nil: a build without GStreamer refuses the backend by
// name, not by its options.
func (Options) Validate() error { return nil }

// New returns ErrUnavailable: this build has no GStreamer.
func New(Options) (*SDK, error) { return nil, ErrUnavailable }

// OpenContext returns ErrUnavailable.
func (*SDK) OpenContext(context.Context, string, sdk.OpenOptions) (sdk.Handle, error) {
	return 0, ErrUnavailable
}

// Codec returns ErrUnavailable.
func (*SDK) Codec(sdk.Handle) (sdk.Codec, error) { return sdk.Codec{}, ErrUnavailable }

// Stats returns ErrUnavailable.
func (*SDK) Stats(sdk.Handle) (sdk.HandleStats, error) { return sdk.HandleStats{}, ErrUnavailable }

// Close returns ErrUnavailable.
func (*SDK) Close(sdk.Handle) (sdk.HandleStats, error) { return sdk.HandleStats{}, ErrUnavailable }

// Shutdown does nothing.
func (*SDK) Shutdown() {}
