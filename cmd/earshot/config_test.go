package main

import (
	"os"
	"strings"
	"testing"
	"time"
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
}

// badConfigs: each YAML must be refused with an error naming every problem.
var badConfigs = []struct {
	name string
	yaml string
	want []string
}{
	{"typo in a field name", "kafka:\n  brokerz: [a:1]\n", []string{"field brokerz not found"}},
	{"everything missing", "{}", []string{"at least one stream", "Brokers is required", "Topic is required"}},
	{"many problems at once", `
kafka: {brokers: ["nohostport"], topic: "bad topic!", acks: most}
output: {sample_rate: 44100, chunk: 3s}
sdk: {workers: -2}
log: {level: loud, format: xml}
streams:
  - {id: a, url: "rtsp://u:topsecret@cam/1"}
  - {id: a, url: "http://u:topsecret@cam/2", transport: sctp}
  - {id: "bad id", url: ""}
`, []string{"nohostport", `"bad topic!"`, "most", "sample rate 44100", "chunk 3s", "Workers", "log.level", "log.format",
		`duplicate id "a"`, "scheme must be rtsp", "sctp", `id "bad id"`, "url is empty"}},
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
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error leaks a password:\n%v", err)
			}
		})
	}
}
