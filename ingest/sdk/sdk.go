// Package sdk is a vendor-style callback SDK for pulling RTSP audio, built
// over gortsplib.
//
// It has the shape of the closed C SDKs IP-camera vendors ship: create an SDK,
// Open a URL to get a Handle, register a data callback and a status callback,
// Close the handle, Shutdown the SDK. Callbacks run on a small fixed pool of
// SDK workers shared by every handle, so a callback that blocks starves every
// other handle served by that worker — the failure earshot exists to prevent,
// reproduced faithfully so that earshot's adapter can be tested against it.
package sdk

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/earshot/earshot/ingest/sdk/internal/handoff"
)

// Sentinel errors.
var (
	ErrShutdown      = errors.New("sdk is shut down")
	ErrInvalidHandle = errors.New("invalid handle")
	// ErrRequestTimeout: the source did not answer an RTSP request within
	// OpenOptions.Timeout.
	ErrRequestTimeout = errors.New("rtsp request timed out")
	// ErrSSRCChanged ends a session whose source switched to another SSRC.
	ErrSSRCChanged = errors.New("source changed its SSRC")
)

// defaultTimeout is OpenOptions.Timeout's default.
const defaultTimeout = 10 * time.Second

// minQueueFrames and maxQueueFrames bound a queue sized by
// Options.QueueDuration. The minimum is twice gortsplib's UDP reorder
// buffer (rtpreorderer's 64 packets), which it releases at once when a lost
// packet is given up on.
const (
	minQueueFrames = 2 * 64
	maxQueueFrames = 4096
)

// overrunReportPeriod coalesces StatusCallbackOverrun reports per handle.
const overrunReportPeriod = time.Second

// DataCallback receives one frame.
//
// It is called on one of the SDK's callback workers, never on the goroutine
// that called Open, never concurrently for the same handle, in packet order.
// It must not block: while it runs its worker serves no other handle, and
// this handle's queue fills and drops frames. f and f.Data are valid only
// until it returns.
type DataCallback func(h Handle, f *Frame)

// StatusCallback receives a change of a handle's state. It is called on the
// SDK's callback workers, serialised with the handle's data callbacks, and
// must not block either. It must not call Close or Shutdown.
type StatusCallback func(h Handle, st Status)

// Options configure an SDK. The zero value is usable.
type Options struct {
	// Workers is the number of callback workers shared by all handles.
	// It defaults to 4.
	Workers int
	// QueueDuration is how much audio, in RTP time, each handle buffers
	// while its callbacks are behind; further frames are dropped, counted
	// and marked DropCallbacksBehind. Whatever the duration, a queue holds
	// at least 128 frames (twice the 64 packets gortsplib's UDP reorder
	// buffer releases at once after a loss) and at most 4096 (then
	// DropQueueFrames). It defaults to 2 s.
	QueueDuration time.Duration
	// QueueLen, if set, bounds each handle's queue in frames instead of
	// QueueDuration (for tests). It defaults to 0: sized by QueueDuration.
	QueueLen int
	// CallbackBudget is how long a data callback may take before it is
	// counted as an overrun and reported through the status callback.
	// It defaults to 10 ms.
	CallbackBudget time.Duration
	// PoisonBuffers overwrites each frame's bytes once its callback returns,
	// so that a consumer that keeps them reads garbage in tests instead of
	// plausible audio. It defaults to false.
	PoisonBuffers bool
	// CallbackObserver, if set, is called on the worker after every data
	// callback with its duration. It must be cheap and must not block.
	CallbackObserver func(d time.Duration)
	// DropObserver, if set, is called on the RTSP reader goroutine for every
	// frame dropped because its handle's queue was full. It must be cheap
	// and must not block.
	DropObserver func(h Handle)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	o.Workers = cmp.Or(o.Workers, handoff.DefaultWorkers)
	if o.QueueDuration == 0 {
		o.QueueDuration = 2 * time.Second
	}
	if o.CallbackBudget == 0 {
		o.CallbackBudget = 10 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

func (o *Options) validate() error {
	errs := []error{handoff.ValidateWorkers(o.Workers)}
	if o.QueueLen < 0 || o.QueueLen > maxQueueFrames {
		errs = append(errs, fmt.Errorf("QueueLen must be between 0 and %d, got %d", maxQueueFrames, o.QueueLen))
	}
	if o.QueueDuration < 0 || o.QueueDuration > time.Minute {
		errs = append(errs, fmt.Errorf("QueueDuration must be between 0 and 1m, got %s", o.QueueDuration))
	}
	if o.CallbackBudget < 0 {
		errs = append(errs, fmt.Errorf("CallbackBudget must not be negative, got %s", o.CallbackBudget))
	}
	return errors.Join(errs...)
}

// Transport selects the RTP transport of a handle.
type Transport int

// Transports.
const (
	// TransportAuto tries UDP and falls back to TCP.
	TransportAuto Transport = iota
	TransportTCP
	TransportUDP
)

// transportNames are the Transports' names, by value.
var transportNames = []string{"auto", "tcp", "udp"}

// ParseTransport parses "auto", "tcp" or "udp"; "" means auto.
func ParseTransport(s string) (Transport, error) {
	return parseEnum[Transport](s, "transport", transportNames)
}

func (t Transport) String() string { return enumName(t, transportNames) }

// parseEnum parses the name of a value of a small enum whose values are
// the indexes of names; "" is the first, its default.
func parseEnum[T ~int](s, what string, names []string) (T, error) {
	if s == "" {
		return 0, nil
	}
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return T(i), nil
		}
	}
	last := len(names) - 1
	return 0, fmt.Errorf("unknown %s %q (want %s or %s)", what, s, strings.Join(names[:last], ", "), names[last])
}

