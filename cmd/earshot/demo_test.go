package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
)

// TestDemoWritesOneWAVPerStream runs what `make demo` runs, shorter.
func TestDemoWritesOneWAVPerStream(t *testing.T) {
	out := t.TempDir()
	files, err := runDemo(context.Background(), demoOptions{Codecs: demoCodecs, Duration: 2 * time.Second, Out: out}, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
