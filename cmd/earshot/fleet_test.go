package main

import (
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest/fleet"
)

// fleetConfigCases are fleet configurations and what loading them says.
var fleetConfigCases = []struct {
	name, yaml string
	env        map[string]string
	err        string // part of the error; "" loads
	url        string // the registry's URL of stream a
}{
	{"a fleet needs no streams list", "fleet: {group: g, instance_id: i}\n", nil, "", ""},
	{"without a group, streams are required", "fleet: {instance_id: i}\n", nil, "at least one stream is required", ""},
	{"fleet timings are validated, named", "fleet: {group: g, instance_id: i, session_timeout: 2s, heartbeat_interval: 1s}\n", nil, "fleet: heartbeat interval 1s must be positive and at most a third of session timeout 2s", ""},
	{"credentials written in the file are refused in fleet mode", "fleet: {group: g, instance_id: i}\nstreams: [{id: a, url: \"rtsp://u:pw@cam/1\"}]\n", nil, "url holds credentials", ""},
	{"credentials from the environment stay out of the registry", "fleet: {group: g, instance_id: i}\nstreams: [{id: a, url: \"rtsp://cam/1\"}]\n",
		map[string]string{"EARSHOT_STREAM_A_USER": "u", "EARSHOT_STREAM_A_PASSWORD": "pw"}, "", "rtsp://cam/1"},
}

func TestFleetConfig(t *testing.T) {
	for _, tc := range fleetConfigCases {
		t.Run(tc.name, func(t *testing.T) {
			getenv := env(tc.env)
			c, err := LoadConfig(strings.NewReader("kafka: {brokers: [k:9092], topic: t}\n"+tc.yaml), getenv)
			if err == nil {
				_, err = registryStreams(c, getenv)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if err != nil {
				if strings.Contains(err.Error(), "pw") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			streams, _ := registryStreams(c, getenv)
			if tc.url != "" && (len(streams) != 1 || streams[0].URL != tc.url) {
				t.Errorf("registry streams %+v, want url %s", streams, tc.url)
			}
			if tc.url != "" {
				sc, err := withCredentials(streams[0], getenv)
				if err != nil || sc.URL != "rtsp://u:pw@cam/1" {
					t.Errorf("started with url %q (%v), want the environment's credentials", sc.URL, err)
				}
			}
		})
	}
}

func TestFleetStatusPrintsInstances(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	sts := []fleet.Status{
		{Instance: "a", Partitions: []int32{0, 1}, Streams: 3, Time: now.Add(-time.Second), Advertise: "http://a:9595"},
		{Instance: "b", Partitions: []int32{2}, Streams: 0, Fenced: true, Time: now.Add(-20 * time.Second)},
	}
	streams := []fleet.Entry{{Partition: 0}, {Partition: 1}, {Partition: 1}, {Partition: 3}}
	var b strings.Builder
	printFleetStatus(&b, 4, streams, 1, sts, now)
	for _, want := range []string{
		"registry: 4 partitions, 4 streams, 1 records that do not parse, 1 on partitions no instance lists",
		"a         2           3        3        1s          false   http://a:9595",
		"b         1           0        0        20s         true",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}

func TestFleetReadiness(t *testing.T) {
	joined := fleet.Stats{Loaded: true, Rebalances: 1, LastHeartbeatAt: time.Unix(1, 0)}
	fenced := joined
	fenced.Fenced = true
	for _, tc := range []struct {
		name string
		st   fleet.Stats
		err  string
	}{
		{"an instance that joined and loaded is ready, with or without streams", joined, ""},
		{"a fenced instance is not ready", fenced, "fenced"},
		{"an instance that has not joined is not ready", fleet.Stats{Loaded: true}, "not in the group yet"},
	} {
		err := fleetReady(tc.st)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}