// enumName returns the name of v, a value of a small enum whose values are
// the indexes of names; the default's for a value out of range.
func enumName[T ~int](v T, names []string) string {
	if v < 0 || int(v) >= len(names) {
		return names[0]
	}
	return names[v]
}

// OpenOptions configure one handle. The zero value is usable.
type OpenOptions struct {
	// Transport defaults to TransportAuto.
	Transport Transport
	// Timeout bounds each RTSP request. It defaults to 10 seconds.
	Timeout time.Duration
	// ReadTimeout is how long the connection may stay silent (no RTP nor
	// RTCP on any set-up track) before gortsplib ends it. It defaults to
	// Timeout.
	ReadTimeout time.Duration
	// TLSConfig is used for rtsps URLs. It defaults to nil (system roots).
	TLSConfig *tls.Config
	// DialContext dials the RTSP connection. It defaults to net.Dialer's.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// OnData is the data callback, installed before any frame is delivered.
	// It can be replaced later with SetDataCallback.
	OnData DataCallback
	// OnStatus is the status callback, installed before any status is
	// delivered. It can be replaced later with SetStatusCallback.
	OnStatus StatusCallback
	// OnBurstEnd, if set, is called after a run of one or more data
	// callbacks of the handle, on the same worker, before it serves another
	// handle: once per burst read from the source, the place to wake a
	// consumer of what the data callbacks queued (rather than once per
	// frame, inside the callback's time). It must not block.
	OnBurstEnd func(h Handle)
	// FollowRedirects says which DESCRIBE redirects are followed (at most
	// 3, credentials only to the URL's own host). It defaults to
	// RedirectSameHost.
	FollowRedirects RedirectPolicy
	// ReadCoalesce, after PLAY, makes each read of the RTSP connection wait
	// until ReadCoalesce after the previous one returned, so that one read
	// takes the interleaved packets of a burst rather than one: fewer read
	// syscalls and reader wake-ups, for up to ReadCoalesce more latency.
	// A read that filled its buffer is followed at once, so that a backlog
	// drains at full speed. With UDP transport only the RTSP connection's
	// reads wait. At most 100 ms. It defaults to 0 (negative is the same):
	// each packet is read as it arrives.
	ReadCoalesce time.Duration
	// ProfileLabels are pprof label pairs (key, value, key, value…) that
	// the handle's reader goroutine and its callbacks carry, with "stage"
	// set to "sdk_reader" or "sdk_callback", so that CPU profiles can be
	// filtered by stream. It defaults to none.
	ProfileLabels []string
}

