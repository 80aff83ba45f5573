package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// TestTapTakesTheKafkaSectionOfAConfig: `earshot tap --config` reads the
// brokers, topic and connection settings of earshot's own configuration
// and writes one WAV per stream and epoch.
func TestTapTakesTheKafkaSectionOfAConfig(t *testing.T) {
	broker, err := sink.NewEmbeddedBroker("tapped", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	w, err := sink.NewWriter(sink.WriterConfig{Brokers: []string{broker.Addr()}, Topic: "tapped", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	base := schema.Record{Stream: "cam", Epoch: 7, SampleRate: 16000, Channels: 1, Codec: "pcma", CaptureTime: t0, Clock: schema.ClockArrival}
	for i, kind := range []schema.Kind{schema.KindStart, schema.KindAudio, schema.KindEnd} {
		r := base
		r.Kind, r.Seq = kind, uint64(i)
		switch kind {
		case schema.KindAudio:
			r.PCM = make([]byte, 3200)
		case schema.KindEnd:
			r.Offset, r.Reason = 1600, schema.ReasonShutdown
		}
		if err := w.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "earshot.yaml")
	fmt.Fprintf(mustCreate(t, cfg), "kafka: {brokers: [%q], topic: tapped}\nstreams: [{id: cam, url: \"rtsp://127.0.0.1/cam\"}]\n", broker.Addr())
	out := filepath.Join(dir, "out")
	var stdout, stderr strings.Builder
	if code := cli([]string{"tap", "--config", cfg, "--out", out, "--duration", "3s"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "cam-e7.wav")); err != nil {
		t.Errorf("no WAV for the stream: %v\n%s", err, stdout.String())
	}
}

func mustCreate(t *testing.T, path string) io.Writer {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
