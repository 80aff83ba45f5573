package main

import (
	"bytes"
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
// kafka.brokers, kafka.topic and streams has a default; see the field
// comments of the ingest, sdk and sink configurations they map to.
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
	Streams   []StreamConfig  `yaml:"streams"`
}

// AdminConfig is the admin HTTP listener: the stream API and health.
type AdminConfig struct {
	// Listen is host:port; default 127.0.0.1:9595, "off" disables it.
	// Binding beyond loopback must be configured here explicitly.
	Listen string `yaml:"listen"`
	// Token, when set, is required as "Authorization: Bearer TOKEN" on
	// everything but /healthz and /readyz; env EARSHOT_ADMIN_TOKEN
	// overrides.
	Token string `yaml:"token"`
}

// DiagConfig maps to ingest.DiagnosticsConfig: bundles written on stalls.
type DiagConfig struct {
	Dir         string        `yaml:"dir"`          // default $TMPDIR/earshot-diagnostics; "off" disables bundles
	MaxBytes    int64         `yaml:"max_bytes"`    // default 256 MiB for all bundles
	MinInterval time.Duration `yaml:"min_interval"` // default 1m between two bundles
	TraceWindow time.Duration `yaml:"trace_window"` // default 10s of execution trace per bundle
	NoTrace     bool          `yaml:"no_trace"`     // default false: the flight recorder runs
}

// KafkaConfig maps to sink.WriterConfig.
type KafkaConfig struct {
	Brokers      []string        `yaml:"brokers"`       // required; env EARSHOT_KAFKA_BROKERS (comma-separated) overrides
	Topic        string          `yaml:"topic"`         // required; must exist
	Acks         string          `yaml:"acks"`          // all (default), one, none
	Compression  string          `yaml:"compression"`   // none (default), gzip, snappy, lz4, zstd
	BatchTimeout time.Duration   `yaml:"batch_timeout"` // default 5ms
	BatchBytes   int64           `yaml:"batch_bytes"`   // default 1 MiB; lowered to the topic's max.message.bytes
	WriteTimeout time.Duration   `yaml:"write_timeout"` // default 10s: deadline of every produce
	StallTimeout time.Duration   `yaml:"stall_timeout"` // default 20s
	BufferBytes  int64           `yaml:"buffer_bytes"`  // default 32 MiB
	CloseTimeout time.Duration   `yaml:"close_timeout"` // default 10s: delivering at shutdown before spooling the rest
	TLS          KafkaTLSConfig  `yaml:"tls"`
	SASL         KafkaSASLConfig `yaml:"sasl"`
}

// KafkaTLSConfig maps to the TLS fields of sink.Security. TLS is on when
// enabled or any other field is set.
type KafkaTLSConfig struct {
	Enabled            bool   `yaml:"enabled"`              // default false
	CAFile             string `yaml:"ca_file"`              // default: the system's roots
	CertFile           string `yaml:"cert_file"`            // client certificate; with key_file
	KeyFile            string `yaml:"key_file"`             //
	ServerName         string `yaml:"server_name"`          // default: each broker's host
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"` // default false; tests only
}

// KafkaSASLConfig maps to the SASL fields of sink.Security.
type KafkaSASLConfig struct {
	Mechanism string `yaml:"mechanism"` // "" (none, default), plain, scram-sha-256, scram-sha-512
	Username  string `yaml:"username"`  // env EARSHOT_KAFKA_SASL_USERNAME overrides
	Password  string `yaml:"password"`  // env EARSHOT_KAFKA_SASL_PASSWORD overrides: keep it out of the file
}

// SpoolConfig maps to sink.SpoolConfig.
type SpoolConfig struct {
	Dir           string        `yaml:"dir"`            // default /var/lib/earshot/spool
	MaxBytes      int64         `yaml:"max_bytes"`      // default 1 GiB
	SegmentBytes  int64         `yaml:"segment_bytes"`  // default 16 MiB
	Fsync         string        `yaml:"fsync"`          // interval (default), always, none
	FsyncInterval time.Duration `yaml:"fsync_interval"` // default 1s
}

// DefaultSpoolDir is where `earshot run` spools when spool.dir is not set.
const DefaultSpoolDir = "/var/lib/earshot/spool"

