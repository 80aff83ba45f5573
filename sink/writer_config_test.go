package sink

import (
	"strings"
	"testing"
	"time"
)

// writerConfigCases are configurations NewWriter must refuse, with the
// error it must give, and valid ones (err "").
var writerConfigCases = []struct {
	name string
	cfg  WriterConfig
	err  string
}{
	{"a config with only brokers and topic is valid", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio"}, ""},
	{"a config with every field set is valid", WriterConfig{
		Brokers: []string{"kafka-1:9092", "[::1]:9092"}, Topic: "earshot.audio_v1-x", BatchTimeout: time.Millisecond,
		BatchSize: 10, BatchBytes: 1 << 16, RequiredAcks: "one", WriteTimeout: time.Second, BufferBytes: 1 << 20,
		CloseTimeout: time.Second, Compression: "zstd", StallTimeout: time.Second,
		Spool:    SpoolConfig{Dir: "", MaxBytes: 1 << 20, SegmentBytes: 1 << 16, Fsync: "always", FsyncInterval: time.Second},
		Security: Security{SASL: SASLScramSHA512, Username: "u", Password: "p", ServerName: "kafka"},
	}, ""},
	{"brokers are required", WriterConfig{Topic: "audio"}, "sink: Brokers is required"},
	{"a broker without port is refused", WriterConfig{Brokers: []string{"kafka:9092", "kafka"}, Topic: "audio"}, `sink: Brokers[1] "kafka" is not host:port`},
	{"a topic is required", WriterConfig{Brokers: []string{"kafka:9092"}}, "sink: Topic is required"},
	{"a topic with a slash is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "a/b"}, `sink: Topic "a/b": character '/' is outside [a-zA-Z0-9._-]`},
	{"the topic .. is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: ".."}, `sink: Topic "..": not a valid topic name`},
	{"a topic of 250 characters is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: strings.Repeat("t", 250)}, "250 characters is longer than 249"},
	{"a negative batch size is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", BatchSize: -1}, "sink: BatchSize must not be negative, got -1"},
	{"negative batch bytes are refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", BatchBytes: -1}, "sink: BatchBytes must not be negative, got -1"},
	{"batch bytes of 2 GiB are refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", BatchBytes: 1 << 31}, "sink: BatchBytes must be below 2 GiB, got 2147483648"},
	{"unknown required acks are refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", RequiredAcks: "two"}, `sink: RequiredAcks must be "all", "one" or "none", got "two"`},
	{"a negative write timeout is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", WriteTimeout: -1}, "sink: WriteTimeout must not be negative, got -1ns"},
	{"a negative buffer size is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", BufferBytes: -5}, "sink: BufferBytes must not be negative, got -5"},
	{"a negative stall timeout is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", StallTimeout: -time.Second}, "sink: StallTimeout must not be negative, got -1s"},
	{"tiny spool segments are refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", Spool: SpoolConfig{SegmentBytes: 100}}, "sink: Spool.SegmentBytes must be at least 4096, got 100"},
	{"a spool smaller than two segments is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", Spool: SpoolConfig{MaxBytes: 1 << 20, SegmentBytes: 1 << 20}}, "sink: Spool.MaxBytes must be at least twice Spool.SegmentBytes (1048576), got 1048576"},
	{"an unknown fsync policy is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", Spool: SpoolConfig{Fsync: "sometimes"}}, `sink: Spool.Fsync must be "none", "interval" or "always", got "sometimes"`},
	{"an unknown SASL mechanism is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", Security: Security{SASL: "gssapi"}}, `got "gssapi"`},
	{"SASL without credentials is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", Security: Security{SASL: SASLPlain}}, "sink: Security.SASL plain needs a Username"},
	{"a client certificate without key is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", Security: Security{CertFile: "c.pem"}}, "sink: Security.CertFile and Security.KeyFile must be set together"},
	{"a missing CA file is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", Security: Security{CAFile: "/nonexistent/ca.pem"}}, "sink: TLS CA file: open /nonexistent/ca.pem"},
	{"a negative close timeout is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", CloseTimeout: -time.Minute}, "sink: CloseTimeout must not be negative, got -1m0s"},
	{"an unknown compression is refused", WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio", Compression: "brotli"}, `got "brotli"`},
}

func TestNewWriterValidatesConfig(t *testing.T) {
	for _, tc := range writerConfigCases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewWriter(tc.cfg)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("NewWriter: %v", err)
				}
				if err := w.Close(); err != nil {
					t.Errorf("closing a writer right after creating it: %v", err)
				}
				return
			}
			if err == nil {
				w.Close()
				t.Fatalf("NewWriter accepted the config, want %q", tc.err)
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Errorf("NewWriter error %q, want %q", err, tc.err)
			}
		})
	}
}

func TestWriterConfigDefaults(t *testing.T) {
	c := WriterConfig{Brokers: []string{"kafka:9092"}, Topic: "audio"}.WithDefaults()
	if c.BatchTimeout != 10*time.Millisecond || c.BatchSize != 500 || c.BatchBytes != 1<<20 ||
		c.RequiredAcks != "all" || c.WriteTimeout != 10*time.Second || c.BufferBytes != 32<<20 ||
		c.StallTimeout != 20*time.Second || c.CloseTimeout != 10*time.Second || c.Compression != "none" ||
		c.Logger == nil || c.Dial == nil || c.Spool.MaxBytes != 1<<30 || c.Spool.SegmentBytes != 16<<20 ||
		c.Spool.Fsync != "interval" || c.Spool.FsyncInterval != time.Second || c.Spool.Dir != "" {
		t.Errorf("defaults %+v", c)
	}
}
