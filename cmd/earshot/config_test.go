package main

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/sink"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestExampleConfigLoads(t *testing.T) {
	f, err := os.Open("../../earshot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := LoadConfig(f, env(map[string]string{
		"EARSHOT_STREAM_GATE_NORTH_USER":     "admin",
		"EARSHOT_STREAM_GATE_NORTH_PASSWORD": "p@ss:word",
		"EARSHOT_KAFKA_BROKERS":              "10.1.1.1:9092,10.1.1.2:9092",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Streams[0].URL; got != "rtsp://admin:p%40ss%3Aword@192.0.2.10:554/Streaming/Channels/101" {
		t.Errorf("credentials from the environment: url %q", got)
	}
	if len(c.Kafka.Brokers) != 2 || c.Kafka.Brokers[1] != "10.1.1.2:9092" {
		t.Errorf("brokers %v", c.Kafka.Brokers)
	}
	if c.Output.Chunk != 200*time.Millisecond || c.SDK.CallbackBudget != 10*time.Millisecond {
		t.Errorf("durations: chunk %s, callback budget %s", c.Output.Chunk, c.SDK.CallbackBudget)
	}
	// The example shows every default: it maps to the writer's defaults.
	wc := c.writerConfig(nil)
	wc.Brokers = nil
	def := (&Config{Kafka: KafkaConfig{Topic: c.Kafka.Topic}}).writerConfig(nil)
	withDefaults := func(c sink.WriterConfig) sink.WriterConfig {
		c = c.WithDefaults()
		c.Dial, c.Logger = nil, nil
		return c
	}
	if got, want := withDefaults(wc), withDefaults(def); !reflect.DeepEqual(got, want) {
		t.Errorf("example config\n%+v\ndiffers from the defaults\n%+v", got, want)
	}
	ingestDefaults := func(c *Config) ingest.Config {
		ic := c.ingestConfig(nil).WithDefaults()
		ic.Streams, ic.SDK = nil, sdk.Options{}
		return ic
	}
	if got, want := ingestDefaults(c), ingestDefaults(&Config{}); !reflect.DeepEqual(got, want) {
		t.Errorf("example ingest config\n%+v\ndiffers from the defaults\n%+v", got, want)
	}
	if a := c.Admin; a.listen() != defaultAdminListen || a.readTimeout() != defaultAdminReadTimeout || a.idleTimeout() != defaultAdminIdleTimeout || a.AllowInsecure {
		t.Errorf("example admin %+v: not the defaults", a)
	}
	p := c.Profiling
	if p.ServerAddress != "" || p.ApplicationName != defaultApplicationName || p.UploadRate != defaultUploadRate ||
		p.MutexProfileFraction != defaultMutexProfileFraction || p.BlockProfileRate != defaultBlockProfileRate ||
		c.Log.SummaryInterval != defaultSummaryInterval {
		t.Errorf("example profiling %+v, summary interval %s: not the defaults", p, c.Log.SummaryInterval)
	}
}

