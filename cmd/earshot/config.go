package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/sink"
)

// Config is the YAML configuration of `earshot run`. Every field but
// kafka.brokers, kafka.topic and streams has a usable zero value: each
// field's comment states its default. Defaults owned by earshot run are
// applied by one accessor per field (AdminConfig.listen, DiagConfig.dir,
// SpoolConfig.dir, LogConfig.summaryInterval); the others are left zero
// and applied by the ingest, sdk and sink configurations they map to.
type Config struct {
	Kafka     KafkaConfig     `yaml:"kafka"`
	Spool     SpoolConfig     `yaml:"spool"`
	Output    OutputConfig    `yaml:"output"`
	Ingest    IngestConfig    `yaml:"ingest"`
	SDK       SDKConfig       `yaml:"sdk"`
	Log       LogConfig       `yaml:"log"`
	Admin     AdminConfig     `yaml:"admin"`
	Diag      DiagConfig      `yaml:"diagnostics"`
	Profiling ProfilingConfig `yaml:"profiling"`
	Fleet     FleetConfig     `yaml:"fleet"`
	Memory    MemoryConfig    `yaml:"memory"`
	Streams   []StreamConfig  `yaml:"streams"`
}

// AdminConfig is the admin HTTP listener: the stream API and health.
type AdminConfig struct {
	// Listen is host:port, or "off" to disable the listener. It defaults
	// to 127.0.0.1:9595.
	Listen string `yaml:"listen"`
	// Token, when set, is required as "Authorization: Bearer TOKEN" on
	// everything but /healthz and /readyz; env EARSHOT_ADMIN_TOKEN
	// overrides. A listener reachable beyond loopback needs one, or
	// AllowInsecure. It defaults to "" (no token).
	Token string `yaml:"token"`
	// AllowInsecure accepts a listener reachable beyond loopback without a
	// token: anyone who reaches it can add and remove streams. It defaults
	// to false.
	AllowInsecure bool `yaml:"allow_insecure"`
	// ReadTimeout bounds reading one request, body included; reading its
	// headers is bounded by the shorter of it and 5 s. It defaults to 10 s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// IdleTimeout closes a kept-alive connection that sends no request for
	// this long. It defaults to 1 min.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// DiagConfig maps to ingest.DiagnosticsConfig: bundles written on stalls.
type DiagConfig struct {
	// Dir is the bundles' folder, or "off" to write none. It defaults to
	// $TMPDIR/earshot-diagnostics.
	Dir string `yaml:"dir"`
	// MaxBytes caps all bundles together. It defaults to 256 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// MinInterval is the least time between two bundles. It defaults to
	// 1 min.
	MinInterval time.Duration `yaml:"min_interval"`
	// TraceWindow is the execution trace kept for a bundle. It defaults to
	// 10 s.
	TraceWindow time.Duration `yaml:"trace_window"`
	// NoTrace turns the flight recorder off. It defaults to false.
	NoTrace bool `yaml:"no_trace"`
	// TraceAlways runs the flight recorder from the start instead of only
	// when armed (a stage late, or POST /api/diagnostics/trace). It
	// defaults to false.
	TraceAlways bool `yaml:"trace_always"`
	// TraceArmFor is how long the armed flight recorder runs after the
	// last lateness or request. It defaults to 10 min.
	TraceArmFor time.Duration `yaml:"trace_arm_for"`
}

// KafkaConfig maps to sink.WriterConfig.
type KafkaConfig struct {
	// Brokers are host:port addresses; env EARSHOT_KAFKA_BROKERS
	// (comma-separated) overrides. Required.
	Brokers []string `yaml:"brokers"`
	// Topic receives the records; it must exist. Required.
	Topic string `yaml:"topic"`
	// Acks is all, one or none. It defaults to all.
	Acks string `yaml:"acks"`
	// Compression is none, gzip, snappy, lz4 or zstd. It defaults to none.
	Compression string `yaml:"compression"`
	// BatchTimeout is the batching latency: how long a record waits for
	// others to go to Kafka with it. It defaults to 10 ms; negative: none.
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// BatchBytes is the largest produce per partition, lowered to the
	// topic's max.message.bytes. It defaults to 1 MiB.
	BatchBytes int64 `yaml:"batch_bytes"`
	// WriteTimeout is the deadline of every produce. It defaults to 10 s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// StallTimeout: no produce completing this long while records wait is
	// a sink stall. It defaults to 20 s.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// BufferBytes is what is held in memory before the spool. It defaults
	// to 32 MiB.
	BufferBytes int64 `yaml:"buffer_bytes"`
	// CloseTimeout is how long delivery goes on at shutdown before the
	// rest stays in the spool. It defaults to 10 s.
	CloseTimeout time.Duration   `yaml:"close_timeout"`
	TLS          KafkaTLSConfig  `yaml:"tls"`
	SASL         KafkaSASLConfig `yaml:"sasl"`
}

// KafkaTLSConfig maps to the TLS fields of sink.Security. TLS is on when
// enabled or any other field is set.
type KafkaTLSConfig struct {
	// Enabled turns TLS on. It defaults to false.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM CA bundle. It defaults to "" (the system's roots).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate and its key, PEM.
	// They default to "" (none).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name certificates are checked against. It defaults
	// to "" (each broker's host).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate, for tests. It defaults
	// to false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// KafkaSASLConfig maps to the SASL fields of sink.Security.
type KafkaSASLConfig struct {
	// Mechanism is plain, scram-sha-256 or scram-sha-512. It defaults to
	// "" (no SASL).
	Mechanism string `yaml:"mechanism"`
	// Username; env EARSHOT_KAFKA_SASL_USERNAME overrides. It defaults to
	// "".
	Username string `yaml:"username"`
	// Password; env EARSHOT_KAFKA_SASL_PASSWORD overrides: keep it out of
	// the file. It defaults to "".
	Password string `yaml:"password"`
}

// SpoolConfig maps to sink.SpoolConfig.
type SpoolConfig struct {
	// Dir holds records waiting for Kafka. It defaults to DefaultSpoolDir.
	Dir string `yaml:"dir"`
	// MaxBytes caps the spool. It defaults to 1 GiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// SegmentBytes is the size of one segment file. It defaults to 16 MiB.
	SegmentBytes int64 `yaml:"segment_bytes"`
	// Fsync is interval, always or none. It defaults to interval.
	Fsync string `yaml:"fsync"`
	// FsyncInterval is the pause between two fsyncs of the interval mode.
	// It defaults to 1 s.
	FsyncInterval time.Duration `yaml:"fsync_interval"`
}

// DefaultSpoolDir is where `earshot run` spools when spool.dir is not set.
const DefaultSpoolDir = "/var/lib/earshot/spool"

// OutputConfig is the PCM produced.
type OutputConfig struct {
	// SampleRate is 8000, 12000, 16000, 24000 or 48000 Hz. It defaults to
	// 16000.
	SampleRate int `yaml:"sample_rate"`
	// Chunk is one record's audio, 20 ms to 2 s. It defaults to 200 ms.
	Chunk time.Duration `yaml:"chunk"`
}

// IngestConfig maps to ingest.Config.
type IngestConfig struct {
	// HandoffLen is the frames buffered between the SDK callback and the
	// stream worker. It defaults to 160.
	HandoffLen int `yaml:"handoff_len"`
	// Backend is the RTSP stack of streams that name none: gortsplib or
	// gstreamer (builds with the gstreamer tag; see docs/gstreamer.md). It
	// defaults to gortsplib.
	Backend string `yaml:"backend"`
	// Timeout bounds each RTSP request. It defaults to 10 s.
	Timeout time.Duration `yaml:"timeout"`
	// ReconnectMin is the first pause before reconnecting. It defaults to
	// 1 s.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	// ReconnectMax caps the pause between failed attempts. It defaults to
	// 30 s.
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// DrainTimeout bounds the final writes at shutdown. It defaults to 5 s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// RemoveTimeout bounds how long a reload or an API DELETE waits for a
	// removed stream's end record; a stream stuck longer ends later. It
	// defaults to 10 s.
	RemoveTimeout time.Duration `yaml:"remove_timeout"`
	// MaxStreams caps the streams, configured and added through the API
	// together. It defaults to 2000.
	MaxStreams int `yaml:"max_streams"`
	// LivenessTimeout: no RTP audio (RTCP does not count) or frozen
	// timestamps this long is a stall. It defaults to 5 s.
	LivenessTimeout time.Duration `yaml:"liveness_timeout"`
	// StallTimeout: one item inside earshot taking this long is a stall.
	// It defaults to 2 s.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// PermanentRetry is the pause after 401/403/404, no audio track or an
	// unsupported codec. It defaults to 2 min.
	PermanentRetry time.Duration `yaml:"permanent_retry"`
	// SilenceTimeout: audio below SilenceThresholdDBFS (or at digital zero)
	// this long is flagged silent_audio, without a reconnect or a gap;
	// negative turns the check off. It defaults to 5 min.
	SilenceTimeout time.Duration `yaml:"silence_timeout"`
	// SilenceThresholdDBFS is the RMS level over 100 ms windows below which
	// audio is silence. It defaults to -70.
	SilenceThresholdDBFS float64 `yaml:"silence_threshold_dbfs"`
	// ReadCoalesce: after PLAY each read of a stream's connection waits
	// this long after the previous one, so that one read takes a burst of
	// packets; at most 100ms; negative turns it off. It defaults to 60ms.
	ReadCoalesce time.Duration `yaml:"read_coalesce"`
}

// SDKConfig maps to sdk.Options.
type SDKConfig struct {
	// Workers run the SDK callbacks of all streams. It defaults to 4.
	Workers int `yaml:"workers"`
	// QueueDuration is the audio queued per stream inside the SDK while
	// its callbacks are behind (128 to 4096 frames). It defaults to 2 s.
	QueueDuration time.Duration `yaml:"queue_duration"`
	// QueueLen, if set, bounds that queue in frames instead. It defaults
	// to 0 (sized by queue_duration).
	QueueLen int `yaml:"queue_len"`
	// CallbackBudget: slower callbacks are counted as overruns. It
	// defaults to 10 ms.
	CallbackBudget time.Duration `yaml:"callback_budget"`
}

// MemoryConfig is the process's own memory.
type MemoryConfig struct {
	// TrimBinaryAfter: this long after the start, the resident pages of
	// earshot's executable (text and read-only data) are given back, and
	// from then on only the pages used are mapped again (Linux; needs a
	// process that may write the executable, such as its owner or root).
	// At 100 streams that is ~11 MiB less PSS. Negative turns it off. It
	// defaults to 10 s.
	TrimBinaryAfter time.Duration `yaml:"trim_binary_after"`
	// GCPercent is the garbage collector's target (Go's GOGC): after a
	// collection the heap may grow by this percentage of what was live
	// (goroutine stacks included) before the next one. Most of earshot's
	// memory is per stream, so this headroom is a per-stream cost: 50
	// rather than Go's 100 takes 30–55 KiB off each stream at 100 streams
	// for 5–10% more CPU (docs/performance.md, part 12); a deployment
	// short of CPU rather than memory sets 100. Between 10 and 1000. It
	// defaults to 50, unless the GOGC environment variable is set, which
	// then applies.
	GCPercent int `yaml:"gc_percent"`
}

// defaultGCPercent is memory.gc_percent's default.
const defaultGCPercent = 50

// gcPercent returns the GOGC that earshot run sets, or 0 to leave Go's
// (memory.gc_percent unset and GOGC in the environment).
func (m MemoryConfig) gcPercent() int {
	if m.GCPercent == 0 && os.Getenv("GOGC") != "" {
		return 0
	}
	return cmp.Or(m.GCPercent, defaultGCPercent)
}

// trimAfter returns memory.trim_binary_after, 0 when off.
func (m MemoryConfig) trimAfter() time.Duration {
	if m.TrimBinaryAfter < 0 {
		return 0
	}
	return cmp.Or(m.TrimBinaryAfter, defaultTrimBinaryAfter)
}

// LogConfig selects the log output.
type LogConfig struct {
	// Level is debug, info, warn or error. It defaults to info.
	Level string `yaml:"level"`
	// Format is text or json. It defaults to text.
	Format string `yaml:"format"`
	// SummaryInterval: per-packet problems (loss, decode errors, late
	// packets, drops) are logged as one line per stream and interval with
	// their counts; at least 1 s. It defaults to 1 min.
	SummaryInterval time.Duration `yaml:"summary_interval"`
}

// StreamConfig is one source. Its credentials can come from the environment:
// EARSHOT_STREAM_<ID>_USER and EARSHOT_STREAM_<ID>_PASSWORD, where <ID> is
// the stream id upper-cased with every other character than A-Z and 0-9
// replaced by '_', override the URL's user info.
type StreamConfig struct {
	// ID names the stream: [A-Za-z0-9._-]{1,128}, neither "." nor "..".
	// Required.
	ID string `yaml:"id"`
	// URL is the rtsp:// or rtsps:// address. Required.
	URL string `yaml:"url"`
	// Transport is auto, tcp or udp. It defaults to auto.
	Transport string `yaml:"transport"`
	// FollowRedirects says which DESCRIBE redirects are followed, at most
	// 3: same_host, any (other hosts too, without the credentials) or
	// none. It defaults to same_host.
	FollowRedirects string `yaml:"follow_redirects"`
	// CAFile, rtsps only, is a PEM CA file the camera is verified against.
	// It defaults to "" (the system's roots).
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify, rtsps only, accepts any certificate
	// (self-signed cameras). It defaults to false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Backend is gortsplib or gstreamer (builds with the gstreamer tag).
	// It defaults to ingest.backend.
	Backend string `yaml:"backend"`
}

// LoadConfig reads and validates a YAML configuration, applying environment
// overrides from getenv. The error names every problem found.
func LoadConfig(r io.Reader, getenv func(string) string) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	// A second document would be ignored silently: refuse it.
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse config: the file holds more than one YAML document (a second ---); earshot reads one")
	}
	if err := c.applyEnv(getenv); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) applyEnv(getenv func(string) string) error {
	if b := getenv("EARSHOT_KAFKA_BROKERS"); b != "" {
		c.Kafka.Brokers = strings.Split(b, ",")
	}
	if t := getenv("EARSHOT_ADMIN_TOKEN"); t != "" {
		c.Admin.Token = t
	}
	if u := getenv("EARSHOT_KAFKA_SASL_USERNAME"); u != "" {
		c.Kafka.SASL.Username = u
	}
	if p := getenv("EARSHOT_KAFKA_SASL_PASSWORD"); p != "" {
		c.Kafka.SASL.Password = p
	}
	if p := getenv("EARSHOT_PROFILING_BASIC_AUTH_PASSWORD"); p != "" {
		c.Profiling.BasicAuthPassword = p
	}
	for i := range c.Streams {
		s := &c.Streams[i]
		key := "EARSHOT_STREAM_" + envKey(s.ID)
		user, pass := getenv(key+"_USER"), getenv(key+"_PASSWORD")
		if user == "" && pass == "" {
			continue
		}
		u, err := url.Parse(s.URL)
		if err != nil {
			return fmt.Errorf("streams[%d] (%s): url %s does not parse", i, s.ID, sdk.Redact(s.URL))
		}
		if user == "" && u.User != nil {
			user = u.User.Username()
		}
		u.User = url.UserPassword(user, pass)
		s.URL = u.String()
	}
	return nil
}