// OutputConfig is the PCM produced.
type OutputConfig struct {
	SampleRate int           `yaml:"sample_rate"` // default 16000
	Chunk      time.Duration `yaml:"chunk"`       // default 200ms, 20ms..2s
}

// IngestConfig maps to ingest.Config.
type IngestConfig struct {
	HandoffLen   int           `yaml:"handoff_len"`   // default 160 frames
	Timeout      time.Duration `yaml:"timeout"`       // default 10s
	ReconnectMin time.Duration `yaml:"reconnect_min"` // default 1s
	ReconnectMax time.Duration `yaml:"reconnect_max"` // default 30s
	DrainTimeout time.Duration `yaml:"drain_timeout"` // default 5s

	LivenessTimeout time.Duration `yaml:"liveness_timeout"` // default 5s without RTP audio: stalled
	StallTimeout    time.Duration `yaml:"stall_timeout"`    // default 2s on one item inside earshot: stalled
	PermanentRetry  time.Duration `yaml:"permanent_retry"`  // default 2m after 401/404/no audio/unsupported codec
}

// SDKConfig maps to sdk.Options.
type SDKConfig struct {
	Workers        int           `yaml:"workers"`         // default 4
	QueueDuration  time.Duration `yaml:"queue_duration"`  // default 2s of audio per stream (128 to 4096 frames)
	QueueLen       int           `yaml:"queue_len"`       // default 0: sized by queue_duration
	CallbackBudget time.Duration `yaml:"callback_budget"` // default 10ms
}

// LogConfig selects the log output.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
	// SummaryInterval: per-packet problems (loss, decode errors, late
	// packets, drops) are logged as one line per stream and interval with
	// their counts; default 1m, at least 1s.
	SummaryInterval time.Duration `yaml:"summary_interval"`
}

// StreamConfig is one source. Its credentials can come from the environment:
// EARSHOT_STREAM_<ID>_USER and EARSHOT_STREAM_<ID>_PASSWORD, where <ID> is
// the stream id upper-cased with every other character than A-Z and 0-9
// replaced by '_', override the URL's user info.
type StreamConfig struct {
	ID        string `yaml:"id"`
	URL       string `yaml:"url"`
	Transport string `yaml:"transport"` // auto (default), tcp, udp
	// DESCRIBE redirects followed (at most 3): same_host (default), any
	// (other hosts too, without credentials) or none.
	FollowRedirects string `yaml:"follow_redirects"`
	// rtsps only: verify against this PEM CA file (default: system roots),
	// or accept any certificate (self-signed cameras).
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
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
	if len(c.Streams) == 0 {
		errs = append(errs, errors.New("streams: at least one stream is required"))
	}
	if err := c.writerConfig(nil).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("kafka: %w", err))
	}
	ic := c.ingestConfig(nil)
	if err := ic.Validate(); err != nil {
		errs = append(errs, err)
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
	if d := c.Log.SummaryInterval; d != 0 && d < time.Second {
		errs = append(errs, fmt.Errorf("log.summary_interval %s is below 1s", d))
	}
	if err := c.Profiling.validate(); err != nil {
		errs = append(errs, err)
	}
	if l := c.Admin.listen(); l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			errs = append(errs, fmt.Errorf("admin.listen %q is not host:port or off", l))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid config:\n%w", errors.Join(errs...))
	}
	return nil
}

func (c *Config) writerConfig(logger *slog.Logger) sink.WriterConfig {
	k := c.Kafka
	dir := c.Spool.Dir
	if dir == "" {
		dir = DefaultSpoolDir
	}
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
			Dir:           dir,
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

		LivenessTimeout: c.Ingest.LivenessTimeout,
		StallTimeout:    c.Ingest.StallTimeout,
		PermanentRetry:  c.Ingest.PermanentRetry,
		Diagnostics: ingest.DiagnosticsConfig{
			Dir:         c.Diag.dir(),
			MaxBytes:    c.Diag.MaxBytes,
			MinInterval: c.Diag.MinInterval,
			TraceWindow: c.Diag.TraceWindow,
			NoTrace:     c.Diag.NoTrace,
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

// defaultAdminListen is the admin listener's address unless configured.
const defaultAdminListen = "127.0.0.1:9595"

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

// loadConfigFile is LoadConfig on a file and the process environment.
func loadConfigFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoadConfig(f, os.Getenv)
}
