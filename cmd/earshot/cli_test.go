package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var cliCases = []struct {
	name     string
	args     []string
	code     int
	inStdout string
	inStderr string
}{
	{"no command", nil, 2, "", "Usage:"},
	{"help", []string{"--help"}, 0, "earshot demo", ""},
	{"unknown command", []string{"fly"}, 2, "", `unknown command "fly"`},
	{"run help", []string{"run", "--help"}, 0, "", "-config"},
	{"demo help", []string{"demo", "--help"}, 0, "", "-duration"},
	{"tap help", []string{"tap", "--help"}, 0, "", "-brokers"},
	{"run with a missing file", []string{"run", "--config", "/nonexistent/earshot.yaml"}, 2, "", "no such file"},
	{"tap without flags", []string{"tap"}, 2, "", "missing"},
	{"stray argument", []string{"run", "extra"}, 2, "", "unexpected arguments: extra"},
	{"bad flag", []string{"demo", "--duration", "soon"}, 2, "", "invalid value"},
}

func TestCLI(t *testing.T) {
	for _, tc := range cliCases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := cli(tc.args, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.inStdout) || !strings.Contains(stderr.String(), tc.inStderr) {
				t.Fatalf("stdout %q / stderr %q, want %q / %q", stdout.String(), stderr.String(), tc.inStdout, tc.inStderr)
			}
		})
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("kafka: {topic: t}\nstreams: [{id: a, url: 'rtsp://x:secretpw@cam/1', transport: carrier-pigeon}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := cli([]string{"run", "--config", path}, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"Brokers is required", "carrier-pigeon"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not name %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "secretpw") {
		t.Errorf("stderr leaks the password")
	}
}