func TestSASLCredentialsFromEnvironment(t *testing.T) {
	const yaml = "kafka: {brokers: [k:9093], topic: t, sasl: {mechanism: scram-sha-512}}\nstreams: [{id: a, url: rtsp://cam/1}]\n"
	c, err := LoadConfig(strings.NewReader(yaml), env(map[string]string{
		"EARSHOT_KAFKA_SASL_USERNAME": "earshot",
		"EARSHOT_KAFKA_SASL_PASSWORD": "kafka-secret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.writerConfig(nil).Security; s.Username != "earshot" || s.Password != "kafka-secret" || s.SASL != sink.SASLScramSHA512 {
		t.Errorf("security %q %q", s.SASL, s.Username)
	}
	if _, err := LoadConfig(strings.NewReader(yaml), env(nil)); err == nil || !strings.Contains(err.Error(), "needs a Username") {
		t.Errorf("SASL without credentials: %v", err)
	}
}

// badConfigs: each YAML must be refused with an error naming every problem.
var badConfigs = []struct {
	name string
	yaml string
	want []string
}{
	{"typo in a field name", "kafka:\n  brokerz: [a:1]\n", []string{"field brokerz not found"}},
	{"everything missing", "{}", []string{"at least one stream", "Brokers is required", "Topic is required"}},
	{"bad security and spool options", `
kafka:
  brokers: [a:1]
  topic: t
  tls: {cert_file: c.pem}
  sasl: {mechanism: kerberos, username: u, password: hunter2}
spool: {segment_bytes: 10, fsync: sometimes}
streams: [{id: a, url: "rtsp://cam/1"}]
`, []string{"CertFile and Security.KeyFile", `"kerberos"`, "SegmentBytes must be at least", `"sometimes"`}},
	{"many problems at once", `
kafka: {brokers: ["nohostport"], topic: "bad topic!", acks: most}
output: {sample_rate: 44100, chunk: 3s}
sdk: {workers: -2}
log: {level: loud, format: xml}
memory: {gc_percent: 5}
streams:
  - {id: a, url: "rtsp://u:topsecret@cam/1"}
  - {id: a, url: "http://u:topsecret@cam/2", transport: sctp}
  - {id: "bad id", url: ""}
`, []string{"nohostport", `"bad topic!"`, "most", "sample rate 44100", "chunk 3s", "Workers", "log.level", "log.format",
		"memory.gc_percent 5 is not between 10 and 1000",
		`duplicate id "a"`, "scheme must be rtsp", "sctp", `id "bad id"`, "url is empty"}},
	{"bad profiling and log options", `
kafka: {brokers: [a:1], topic: t}
log: {summary_interval: 10ms}
profiling:
  server_address: "http://u:topsecret@pyro:4040"
  application_name: "earshot app"
  tags: {"bad key": x}
  basic_auth_user: u
  upload_rate: 100ms
streams: [{id: a, url: "rtsp://cam/1"}]
`, []string{"log.summary_interval", "holds credentials", "application_name", `"bad key"`, "go together", "upload_rate"}},
	{"a listener beyond loopback without a token", `
kafka: {brokers: [a:1], topic: t}
admin: {listen: "0.0.0.0:9595"}
streams: [{id: a, url: "rtsp://cam/1"}]
`, []string{`admin.listen "0.0.0.0:9595" is reachable beyond loopback without a token`, "admin.allow_insecure: true"}},
	{"every interface is beyond loopback too", `
kafka: {brokers: [a:1], topic: t}
admin: {listen: ":9595", read_timeout: -1s}
streams: [{id: a, url: "rtsp://cam/1"}]
`, []string{`admin.listen ":9595" is reachable beyond loopback`, "admin.read_timeout -1s is negative"}},
	{"a second YAML document, which would be ignored", `
kafka: {brokers: [a:1], topic: t}
streams: [{id: a, url: "rtsp://cam/1"}]
---
streams: [{id: b, url: "rtsp://cam/2"}]
`, []string{"more than one YAML document"}},
	{"stream ids that are path elements", `
kafka: {brokers: [a:1], topic: t}
streams: [{id: ".", url: "rtsp://cam/1"}, {id: "..", url: "rtsp://cam/2"}]
`, []string{`id "." is a path element`, `id ".." is a path element`}},
	{"more streams than ingest.max_streams", `
kafka: {brokers: [a:1], topic: t}
ingest: {max_streams: 1}
streams: [{id: a, url: "rtsp://cam/1"}, {id: b, url: "rtsp://cam/2"}]
`, []string{"too many streams: 2 streams configured, max streams is 1"}},
	{"more streams than the default max of 2000", "kafka: {brokers: [a:1], topic: t}\nstreams:\n" + manyStreams(2001),
		[]string{"too many streams: 2001 streams configured, max streams is 2000"}},
	{"a profiling address that is no URL", `
kafka: {brokers: [a:1], topic: t}
profiling: {server_address: "pyro:4040"}
streams: [{id: a, url: "rtsp://cam/1"}]
`, []string{"profiling.server_address is not an http(s)://host:port URL"}},
}

func TestBadConfigNamesEveryProblem(t *testing.T) {
	for _, tc := range badConfigs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(strings.NewReader(tc.yaml), env(nil))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks a password:\n%v", err)
			}
		})
	}
}

// manyStreams returns n stream entries of a YAML list.
func manyStreams(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  - {id: s%d, url: \"rtsp://cam/%d\"}\n", i, i)
	}
	return b.String()
}

// goodAdminConfigs: listeners that are accepted, with what /readyz may
// reveal.
var goodAdminConfigs = []struct {
	name    string
	admin   AdminConfig
	exposed bool
}{
	{"the default is loopback", AdminConfig{}, false},
	{"localhost is loopback", AdminConfig{Listen: "localhost:9595"}, false},
	{"an IPv6 loopback", AdminConfig{Listen: "[::1]:9595"}, false},
	{"off", AdminConfig{Listen: "off"}, false},
	{"beyond loopback with a token", AdminConfig{Listen: "0.0.0.0:9595", Token: "t"}, true},
	{"beyond loopback, insecure by choice", AdminConfig{Listen: "192.0.2.1:9595", AllowInsecure: true}, true},
}

func TestAdminListenersAccepted(t *testing.T) {
	for _, c := range goodAdminConfigs {
		if err := c.admin.check(); err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if got := c.admin.exposed(); got != c.exposed {
			t.Errorf("%s: exposed %v, want %v", c.name, got, c.exposed)
		}
	}
}

// TestMemoryGCPercent: memory.gc_percent defaults to 50, unless the
// environment sets GOGC, which then applies (0: leave Go's); a value in
// the file wins over both.
func TestMemoryGCPercent(t *testing.T) {
	for _, tc := range []struct {
		cfg, env, want int
	}{{0, 0, 50}, {0, 80, 0}, {200, 0, 200}, {200, 80, 200}} {
		t.Run(fmt.Sprintf("config %d GOGC %d", tc.cfg, tc.env), func(t *testing.T) {
			if tc.env != 0 {
				t.Setenv("GOGC", strconv.Itoa(tc.env))
			} else {
				t.Setenv("GOGC", "")
			}
			if got := (MemoryConfig{GCPercent: tc.cfg}).gcPercent(); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}
