package ingest

import (
	"cmp"
	"context"
	"fmt"
	"sync"

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

// lazyGStreamer is GStreamer's backend, started when a stream first needs
// it: gst_init loads the plugin registry and touches the libraries' pages,
// ~4.5 MiB of a process's PSS that a process whose streams all use
// gortsplib should not pay. Streams call get from their run goroutines;
// the Supervisor's Run calls shutdown once every stream has stopped.
type lazyGStreamer struct {
	opts gst.Options

	mu   sync.Mutex
	sdk  *gst.SDK // nil until started
	err  error    // why it could not start; it is not retried
	shut bool     // shut down: nothing starts any more
}

// get returns the backend, starting it on the first call.
func (l *lazyGStreamer) get() (*gst.SDK, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.sdk != nil || l.err != nil:
		return l.sdk, l.err
	case l.shut:
		return nil, sdk.ErrShutdown
	}
	// A build without GStreamer returns gst.ErrUnavailable, which
	// validation keeps configurations from reaching.
	l.sdk, l.err = gst.New(l.opts)
	return l.sdk, l.err
}

// started returns the backend if it has started, or nil.
func (l *lazyGStreamer) started() *gst.SDK {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sdk
}

// shutdown stops the backend if it started, and keeps it from starting.
func (l *lazyGStreamer) shutdown() {
	l.mu.Lock()
	g := l.sdk
	l.shut = true
	l.mu.Unlock()
	if g != nil {
		g.Shutdown()
	}
}

// backendName is the RTSP stack that pulls st.
func (st *stream) backendName() string {
	return cmp.Or(st.cfg.Backend, st.sup.cfg.Backend)
}

// backend returns the backend that pulls st, starting GStreamer's if st is
// the first stream to need it. It is valid once Run started.
func (st *stream) backend() (backend, error) {
	if st.backendName() != BackendGStreamer {
		return st.sup.gortsplib, nil
	}
	g, err := st.sup.gst.get()
	if err != nil {
		return nil, err
	}
	return g, nil
}
