// Package ingest pulls audio streams through the SDK and turns them into
// Kafka records: per stream, an adapter copies each frame out of the SDK's
// callback and hands it over without blocking, and one worker goroutine
// decodes, chunks and writes to the sink.
package ingest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"time"

	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/ingest/sdk/gst"
)

// StreamConfig describes one source.
type StreamConfig struct {
	// ID names the stream in Kafka keys, headers, metrics and logs. It must
	// match [A-Za-z0-9._-]{1,128} and be neither "." nor "..". Required.
	ID string
	// URL is the rtsp:// or rtsps:// address, credentials included. Required.
	URL string
	// Transport is "auto" (UDP, falling back to TCP), "tcp" or "udp".
	// It defaults to "auto".
	Transport string
	// FollowRedirects says which DESCRIBE redirects are followed:
	// "same_host" (to the URL's host name only), "any" (to other hosts too,
	// without the credentials) or "none". At most 3 are followed.
	// It defaults to "same_host".
	FollowRedirects string
	// CAFile is a PEM file of certificate authorities that rtsps sources
	// are verified against. It defaults to "" (the system roots).
	CAFile string
	// InsecureSkipVerify accepts any certificate from an rtsps source,
	// as self-signed cameras need. It defaults to false.
	InsecureSkipVerify bool
	// Backend is the RTSP stack that pulls the stream: "gortsplib" or
	// "gstreamer" (builds with the gstreamer tag). It defaults to "" (the
	// Config's Backend).
	Backend string
}