func envKey(id string) string {
	b := []byte(strings.ToUpper(id))
	for i, ch := range b {
		if (ch < 'A' || ch > 'Z') && (ch < '0' || ch > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Validate names every problem of c.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Streams) == 0 && !c.Fleet.on() {
		errs = append(errs, errors.New("streams: at least one stream is required"))
	}
	if c.Fleet.on() {
		if fc, err := c.fleetConfig(nil); err != nil {
			errs = append(errs, fmt.Errorf("fleet: %w", err))
		} else if err := fc.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("fleet: %w", err))
		}
	}
	if err := c.writerConfig(nil).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("kafka: %w", err))
	}
	ic := c.ingestConfig(nil)
	if err := ic.Validate(); err != nil {
		errs = append(errs, err)
	}
	if p := c.Memory.GCPercent; p != 0 && (p < 10 || p > 1000) {
		errs = append(errs, fmt.Errorf("memory.gc_percent %d is not between 10 and 1000", p))
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q is not debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q is not text or json", c.Log.Format))
	}
	if d := c.Log.summaryInterval(); d < time.Second {
		errs = append(errs, fmt.Errorf("log.summary_interval %s is below 1s", d))
	}
	if err := c.Profiling.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Admin.check(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid config:\n%w", errors.Join(errs...))
	}
	return nil
}

