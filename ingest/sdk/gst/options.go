package gst

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrUnavailable is returned by New in a build without the "gstreamer" tag.
var ErrUnavailable = errors.New("the gstreamer backend is not in this build (build with -tags gstreamer and GStreamer 1.22 development packages; make does)")

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

func (o *Options) setDefaults() {
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.QueueLen == 0 {
		o.QueueLen = 32
	}
	if o.Latency == 0 {
		o.Latency = 200 * time.Millisecond
	}
	if o.UDPTimeout == 0 {
		o.UDPTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.Workers < 1 || o.Workers > 1024 {
		//lint:ignore ST1005 the message begins with the option's name
		errs = append(errs, fmt.Errorf("Workers must be between 1 and 1024, got %d", o.Workers))
	}
	if o.QueueLen < 1 || o.QueueLen > 65536 {
		errs = append(errs, fmt.Errorf("QueueLen must be between 1 and 65536, got %d", o.QueueLen))
	}
	if o.Latency < 0 {
		errs = append(errs, fmt.Errorf("Latency must not be negative, got %s", o.Latency))
	}
	if o.UDPTimeout < 0 {
		errs = append(errs, fmt.Errorf("UDPTimeout must not be negative, got %s", o.UDPTimeout))
	}
	return errors.Join(errs...)
}