// Config configures a Supervisor. The zero value, plus streams, is usable.
type Config struct {
	// Streams to pull.
	Streams []StreamConfig
	// SampleRate is the output rate in Hz. It defaults to 16000.
	SampleRate int
	// Chunk is the duration of one audio record, 20 ms to 2 s.
	// It defaults to 200 ms.
	Chunk time.Duration
	// HandoffLen is how many frames each stream buffers between the SDK
	// callback and the stream worker; when full, new frames are dropped,
	// counted and reported as a gap. It defaults to 160 (3.2 s of 20 ms
	// frames): at least twice the 64 packets gortsplib's UDP reorder buffer
	// releases at once after a loss.
	HandoffLen int
	// Timeout bounds each RTSP request, and so how long a source that
	// accepts connections but never answers takes to fail. It defaults to
	// 10 s.
	Timeout time.Duration
	// LivenessTimeout is how long a streaming audio track may go without
	// an RTP audio packet, or without its timeline advancing, before it is
	// declared stalled (no_rtp, rtcp_only, timestamps_frozen) and
	// reconnected. RTCP and other tracks do not count: a camera that keeps
	// sending sender reports while its audio stopped is stalled. It
	// defaults to 5 s.
	LivenessTimeout time.Duration
	// StallTimeout is how long a stage inside earshot (an SDK callback, a
	// stream worker step, a sink write) may take on one item before it is
	// declared stalled (callback_blocked, worker_stuck, sink_stalled). It
	// defaults to 2 s.
	StallTimeout time.Duration
	// SilenceTimeout is how long a streaming source's audio may stay below
	// SilenceThresholdDBFS (or at digital zero) before it is flagged
	// silent_audio: a stall of stage source that is logged once and counted,
	// but neither reconnects nor writes a gap, and ends when sound returns.
	// Negative turns the check off. It defaults to 5 min.
	SilenceTimeout time.Duration
	// SilenceThresholdDBFS is the RMS level, over 100 ms windows, below
	// which audio counts as silence, in dBFS (−120..−1). It defaults to −70.
	SilenceThresholdDBFS float64
	// ReadCoalesce is how long, after PLAY, each read of a stream's RTSP
	// connection waits after the previous one, so that one read takes a
	// burst of packets (sdk.OpenOptions.ReadCoalesce), at up to this much
	// more latency; at most 100 ms. A read that filled its buffer is
	// followed at once. Negative turns it off. It defaults to 60 ms, the
	// measured choice (docs/performance.md).
	ReadCoalesce time.Duration
	// ReconnectMin is the first pause before reconnecting, and the pause
	// after a session that was established. It defaults to 1 s.
	ReconnectMin time.Duration
	// ReconnectMax caps the exponential pause between failed connection
	// attempts. It defaults to 30 s.
	ReconnectMax time.Duration
	// PermanentRetry is the pause after a failure that retrying soon cannot
	// fix: 401, 403, 404, no audio track, no supported codec. It defaults to
	// 2 min.
	PermanentRetry time.Duration
	// DrainTimeout bounds the final writes (flushed chunks, end records) at
	// shutdown. It defaults to 5 s.
	DrainTimeout time.Duration
	// RemoveTimeout bounds how long Remove, Reload and the API's DELETE
	// wait for a removed stream's worker to write its end record. A worker
	// stuck longer (in a decoder, on the sink) still ends, and writes its
	// end record, when it returns; the call returns ErrStillEnding. It
	// defaults to 10 s.
	RemoveTimeout time.Duration
	// MaxStreams caps the streams of one supervisor: a configuration with
	// more is refused, and so is an Add beyond it (ErrTooManyStreams). It
	// defaults to 2000.
	MaxStreams int
	// Diagnostics configures the bundles written when a stall is detected.
	Diagnostics DiagnosticsConfig
	// SDK configures the callback SDK the supervisor creates.
	SDK sdk.Options
	// Backend is the RTSP stack of the streams that name none: "gortsplib"
	// or "gstreamer". It defaults to "gortsplib".
	Backend string
	// GStreamer configures the GStreamer backend (builds that have it). It
	// starts with Run if a configured stream uses it, otherwise when one is
	// first added: a process whose streams all use gortsplib never loads
	// GStreamer's plugin registry.
	GStreamer gst.Options
	// OnStall, if set, is called on the watchdog goroutine for each new
	// stall, after it is logged. It must not block.
	OnStall func(Stall)
	// Instance, in fleet mode, names this instance in every record (the
	// optional earshot.instance header). It defaults to "": no header.
	Instance string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

var streamIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func (c *Config) setDefaults() {
	if c.SampleRate == 0 {
		c.SampleRate = 16000
	}
	if c.Chunk == 0 {
		c.Chunk = 200 * time.Millisecond
	}
	if c.HandoffLen == 0 {
		c.HandoffLen = 160
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.LivenessTimeout == 0 {
		c.LivenessTimeout = 5 * time.Second
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = 2 * time.Second
	}
	if c.SilenceTimeout == 0 {
		c.SilenceTimeout = 5 * time.Minute
	}
	if c.SilenceThresholdDBFS == 0 {
		c.SilenceThresholdDBFS = -70
	}
	if c.ReadCoalesce == 0 {
		c.ReadCoalesce = 60 * time.Millisecond
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = time.Second
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = 30 * time.Second
	}
	if c.PermanentRetry == 0 {
		c.PermanentRetry = 2 * time.Minute
	}
	c.Diagnostics.setDefaults()
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 5 * time.Second
	}
	if c.RemoveTimeout == 0 {
		c.RemoveTimeout = 10 * time.Second
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = 2000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SDK.Logger == nil {
		c.SDK.Logger = c.Logger
	}
	if c.Backend == "" {
		c.Backend = BackendGortsplib
	}
	if c.GStreamer.Logger == nil {
		c.GStreamer.Logger = c.Logger
	}
}

// Validate reports every problem of c at once. Defaults must be applied.
func (c *Config) validate() error {
	var errs []error
	switch c.SampleRate {
	case 8000, 12000, 16000, 24000, 48000:
	default:
		errs = append(errs, fmt.Errorf("sample rate %d Hz is not one of 8000, 12000, 16000, 24000, 48000", c.SampleRate))
	}
	if c.Chunk < 20*time.Millisecond || c.Chunk > 2*time.Second {
		errs = append(errs, fmt.Errorf("chunk %s is outside 20ms..2s", c.Chunk))
	}
	if c.HandoffLen < 2 || c.HandoffLen > 4096 {
		errs = append(errs, fmt.Errorf("handoff length %d is outside 2..4096", c.HandoffLen))
	}
	if c.ReconnectMin <= 0 || c.ReconnectMax < c.ReconnectMin {
		errs = append(errs, fmt.Errorf("reconnect pauses %s..%s are not a positive range", c.ReconnectMin, c.ReconnectMax))
	}
	if c.SilenceThresholdDBFS < LevelFloorDBFS || c.SilenceThresholdDBFS > -1 {
		errs = append(errs, fmt.Errorf("silence threshold %g dBFS is outside -120..-1", c.SilenceThresholdDBFS))
	}
	if c.SilenceTimeout > 0 && c.SilenceTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("silence timeout %s is below 100ms", c.SilenceTimeout))
	}
	if c.ReadCoalesce > 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("read coalesce %s is above 100ms", c.ReadCoalesce))
	}
	if c.PermanentRetry < c.ReconnectMin {
		errs = append(errs, fmt.Errorf("permanent retry %s is shorter than reconnect min %s", c.PermanentRetry, c.ReconnectMin))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"timeout", c.Timeout}, {"liveness timeout", c.LivenessTimeout}, {"stall timeout", c.StallTimeout}, {"drain timeout", c.DrainTimeout}, {"remove timeout", c.RemoveTimeout}} {
		if d.v < 100*time.Millisecond {
			errs = append(errs, fmt.Errorf("%s %s is below 100ms", d.name, d.v))
		}
	}
	if err := c.Diagnostics.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.SDK.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("sdk: %w", err))
	}
	if err := c.GStreamer.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("gstreamer: %w", err))
	}
	if err := validateBackend(c.Backend); err != nil {
		errs = append(errs, err)
	}
	if c.MaxStreams < 1 {
		errs = append(errs, fmt.Errorf("max streams %d is below 1", c.MaxStreams))
	}
	if err := validateStreams(c.Streams, c.MaxStreams); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validateStreams reports every problem of a list of streams, at most
