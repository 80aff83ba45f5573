package gst

import (
	"errors"
	"log/slog"
	"time"
)

// ErrUnavailable is returned by New in a build without the "gstreamer" tag.
var ErrUnavailable = errors.New("the gstreamer backend is not in this build (build with -tags gstreamer and GStreamer 1.22 development packages; make does)")

// ErrLibrariesUnavailable is wrapped by the error of New, in a build with
// the "gstreamer" tag, when GStreamer's libraries (libgstreamer-1.0.so.0,
// libgstapp, libgstrtp, GIO, GObject, GLib), which it loads on its first
// call, cannot be loaded; the error adds the dynamic loader's reason.
var ErrLibrariesUnavailable = errors.New("GStreamer's libraries could not be loaded")

// Options configure the backend. The zero value is usable.
type Options struct {
	// Workers is the number of callback workers shared by all handles.
	// It defaults to 4.
	Workers int
	// QueueLen is the number of frames each handle buffers while its
	// callbacks are behind; further frames are dropped and counted.
	// It defaults to 32.
	QueueLen int
	// Latency is rtspsrc's jitter buffer latency. It defaults to 200 ms.
	Latency time.Duration
	// UDPTimeout is how long rtspsrc waits for UDP data before it retries
	// with TCP (auto transport). It defaults to 5 s.
	UDPTimeout time.Duration
	// Inline calls the data callback on GStreamer's streaming thread with
	// the mapped buffer, as C SDKs and GStreamer plugins do, instead of on
	// a callback worker: a callback that blocks then blocks the pipeline.
	// It defaults to false.
	Inline bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}
