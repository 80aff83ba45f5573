package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/sink/consumer"
)

// lineWriter sends what is written to it, one Write a message.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// TestDemoWritesOneWAVPerStream runs what `make demo` runs, shorter, and
// opens the console whose URL it prints while it runs.
func TestDemoWritesOneWAVPerStream(t *testing.T) {
	out := t.TempDir()
	stdout := make(lineWriter, 1)
	type result struct {
		files []consumer.TapFile
		err   error
	}
	done := make(chan result, 1)
	go func() {
		files, err := runDemo(context.Background(), demoOptions{Codecs: demoCodecs, Duration: 2 * time.Second, Out: out, Stdout: stdout}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		done <- result{files, err}
	}()
	line := <-stdout
	url, _, ok := strings.Cut(strings.TrimPrefix(line, "console: "), " ")
	if !strings.HasPrefix(line, "console: http://127.0.0.1:") || !ok || !strings.HasSuffix(url, "/console") {
		t.Errorf("demo printed %q, want the console's URL", line)
	} else {
		tr := &http.Transport{}
		res, err := (&http.Client{Transport: tr}).Get(url)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
		} else {
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("GET %s: %d, CSP %q", url, res.StatusCode, res.Header.Get("Content-Security-Policy"))
			}
		}
		tr.CloseIdleConnections()
	}
	r := <-done
	files, err := r.files, r.err
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(demoCodecs) {
		t.Fatalf("%d files, want %d", len(files), len(demoCodecs))
	}
	for _, f := range files {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		rate, ch, samples, err := audio.ReadWAV(b)
		if err != nil {
			t.Fatal(err)
		}
		secs := float64(len(samples)) / float64(rate)
		if rate != 16000 || ch != 1 || secs < 1.5 || secs > 2.5 || !f.Ended || f.Gaps != 0 {
			t.Errorf("%s: %d Hz × %d, %.2f s, ended %t, gaps %d", f.Path, rate, ch, secs, f.Ended, f.Gaps)
		}
	}
}

func TestDemoFailsWhenAStreamDeliversNothing(t *testing.T) {
	_, err := runDemo(context.Background(), demoOptions{Codecs: []string{"g729"}, Duration: time.Second, Out: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Fatal("demo with an unsupported codec succeeded")
	}
}

// TestFleetDemo runs `earshot demo --fleet 3`, shorter: the killed
// instance's streams continue on the others.
func TestFleetDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes")
	}
	o := demoOptions{
		Codecs:   []string{audio.CodecOpus, audio.CodecPCMA, audio.CodecPCMU, audio.CodecL16, audio.CodecG722, audio.CodecAAC},
		Duration: 10 * time.Second, ReadTimeout: 20 * time.Second,
		Command: func(args ...string) *exec.Cmd {
			c := exec.Command(os.Args[0], args...)
			c.Env = []string{envRunMain + "=1"}
			return c
		},
	}
	d, err := runFleetDemo(t.Context(), o, 3, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var b strings.Builder
	printFleetDemo(&b, d)
	t.Logf("summary:\n%s", b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Epochs) != len(o.Codecs) {
		t.Fatalf("%d streams read back, want %d", len(d.Epochs), len(o.Codecs))
	}
	for id, owner := range d.Before {
		if owner == d.Killed && (d.After[id] == "" || d.After[id] == d.Killed) {
			t.Errorf("stream %s of the killed instance is owned by %q at the end", id, d.After[id])
		}
	}
	if !strings.Contains(b.String(), "(moved)") {
		t.Errorf("no stream moved in the summary")
	}
}
