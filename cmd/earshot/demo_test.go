package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
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
