// Package gst is earshot's second RTSP backend: the vendor-style callback
// API of package sdk (Open, Close, data and status callbacks, per-handle
// bounded queues counting drops) over GStreamer's rtspsrc and appsink,
// through cgo.
//
// Each handle is a pipeline "rtspsrc ! appsink caps=application/x-rtp".
// rtspsrc picks the first audio track earshot decodes (its select-stream
// signal, answered from the caps through the audio registry); appsink's
// new-sample callback runs on a GStreamer streaming thread, maps the RTP
// buffer, enters Go through an exported function whose user data is a
// cgo.Handle, and either copies the packet into the handle's queue for the
// callback workers (the default) or, with Options.Inline, calls the data
// callback right there, with the mapped buffer, as C SDKs do.
//
// The backend needs GStreamer 1.22 and is built with the build tag
// "gstreamer" (make sets it); without the tag New returns ErrUnavailable.
// The libraries are not linked: the first New loads them (gstload.h), and
// returns an error wrapping ErrLibrariesUnavailable if it cannot.
package gst
