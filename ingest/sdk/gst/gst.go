//go:build gstreamer

package gst

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-app-1.0 gstreamer-rtp-1.0 gstreamer-rtsp-1.0 gio-2.0
#cgo linux LDFLAGS: -Wl,--as-needed
#include <stdlib.h>
#include "glue.h"
*/
import "C"

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"runtime/cgo"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/ingest/sdk/internal/handoff"
)

// Available reports whether this build has the GStreamer backend.
const Available = true

// defaultTimeout is sdk.OpenOptions.Timeout's default.
const defaultTimeout = 10 * time.Second

// start loads GStreamer's libraries and initialises GStreamer, once per
// process; a failure is not retried.
var start = sync.OnceValue(func() error {
	var reason [512]C.char
	if C.es_load(&reason[0], C.size_t(len(reason))) == 0 {
		return fmt.Errorf("%w: %s", ErrLibrariesUnavailable, C.GoString(&reason[0]))
	}
	if C.es_init() == 0 {
		return errors.New("gst: gst_init failed")
	}
	return nil
})

// SDK owns the callback workers and every open handle.
type SDK struct {
	opts Options

	pool    *handoff.Pool
	handles handoff.Registry[sdk.Handle, *handle]

	// panics counts panics recovered in the functions C calls.
	panics atomic.Uint64

	// rootsOnce makes roots, a GIO trust store that trusts nothing
	// (noRoots); it is released by Shutdown.
	rootsOnce sync.Once
	roots     *C.GTlsDatabase
	rootsErr  error
}

// New validates opts, loads GStreamer's libraries and initialises GStreamer
// (once per process) and starts the callback workers. If the libraries
// cannot be loaded, it returns an error wrapping ErrLibrariesUnavailable
// with the dynamic loader's reason, as does every later call.
func New(opts Options) (*SDK, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("gst options: %w", err)
	}
	if err := start(); err != nil {
		return nil, err
	}
	return &SDK{opts: opts, pool: handoff.NewPool(opts.Workers, nil)}, nil
}

// handle is one pipeline. Its fields after self are touched by GStreamer's
// threads through the exported functions, by the workers and by Close.
type handle struct {
	s    *SDK
	id   sdk.Handle
	self cgo.Handle
	pipe *C.esPipe
	url  string // redacted
	user *url.Userinfo
	// location is the URL rtspsrc was given, without credentials: a
	// request to any other is a redirect.
	location string
	tls      *tls.Config               // nil: the system's roots
	host     string                    // the host name the certificate must name
	codec    atomic.Pointer[sdk.Codec] // chosen by select-stream

	linked   chan struct{} // closed when appsink is linked
	linkOnce sync.Once
	failed   chan error // the first bus error, buffered
	ended    atomic.Bool
	offered  []string // codecs refused by select-stream, under mu
	track    uint     // the SDP media chosen, once codec is set, under mu
	refusals []error

	onData   atomic.Pointer[sdk.DataCallback]
	onStatus atomic.Pointer[sdk.StatusCallback]
	q        *queue

	mu sync.Mutex // guards offered, track, refusals and requests
	// requests is what goBeforeSend saw of rtspsrc's requests.
	requests struct {
		described bool // a DESCRIBE was sent
		other     bool // another request followed the last DESCRIBE
		setup     bool // a SETUP did
		restarts  int  // DESCRIBEs after a SETUP
	}

	received, frames, badBuffers, lost atomic.Uint64 // frames: delivered inline
	lastRTP, lastRTCP                  atomic.Int64
	callbacks                          handoff.Clock
	lastSeq                            uint16                           // touched by the streaming thread only
	sr                                 atomic.Pointer[sdk.SenderReport] // the last one received
	certErr                            atomic.Pointer[error]            // why goAcceptCertificate refused
	firstSSRC                          atomic.Uint32                    // goNewSSRC
}

