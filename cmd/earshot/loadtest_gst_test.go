//go:build gstreamer

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earshot/earshot/loadtest/harness"
	"github.com/earshot/earshot/loadtest/testkit"
)

// TestLoadtestBackendsSideBySide: `earshot loadtest --backend
// gortsplib,gstreamer` runs one earshot per backend on the same cameras,
// each configured with its backend, and reports each.
func TestLoadtestBackendsSideBySide(t *testing.T) {
	t.Setenv(envRunMain, "1") // inherited by the children: they run earshot
	dir := t.TempDir()
	scenario := filepath.Join(dir, "two.yaml")
	if err := os.WriteFile(scenario, []byte("name: two\nduration: 4s\nstreams: 2\ncodecs: [pcma, opus]\nwarmup: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	stdout, stderr := &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
	code := cli([]string{"loadtest", "--out", out, "--progress", "off", "--scenario", scenario,
		"--earshot", os.Args[0], "--backend", "gortsplib,gstreamer"}, stdout, stderr)
	t.Logf("%s", stdout)
	if code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, stderr)
	}
	for _, backend := range []string{"gortsplib", "gstreamer"} {
		var r harness.Report
		data, err := os.ReadFile(filepath.Join(out, backend, "report.json"))
		if err == nil {
			err = json.Unmarshal(data, &r)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !r.Pass || r.Streams.Delivered != 2 || !r.Resources.Measured || r.Resources.PSSBytes <= 0 {
			t.Errorf("%s: pass %v, %d streams delivered, resources %+v", backend, r.Pass, r.Streams.Delivered, r.Resources)
		}
		cfg, err := os.ReadFile(filepath.Join(out, backend, "earshot.yaml"))
		if err != nil || !strings.Contains(string(cfg), "backend: "+backend) {
			t.Errorf("%s: configuration %q (%v) does not name its backend", backend, cfg, err)
		}
	}
}