// SDK owns the callback workers and every open handle.
type SDK struct {
	opts Options

	pool *handoff.Pool

	handles handoff.Registry[Handle, *handle]
}

// New validates opts and starts the callback workers.
func New(opts Options) (*SDK, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("sdk options: %w", err)
	}
	pool := handoff.NewPool(opts.Workers, labelContext("sdk_idle", nil))
	return &SDK{opts: opts, pool: pool}, nil
}

// Open connects to rawURL, selects its first audio track earshot can decode
// and starts playing it. See OpenContext.
func (s *SDK) Open(rawURL string, o OpenOptions) (Handle, error) {
	return s.OpenContext(context.Background(), rawURL, o)
}

// OpenContext is Open with a context bounding the RTSP handshake.
// Errors never contain the URL's credentials.
func (s *SDK) OpenContext(ctx context.Context, rawURL string, o OpenOptions) (Handle, error) {
	red := Redact(rawURL)
	u, err := base.ParseURL(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, credentials included
		}
		return 0, fmt.Errorf("open %s: invalid url: %w", red, err)
	}
	if u.Host == "" {
		return 0, fmt.Errorf("open %s: invalid url: no host", red)
	}
	if o.ReadCoalesce > maxReadCoalesce {
		return 0, fmt.Errorf("open %s: read coalescing %v is above %v", red, o.ReadCoalesce, maxReadCoalesce)
	}

	h := &handle{url: red, done: make(chan struct{})}
	h.readerLabels = labelContext("sdk_reader", o.ProfileLabels)
	h.q = s.newQueue(h, o.ProfileLabels, o.OnBurstEnd)
	if o.OnData != nil {
		h.onData.Store(&o.OnData)
	}
	if o.OnStatus != nil {
		h.onStatus.Store(&o.OnStatus)
	}

	id, ok := s.handles.Reserve()
	if !ok {
		return 0, ErrShutdown
	}
	h.id = id

	if err := s.connect(ctx, u, o, h); err != nil {
		return 0, fmt.Errorf("open %s: %w", red, scrub(err, u))
	}

	if !s.handles.Add(h.id, h) {
		h.client.Close()
		h.closers.Wait()
		return 0, ErrShutdown
	}

	h.q.PushStatus(Status{Kind: StatusConnected})
	// No goroutine waits for the client while it plays: gortsplib closes
	// its connection when the client ends, whatever the cause, and the
	// goroutine that reports the end starts then (see connWatch).
	h.conns.watch.onClose(func() { go s.wait(h, u) })
	return h.id, nil
}

// connect plays u on h, following DESCRIBE redirects as o allows: each on
// a new connection, so that one attempt opens at most maxRedirects+1
// connections. On success h.client is playing.
func (s *SDK) connect(ctx context.Context, u *base.URL, o OpenOptions, h *handle) error {
	timeout := cmp.Or(o.Timeout, defaultTimeout)
	target := u
	for hop := 1; ; hop++ {
		var rc redirectCatcher
		c, coalesce := s.newClient(target, o, h, &rc)
		h.client = c
		if err := c.Start2(); err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, c.Close)
		err := s.play(c, target, h, timeout, &rc)
		if !stop() && err == nil {
			err = ctx.Err()
		}
		if err == nil {
			coalesce.armed.Store(true)
			h.conns = coalesce
			return nil
		}
		c.Close()
		h.closers.Wait()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		var re *redirectError
		if !errors.As(err, &re) {
			return err
		}
		next, err := redirectTarget(u, target, re.location, hop, o.FollowRedirects)
		if err != nil {
			return err
		}
		s.opts.Logger.Info("sdk: following redirect", "url", h.url, "to", Redact(next.String()), "hop", hop)
		target = next
	}
}