func (c *Config) writerConfig(logger *slog.Logger) sink.WriterConfig {
	k := c.Kafka
	return sink.WriterConfig{
		Brokers:      k.Brokers,
		Topic:        k.Topic,
		RequiredAcks: k.Acks,
		Compression:  k.Compression,
		BatchTimeout: k.BatchTimeout,
		BatchBytes:   k.BatchBytes,
		WriteTimeout: k.WriteTimeout,
		StallTimeout: k.StallTimeout,
		BufferBytes:  k.BufferBytes,
		CloseTimeout: k.CloseTimeout,
		Spool: sink.SpoolConfig{
			Dir:           c.Spool.dir(),
			MaxBytes:      c.Spool.MaxBytes,
			SegmentBytes:  c.Spool.SegmentBytes,
			Fsync:         c.Spool.Fsync,
			FsyncInterval: c.Spool.FsyncInterval,
		},
		Security: sink.Security{
			TLS:                k.TLS.Enabled,
			CAFile:             k.TLS.CAFile,
			CertFile:           k.TLS.CertFile,
			KeyFile:            k.TLS.KeyFile,
			ServerName:         k.TLS.ServerName,
			InsecureSkipVerify: k.TLS.InsecureSkipVerify,
			SASL:               k.SASL.Mechanism,
			Username:           k.SASL.Username,
			Password:           k.SASL.Password,
		},
		Logger: logger,
	}
}