// OpenContext connects to rawURL, selects its first audio track earshot can
// decode and plays it. It returns once appsink is linked to the track,
// or with the first error rtspsrc posts. Errors never contain credentials.
//
// rtspsrc follows 301 and 302 answers itself, without limit, and sends its
// credentials to whichever host it was redirected to. earshot stops it at
// the first request it would send after a redirect (its before-send
// signal) and decides as the gortsplib backend does, by
// o.FollowRedirects: a redirect it follows is opened as a new pipeline,
// with the URL's credentials only on the URL's own host name.
func (s *SDK) OpenContext(ctx context.Context, rawURL string, o sdk.OpenOptions) (sdk.Handle, error) {
	red := sdk.Redact(rawURL)
	orig, err := base.ParseURL(rawURL)
	if err != nil || orig.Host == "" {
		return 0, fmt.Errorf("open %s: invalid url", red)
	}
	id, ok := s.handles.Reserve()
	if !ok {
		return 0, sdk.ErrShutdown
	}

	target := orig
	for hop := 1; ; hop++ {
		h, err := s.open(ctx, id, red, orig.User, target, o)
		var re *redirected
		if errors.As(err, &re) {
			next, ferr := sdk.FollowRedirect(orig, target, re.location, hop, o.FollowRedirects)
			if ferr != nil {
				return 0, fmt.Errorf("open %s: %w", red, ferr)
			}
			s.opts.Logger.Info("gst: following redirect", "url", red, "to", sdk.Redact(next.String()), "hop", hop)
			target = next
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("open %s: %w", red, err)
		}
		if !s.handles.Add(h.id, h) {
			h.free()
			return 0, sdk.ErrShutdown
		}
		h.pushStatus(sdk.Status{Kind: sdk.StatusConnected})
		return h.id, nil
	}
}

