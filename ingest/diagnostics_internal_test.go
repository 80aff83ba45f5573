package ingest

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// TestDiagnosticsAreRateLimitedAndCapped: a bundle closer than MinInterval
// to the previous one is skipped, and the oldest bundles go once the folder
// holds more than MaxBytes.
func TestDiagnosticsAreRateLimitedAndCapped(t *testing.T) {
	dir := t.TempDir()
	// A file that is not a bundle is never deleted.
	if err := os.WriteFile(dir+"/keep.txt", make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DiagnosticsConfig{Dir: dir, MaxBytes: 1 << 20, MinInterval: time.Minute, NoTrace: true}
	cfg.setDefaults()
	d := newDiagnostics(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Stall{Stream: "s1", Stage: StageSource, Reason: schema.ReasonNoRTP}

	var kept []string
	for i, at := range []time.Duration{0, 30 * time.Second, time.Minute, 3 * time.Minute} {
		b := d.capture(s, t0.Add(at))
		if skip := i == 1; (b == "") != skip {
			t.Fatalf("capture %d at +%s: bundle %q, want skipped %v", i, at, b, skip)
		}
		if b != "" {
			kept = append(kept, b)
		}
	}
	if d.written != 3 || d.suppressed != 1 {
		t.Errorf("written %d suppressed %d, want 3 and 1", d.written, d.suppressed)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// Each goroutine dump is well under 1 MiB, so all three bundles fit
	// until they do not; the newest always stays, the other file too.
	if !strings.Contains(strings.Join(names, " "), "keep.txt") {
		t.Errorf("a file that is not a bundle was deleted: %v", names)
	}
	if _, err := os.Stat(kept[len(kept)-1]); err != nil {
		t.Errorf("newest bundle deleted: %v", err)
	}
	if total := dirSize(dir) - 2<<20; total > cfg.MaxBytes {
		t.Errorf("bundles hold %d bytes, cap is %d", total, cfg.MaxBytes)
	}
}

// TestDiagnosticsPruneDeletesOldestFirst: with a cap that holds one
// bundle, only the newest remains.
func TestDiagnosticsPruneDeletesOldestFirst(t *testing.T) {
	dir := t.TempDir()
	cfg := DiagnosticsConfig{Dir: dir, MaxBytes: 1, MinInterval: time.Nanosecond, NoTrace: true}
	d := newDiagnostics(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var last string
	for i := range 3 {
		last = d.capture(Stall{Stream: "s1", Reason: schema.ReasonNoRTP}, t0.Add(time.Duration(i)*time.Second))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || dir+"/"+entries[0].Name() != last {
		t.Errorf("left %v, want only the newest %s", entries, last)
	}
}