// newClient configures a gortsplib client for h. gortsplib's own callbacks
// for lost packets and undecodable data would log a line per event: they
// count instead, and the counts reach the consumer through Stats. It also
// returns the read coalescer to arm after PLAY.
func (s *SDK) newClient(u *base.URL, o OpenOptions, h *handle, rc *redirectCatcher) (*gortsplib.Client, *readCoalescer) {
	// Every connection's reads release the handle's queue held during the
	// previous read's burst; with o.ReadCoalesce they also wait.
	coalesce := newReadCoalescer(o.ReadCoalesce, h.q)
	c := &gortsplib.Client{
		OnRequest:    rc.onRequest,
		OnResponse:   rc.onResponse,
		Scheme:       u.Scheme,
		Host:         u.Host,
		ReadTimeout:  cmp.Or(o.ReadTimeout, o.Timeout),
		WriteTimeout: o.Timeout,
		TLSConfig:    o.TLSConfig,
		DialContext:  o.DialContext,
		// Called on gortsplib's reader goroutine; counting never blocks.
		OnPacketsLost: func(n uint64) { h.lost.Add(n) },
		OnDecodeError: func(err error) {
			h.decodeErrors.Add(1)
			// gortsplib drops, for the rest of the session, every packet
			// whose SSRC differs from the first one's, and says so only in
			// this message (it has no typed error): end the session, so
			// that the source is followed under its new SSRC.
			if strings.Contains(err.Error(), "wrong SSRC") {
				h.abort(ErrSSRCChanged)
			}
		},
		OnTransportSwitch: func(err error) {
			s.opts.Logger.Info("sdk: switching transport", "url", h.url, "reason", scrub(err, u))
			// After PLAY, gortsplib closes the connection and dials
			// another; the earlier switches (at SETUP) precede the watch.
			if errors.As(err, new(liberrors.ErrClientSwitchToTCP)) {
				coalesce.watch.handOver()
			}
		},
	}
	switch o.Transport {
	case TransportTCP:
		t := gortsplib.TransportTCP
		c.Transport = &t
	case TransportUDP:
		t := gortsplib.TransportUDP
		c.Transport = &t
	}
	c.DialContext = coalesce.dialer(o.DialContext)
	return c, coalesce
}

// play describes the source, sets up its audio track and starts playing.
// Each request must be answered within timeout: gortsplib bounds responses
// by its ReadTimeout, which is also the stream's silence timeout, so a
// source that accepts connections but never answers would otherwise hold
// the handshake that long.
func (s *SDK) play(c *gortsplib.Client, u *base.URL, h *handle, timeout time.Duration, rc *redirectCatcher) error {
	var fired atomic.Bool
	t := time.AfterFunc(timeout, func() {
		fired.Store(true)
		c.Close()
	})
	defer t.Stop()
	check := func(step string, err error) error {
		switch {
		case fired.Load():
			return fmt.Errorf("%s: %w after %s", step, ErrRequestTimeout, timeout)
		case err != nil:
			return fmt.Errorf("%s: %w", step, err)
		}
		t.Reset(timeout)
		return nil
	}
	desc, _, err := c.Describe(u)
	if err := check("describe", err); err != nil {
		if loc := rc.take(); loc != "" {
			return &redirectError{location: loc, err: err}
		}
		return err
	}
	medi, forma, codec, err := pickAudio(desc)
	if err != nil {
		return err
	}
	if err := codec.Format().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadFormat, err)
	}
	h.codec = &codec
	_, err = c.Setup(desc.BaseURL, medi, 0, 0)
	if err := check("setup "+codec.Name+" track", err); err != nil {
		return err
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) { s.onPacket(h, pkt) })
	// RTCP is counted apart from RTP: a source that keeps sending sender
	// reports while its audio stopped must not look alive.
	c.OnPacketRTCP(medi, func(pkt rtcp.Packet) {
		h.lastRTCP.Store(time.Now().UnixNano())
		if sr, ok := pkt.(*rtcp.SenderReport); ok {
			h.sr.Store(&senderReport{ntp: ntpTime(sr.NTPTime), rtp: sr.RTPTime})
		}
	})
	_, err = c.Play(nil)
	return check("play", err)
}