// limit of them.
func validateStreams(streams []StreamConfig, limit int) error {
	var errs []error
	if limit > 0 && len(streams) > limit {
		errs = append(errs, fmt.Errorf("%w: %d streams configured, max streams is %d", ErrTooManyStreams, len(streams), limit))
	}
	seen := make(map[string]bool, len(streams))
	for i, s := range streams {
		if err := s.validate(); err != nil {
			errs = append(errs, fmt.Errorf("streams[%d]: %w", i, err))
		}
		if seen[s.ID] {
			errs = append(errs, fmt.Errorf("streams[%d]: duplicate id %q", i, s.ID))
		}
		seen[s.ID] = true
	}
	return errors.Join(errs...)
}

// ValidateID checks a stream id: [A-Za-z0-9._-]{1,128}, not "." or "..".
func ValidateID(id string) error {
	switch {
	case !streamIDPattern.MatchString(id):
		return fmt.Errorf("id %q must match %s", id, streamIDPattern)
	case id == "." || id == "..":
		// They match the pattern, yet /api/streams/.. is not a path a
		// DELETE can name.
		return fmt.Errorf("id %q is a path element; name the stream otherwise", id)
	}
	return nil
}

func (s StreamConfig) validate() error {
	var errs []error
	if err := ValidateID(s.ID); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateURL(s.URL); err != nil {
		errs = append(errs, err)
	}
	if _, err := sdk.ParseTransport(s.Transport); err != nil {
		errs = append(errs, err)
	}
	if _, err := sdk.ParseRedirectPolicy(s.FollowRedirects); err != nil {
		errs = append(errs, err)
	}
	if err := validateBackend(s.Backend); err != nil {
		errs = append(errs, err)
	}
	if _, err := s.tlsConfig(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// tlsConfig returns the TLS configuration for an rtsps source; nil means
// gortsplib's default (system roots).
func (s StreamConfig) tlsConfig() (*tls.Config, error) {
	if s.CAFile == "" && !s.InsecureSkipVerify {
		return nil, nil
	}
	c := &tls.Config{InsecureSkipVerify: s.InsecureSkipVerify}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca file %s holds no PEM certificate", s.CAFile)
		}
	}
	return c, nil
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

// Validate reports every problem of c, with defaults applied to unset
// fields.
func (c Config) Validate() error {
	c.setDefaults()
	return c.validate()
}