func (c *Config) ingestConfig(logger *slog.Logger) ingest.Config {
	ic := ingest.Config{
		SampleRate:   c.Output.SampleRate,
		Chunk:        c.Output.Chunk,
		HandoffLen:   c.Ingest.HandoffLen,
		Timeout:      c.Ingest.Timeout,
		ReconnectMin: c.Ingest.ReconnectMin,
		ReconnectMax: c.Ingest.ReconnectMax,
		DrainTimeout: c.Ingest.DrainTimeout,

		RemoveTimeout:   c.Ingest.RemoveTimeout,
		MaxStreams:      c.Ingest.MaxStreams,
		LivenessTimeout: c.Ingest.LivenessTimeout,
		StallTimeout:    c.Ingest.StallTimeout,
		ReadCoalesce:    c.Ingest.ReadCoalesce,
		PermanentRetry:  c.Ingest.PermanentRetry,
		Backend:         c.Ingest.Backend,

		SilenceTimeout:       c.Ingest.SilenceTimeout,
		SilenceThresholdDBFS: c.Ingest.SilenceThresholdDBFS,
		Diagnostics: ingest.DiagnosticsConfig{
			Dir:         c.Diag.dir(),
			MaxBytes:    c.Diag.MaxBytes,
			MinInterval: c.Diag.MinInterval,
			TraceWindow: c.Diag.TraceWindow,
			NoTrace:     c.Diag.NoTrace,
			TraceAlways: c.Diag.TraceAlways,
			TraceArmFor: c.Diag.TraceArmFor,
		},
		SDK: sdk.Options{
			Workers:        c.SDK.Workers,
			QueueDuration:  c.SDK.QueueDuration,
			QueueLen:       c.SDK.QueueLen,
			CallbackBudget: c.SDK.CallbackBudget,
		},
		Logger: logger,
	}
	for _, s := range c.Streams {
		ic.Streams = append(ic.Streams, ingest.StreamConfig(s))
	}
	return ic
}