// onPacket runs on gortsplib's reader goroutine for every RTP packet of the
// track. It copies the packet into the handle's queue and never blocks.
func (s *SDK) onPacket(h *handle, pkt *rtp.Packet) {
	f := Frame{
		Timestamp: pkt.Timestamp,
		Seq:       pkt.SequenceNumber,
		Marker:    pkt.Marker,
		SSRC:      pkt.SSRC,
		Arrival:   time.Now(),
		Codec:     h.codec,
	}
	if h.received.Add(1) == 1 {
		// gortsplib owns the reader goroutine; label it once it is ours.
		pprof.SetGoroutineLabels(h.readerLabels)
	}
	h.lastRTP.Store(f.Arrival.UnixNano())
	if sr := h.sr.Load(); sr != nil {
		f.NTP = sr.at(pkt.Timestamp, h.codec.ClockRate)
	}
	if h.q.Push(pkt.Payload, &f) && s.opts.DropObserver != nil {
		s.opts.DropObserver(h.id)
	}
}

// wait reports the end of a handle's connection, unless Close ended it.
// It starts once the connection is closed, so Wait returns promptly.
func (s *SDK) wait(h *handle, u *base.URL) {
	defer close(h.done)
	err := h.client.Wait()
	if cause := h.abortCause(); cause != nil {
		err = cause
	}
	h.q.PushStatus(Status{Kind: StatusDisconnected, Err: scrub(err, u)})
}

// SetDataCallback replaces the data callback of h.
func (s *SDK) SetDataCallback(h Handle, cb DataCallback) error {
	hd, err := s.lookup(h)
	if err != nil {
		return err
	}
	hd.onData.Store(&cb)
	return nil
}

// SetStatusCallback replaces the status callback of h.
func (s *SDK) SetStatusCallback(h Handle, cb StatusCallback) error {
	hd, err := s.lookup(h)
	if err != nil {
		return err
	}
	hd.onStatus.Store(&cb)
	return nil
}

// Codec returns the codec of h's track.
func (s *SDK) Codec(h Handle) (Codec, error) {
	hd, err := s.lookup(h)
	if err != nil {
		return Codec{}, err
	}
	return *hd.codec, nil
}

// Stats returns h's counters.
func (s *SDK) Stats(h Handle) (HandleStats, error) {
	hd, err := s.lookup(h)
	if err != nil {
		return HandleStats{}, err
	}
	return hd.stats(), nil
}

func (s *SDK) lookup(h Handle) (*handle, error) {
	hd, ok := s.handles.Get(h)
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrInvalidHandle, h)
	}
	return hd, nil
}

// Close disconnects h and discards its queued frames. When it returns, no
// callback for h is running or will run, and it returns h's final
// counters: every frame a callback received is in them. It must not be
// called from a callback.
func (s *SDK) Close(h Handle) (HandleStats, error) {
	hd, ok := s.handles.Remove(h)
	if !ok {
		return HandleStats{}, fmt.Errorf("%w: %d", ErrInvalidHandle, h)
	}
	s.closeHandle(hd)
	return hd.stats(), nil
}

func (s *SDK) closeHandle(hd *handle) {
	hd.q.Close()
	hd.client.Close()
	<-hd.done
	hd.closers.Wait()
}

// Shutdown closes every handle and stops the workers. The SDK is unusable
// afterwards. It must not be called from a callback.
func (s *SDK) Shutdown() {
	for _, hd := range s.handles.Shut() {
		s.closeHandle(hd)
	}
	s.pool.Stop()
}

// scrub removes u's credentials from err's message; errors.Is and errors.As
// still see the original error.
func scrub(err error, u *base.URL) error {
	if err == nil || u.User == nil {
		return err
	}
	msg := err.Error()
	clean := msg
	if p, ok := u.User.Password(); ok && p != "" {
		clean = strings.ReplaceAll(clean, p, "***")
	}
	if n := u.User.Username(); n != "" {
		clean = strings.ReplaceAll(clean, n, "***")
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// labelContext returns a context carrying stage and the label pairs, to
// set on a goroutine with pprof.SetGoroutineLabels: precomputed, so that
// switching labels allocates nothing.
func labelContext(stage string, pairs []string) context.Context {
	return pprof.WithLabels(context.Background(), pprof.Labels(append([]string{"stage", stage}, pairs...)...))
}

// Validate reports every problem of o, with defaults applied to unset
// fields.
func (o Options) Validate() error {
	o.setDefaults()
	return o.validate()
}
