package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
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
// opens the console whose URL it prints while it runs. Each
// stream's WAV holds, without gaps, the audio of the time it streamed,
// from its connection (logged once connected, so a little late) to the
// end of the run (measured from its start, so a little early), less
// what the camera had not sent yet: loadtest's pacer may run up to a
// second behind real time on a loaded host before it skips (maxCatchUp),
// and the last packets are still on their way when ingest stops.
func TestDemoWritesOneWAVPerStream(t *testing.T) {
	const run = 2 * time.Second
	out := t.TempDir()
	// Up to how far behind real time the audio may end.
	const behind = time.Second + 200*time.Millisecond
	events := &demoEvents{connected: make(map[string]time.Time)}
	stdout := make(lineWriter, 1)
	type result struct {
		files []consumer.TapFile
		err   error
	}
	done := make(chan result, 1)
	go func() {
		files, err := runDemo(context.Background(), demoOptions{Codecs: demoCodecs, Duration: run, Out: out, Stdout: stdout}, slog.New(events))
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
		streamed := events.streamed(f.Stream, run)
		// Audio beyond the run, and the half second ingest may take to
		// stop, would be invented.
		lo, hi := (streamed - behind).Seconds(), (run + 500*time.Millisecond).Seconds()
		t.Logf("%s: %d Hz × %d, %.2f s of %.2f s streamed, ended %t, gaps %d", f.Path, rate, ch, secs, streamed.Seconds(), f.Ended, f.Gaps)
		if rate != 16000 || ch != 1 || streamed <= 0 || secs < lo || secs > hi || !f.Ended || f.Gaps != 0 {
			t.Errorf("%s: %d Hz × %d, %.2f s, want %.2f to %.2f s; ended %t, gaps %d", f.Path, rate, ch, secs, lo, hi, f.Ended, f.Gaps)
		}
	}
}

// demoEvents is a slog.Handler that keeps when the run started and when
// each stream connected.
type demoEvents struct {
	attrs []slog.Attr // of the handler made by WithAttrs

	root      *demoEvents // the handler all WithAttrs derive from
	mu        sync.Mutex
	connected map[string]time.Time
	started   time.Time
}

func (h *demoEvents) base() *demoEvents {
	if h.root != nil {
		return h.root
	}
	return h
}

func (h *demoEvents) Enabled(context.Context, slog.Level) bool { return true }

func (h *demoEvents) Handle(_ context.Context, r slog.Record) error {
	stream := ""
	find := func(a slog.Attr) bool {
		if a.Key == "stream" {
			stream = a.Value.String()
		}
		return true
	}
	for _, a := range h.attrs {
		find(a)
	}
	r.Attrs(find)
	b := h.base()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch r.Message {
	case "stream connected":
		b.connected[stream] = r.Time
	case "demo: pulling synthetic cameras":
		b.started = r.Time
	}
	return nil
}

func (h *demoEvents) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &demoEvents{attrs: append(slices.Clone(h.attrs), attrs...), root: h.base()}
}

func (h *demoEvents) WithGroup(string) slog.Handler { return h }

// streamed is how long stream was connected before the end of a run of
// length run; 0 if either is unknown.
func (h *demoEvents) streamed(stream string, run time.Duration) time.Duration {
	b := h.base()
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.connected[stream]
	if !ok || b.started.IsZero() {
		return 0
	}
	return b.started.Add(run).Sub(c)
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