// Defaults owned by earshot run; see the fields they apply to.
const (
	defaultAdminListen      = "127.0.0.1:9595"
	defaultAdminReadTimeout = 10 * time.Second
	defaultAdminIdleTimeout = time.Minute
	// maxAdminHeaderTimeout bounds reading a request's headers when
	// ReadTimeout is longer.
	maxAdminHeaderTimeout = 5 * time.Second
)

// listen returns the admin address, "" when off.
func (a AdminConfig) listen() string {
	switch a.Listen {
	case "":
		return defaultAdminListen
	case "off":
		return ""
	}
	return a.Listen
}

func (a AdminConfig) readTimeout() time.Duration {
	return cmp.Or(a.ReadTimeout, defaultAdminReadTimeout)
}

func (a AdminConfig) readHeaderTimeout() time.Duration {
	return min(a.readTimeout(), maxAdminHeaderTimeout)
}

func (a AdminConfig) idleTimeout() time.Duration {
	return cmp.Or(a.IdleTimeout, defaultAdminIdleTimeout)
}

// exposed reports whether the listener is reachable beyond loopback: any
// address but a loopback IP or "localhost" (":9595" and "0.0.0.0:9595"
// are every interface; a host name may resolve to any).
func (a AdminConfig) exposed() bool {
	l := a.listen()
	if l == "" {
		return false
	}
	host, _, err := net.SplitHostPort(l)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// check names every problem of a.
func (a AdminConfig) check() error {
	var errs []error
	if l := a.listen(); l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			errs = append(errs, fmt.Errorf("admin.listen %q is not host:port or off", l))
		}
	}
	if a.exposed() && a.Token == "" && !a.AllowInsecure {
		errs = append(errs, fmt.Errorf("admin.listen %q is reachable beyond loopback without a token: set admin.token (or EARSHOT_ADMIN_TOKEN), or admin.allow_insecure: true to let anyone who reaches it add and remove streams", a.Listen))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"admin.read_timeout", a.ReadTimeout}, {"admin.idle_timeout", a.IdleTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// dir returns the diagnostics folder, "" when off.
func (d DiagConfig) dir() string {
	switch d.Dir {
	case "":
		return filepath.Join(os.TempDir(), "earshot-diagnostics")
	case "off":
		return ""
	}
	return d.Dir
}

// dir returns the spool folder.
func (s SpoolConfig) dir() string { return cmp.Or(s.Dir, DefaultSpoolDir) }

// summaryInterval returns log.summary_interval.
func (l LogConfig) summaryInterval() time.Duration {
	return cmp.Or(l.SummaryInterval, defaultSummaryInterval)
}

// loadConfigFile is LoadConfig on a file and the process environment.
func loadConfigFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoadConfig(f, os.Getenv)
}