// open plays target in a new pipeline, as handle id. user is the original
// URL's credentials, scrubbed from GStreamer's messages.
func (s *SDK) open(ctx context.Context, id sdk.Handle, red string, user *url.Userinfo, target *base.URL, o sdk.OpenOptions) (*handle, error) {
	h := &handle{s: s, id: id, url: red, user: user, linked: make(chan struct{}), failed: make(chan error, 1)}
	h.q = s.newQueue(h, o.OnBurstEnd)
	if o.OnData != nil {
		h.onData.Store(&o.OnData)
	}
	if o.OnStatus != nil {
		h.onStatus.Store(&o.OnStatus)
	}
	u := *(*url.URL)(target)
	var name, pw string
	if u.User != nil {
		name = u.User.Username()
		pw, _ = u.User.Password()
		u.User = nil
	}
	h.location = u.String()
	protocols := 1 | 4 // GST_RTSP_LOWER_TRANS_UDP | _TCP
	switch o.Transport {
	case sdk.TransportTCP:
		protocols = 4
	case sdk.TransportUDP:
		protocols = 1
	}
	timeout := cmp.Or(o.Timeout, defaultTimeout)
	insecure := o.TLSConfig != nil && o.TLSConfig.InsecureSkipVerify
	h.tls, h.host = o.TLSConfig, target.Hostname()

	var db *C.GTlsDatabase
	if target.Scheme == "rtsps" && !insecure && o.TLSConfig != nil && o.TLSConfig.RootCAs != nil {
		// GIO would trust the system's roots besides RootCAs: give it
		// none, so that goAcceptCertificate decides every chain.
		var err error
		if db, err = s.noRoots(); err != nil {
			return nil, err
		}
	}

	cLoc, cUser, cPW := C.CString(h.location), C.CString(name), C.CString(pw)
	h.self = cgo.NewHandle(h)
	h.pipe = C.es_new(C.uintptr_t(h.self), cLoc, cUser, cPW, C.int(protocols),
		C.int(s.opts.Latency.Milliseconds()), C.guint64(timeout.Microseconds()),
		C.guint64(s.opts.UDPTimeout.Microseconds()), cbool(insecure), db)
	C.free(unsafe.Pointer(cLoc))
	C.free(unsafe.Pointer(cUser))
	C.free(unsafe.Pointer(cPW))
	if h.pipe == nil {
		h.self.Delete()
		return nil, errors.New("cannot make rtspsrc and appsink (GStreamer plugins base and good installed?)")
	}
	if C.es_play(h.pipe) == 0 {
		h.free()
		return nil, errors.New("pipeline refused to play")
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	var err error
	select {
	case <-h.linked:
	case err = <-h.failed:
	case <-t.C:
		err = fmt.Errorf("%w after %s", sdk.ErrRequestTimeout, timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		h.free()
		return nil, h.openError(err)
	}
	return h, nil
}

// redirected ends a pipeline that rtspsrc redirected to location.
type redirected struct{ location string }

func (e *redirected) Error() string { return "redirected to " + sdk.Redact(e.location) }

// openError turns rtspsrc's "no supported stream" into the SDK's codec
// errors when select-stream refused every track.
func (h *handle) openError(err error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.codec.Load() != nil {
		return err
	}
	if len(h.offered) == 0 && isNoStream(err) {
		return sdk.ErrNoAudio
	}
	if len(h.offered) > 0 {
		return &sdk.UnsupportedCodecError{Codecs: h.offered, Reasons: h.refusals}
	}
	return err
}

func isNoStream(err error) bool {
	var be *busErr
	return errors.As(err, &be) && be.domain == domainStream
}

// free stops the pipeline (joining its streaming threads) and then
// releases the cgo.Handle, which no C code can use any more.
func (h *handle) free() {
	C.es_free(h.pipe)
	h.pipe = nil
	h.self.Delete()
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Codec returns the codec of h's track.
func (s *SDK) Codec(h sdk.Handle) (sdk.Codec, error) {
	hd, err := s.lookup(h)
	if err != nil {
		return sdk.Codec{}, err
	}
	return *hd.codec.Load(), nil
}

// Stats returns h's counters.
func (s *SDK) Stats(h sdk.Handle) (sdk.HandleStats, error) {
	hd, err := s.lookup(h)
	if err != nil {
		return sdk.HandleStats{}, err
	}
	return hd.stats(), nil
}

// SetDataCallback replaces the data callback of h.
func (s *SDK) SetDataCallback(h sdk.Handle, cb sdk.DataCallback) error {
	hd, err := s.lookup(h)
	if err != nil {
		return err
	}
	hd.onData.Store(&cb)
	return nil
}

// SetStatusCallback replaces the status callback of h.
func (s *SDK) SetStatusCallback(h sdk.Handle, cb sdk.StatusCallback) error {
	hd, err := s.lookup(h)
	if err != nil {
		return err
	}
	hd.onStatus.Store(&cb)
	return nil
}

// Panics counts panics recovered in the functions GStreamer's threads call.
func (s *SDK) Panics() uint64 { return s.panics.Load() }

func (s *SDK) lookup(h sdk.Handle) (*handle, error) {
	hd, ok := s.handles.Get(h)
	if !ok {
		return nil, fmt.Errorf("%w: %d", sdk.ErrInvalidHandle, h)
	}
	return hd, nil
}

// Close stops h's pipeline and discards its queued frames. When it returns,
// no callback for h is running or will run, and it returns h's final
// counters. It must not be called from a callback.
func (s *SDK) Close(h sdk.Handle) (sdk.HandleStats, error) {
	hd, ok := s.handles.Remove(h)
	if !ok {
		return sdk.HandleStats{}, fmt.Errorf("%w: %d", sdk.ErrInvalidHandle, h)
	}
	s.closeHandle(hd)
	return hd.stats(), nil
}

func (s *SDK) closeHandle(hd *handle) {
	hd.q.Close()
	hd.free() // joins the streaming threads, inline callbacks included
}

// Shutdown closes every handle and stops the workers.
func (s *SDK) Shutdown() {
	for _, hd := range s.handles.Shut() {
		s.closeHandle(hd)
	}
	s.pool.Stop()
	if s.roots != nil {
		C.es_unref(C.gpointer(s.roots))
		s.roots = nil
	}
}

// busErr is an error rtspsrc posted on the bus.
type busErr struct {
	msg    string
	domain int
	code   int
	cause  error // what earshot knows of it, if anything: a refused certificate
}

func (e *busErr) Error() string { return e.msg }

// Domains of busErr, as glue.c numbers them.
const (
	domainOther = iota
	domainResource
	domainStream
)

// GStreamer's GstResourceError codes that earshot classifies.
const (
	resourceNotFound      = 3  // GST_RESOURCE_ERROR_NOT_FOUND
	resourceOpenReadWrite = 7  // GST_RESOURCE_ERROR_OPEN_READ_WRITE: rtspsrc could not connect
	resourceNotAuthorized = 15 // GST_RESOURCE_ERROR_NOT_AUTHORIZED
)

// Unwrap lets sdk.Classify see authorisation and missing paths as the
// gortsplib backend reports them.
func (e *busErr) Unwrap() error {
	if e.cause != nil {
		return e.cause
	}
	if e.domain != domainResource {
		return nil
	}
	switch e.code {
	case resourceNotAuthorized:
		return liberrors.ErrClientBadStatusCode{Code: base.StatusUnauthorized, Message: e.msg}
	case resourceNotFound:
		return liberrors.ErrClientBadStatusCode{Code: base.StatusNotFound, Message: e.msg}
	case resourceOpenReadWrite:
		return syscall.ECONNREFUSED
	}
	return nil
}

// scrub removes the credentials of h's URL from msg.
func (h *handle) scrub(msg string) string {
	if h.user == nil {
		return msg
	}
	if p, ok := h.user.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "***")
	}
	if n := h.user.Username(); n != "" {
		msg = strings.ReplaceAll(msg, n, "***")
	}
	return msg
}

// codecFromCaps identifies the track rtspsrc describes in caps: the SDP
// rtpmap and fmtp rebuilt from the caps fields.
func codecFromCaps(fields map[string]string) (sdk.Codec, string, error) {
	pt, _ := atoiField(fields["payload"])
	rtpmap := ""
	if enc := fields["encoding-name"]; enc != "" {
		rtpmap = enc + "/" + fields["clock-rate"]
		if p := fields["encoding-params"]; p != "" {
			rtpmap += "/" + p
		}
	}
	fmtp := map[string]string{}
	for k, v := range fields {
		if !capsOnly(k) {
			fmtp[k] = v
		}
	}
	if len(fmtp) == 0 {
		fmtp = nil
	}
	af, err := audio.Identify(audio.SDP{PayloadType: uint8(pt), RTPMap: rtpmap, FMTP: fmtp})
	name := fmt.Sprintf("%s (%s)", fields["encoding-name"], rtpmap)
	if err != nil {
		return sdk.Codec{}, name, err
	}
	return sdk.NewCodec(uint8(pt), af, fmtp), name, nil
}

// capsOnly reports whether a caps field of rtspsrc is its own, not an SDP
// fmtp parameter.
func capsOnly(k string) bool {
	switch k {
	case "media", "payload", "clock-rate", "encoding-name", "encoding-params", "ssrc", "clock-base",
		"seqnum-base", "npt-start", "npt-stop", "play-speed", "play-scale", "onvif-mode":
		return true
	}
	return strings.HasPrefix(k, "a-") || strings.HasPrefix(k, "x-") || strings.HasPrefix(k, "rtcp-fb-")
}

func atoiField(s string) (int, error) {
	var n int
	_, err := fmt.Sscanf(s, "%d", &n)
	return n, err
}

// deinit releases GStreamer's global state, after which no SDK can be
// made in this process; GStreamer's leaks tracer reports at that point.
// Only the leak test's child process calls it.
func deinit() { C.es_deinit() }
