package ingest

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/loadtest/testkit"
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
		writeQueued(d)
		if skip := i == 1; (b == "") != skip {
			t.Fatalf("capture %d at +%s: bundle %q, want skipped %v", i, at, b, skip)
		}
		if b != "" {
			kept = append(kept, b)
		}
	}
	if d.written.Load() != 3 || d.suppressed.Load() != 1 {
		t.Errorf("written %d suppressed %d, want 3 and 1", d.written.Load(), d.suppressed.Load())
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
		writeQueued(d)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || dir+"/"+entries[0].Name() != last {
		t.Errorf("left %v, want only the newest %s", entries, last)
	}
}

// writeQueued writes the bundle capture queued, if any, on the test's
// goroutine: these tests run no writer.
func writeQueued(d *diagnostics) {
	select {
	case r := <-d.slot:
		d.bundle(r)
	default:
	}
}

// TestWatchdogNeverWaitsForABundle: while the writer is stuck on the disk,
// capture returns at once; a bundle requested meanwhile is dropped and
// counted, not queued behind; the one being written completes, whole.
func TestWatchdogNeverWaitsForABundle(t *testing.T) {
	dir := t.TempDir()
	cfg := DiagnosticsConfig{Dir: dir, MinInterval: time.Nanosecond, NoTrace: true}
	cfg.setDefaults()
	d := newDiagnostics(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	entered, release := make(chan struct{}), make(chan struct{})
	d.beforeWrite = func() {
		close(entered)
		<-release
	}
	d.start()
	defer d.stop()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := d.capture(Stall{Stream: "s1", Reason: schema.ReasonNoRTP}, t0)
	if first == "" {
		t.Fatal("no bundle requested for the first stall")
	}
	<-entered // the writer is now stuck
	for i := 1; i <= 3; i++ {
		if b := d.capture(Stall{Stream: "s2", Reason: schema.ReasonNoRTP}, t0.Add(time.Duration(i)*time.Second)); b != "" {
			t.Errorf("stall %d got bundle %s while another was being written", i, b)
		}
	}
	if got := d.dropped.Load(); got != 3 {
		t.Errorf("%d bundles counted as dropped, want 3", got)
	}
	if _, err := os.Stat(first); err == nil {
		t.Error("the bundle folder exists before it is complete")
	}
	close(release)
	d.stop()
	if _, err := os.Stat(first + "/goroutines.txt"); err != nil {
		t.Errorf("the bundle being written was not completed: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries, want the one bundle", len(entries))
	}
	if got, want := d.stats(), (DiagnosticsStats{Written: 1, Dropped: 3}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// TestFlightRecorderRunsOnlyWhenArmed: the recorder is off until armed;
// armed, a bundle holds a trace; TraceArmFor after the last request it is
// off again.
func TestFlightRecorderRunsOnlyWhenArmed(t *testing.T) {
	dir := t.TempDir()
	cfg := DiagnosticsConfig{Dir: dir, MinInterval: time.Nanosecond, TraceArmFor: 300 * time.Millisecond}
	cfg.setDefaults()
	d := newDiagnostics(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	d.start()
	defer d.stop()
	if d.stats().Tracing {
		t.Fatal("the flight recorder runs before it was armed")
	}
	d.armTrace()
	testkit.WaitFor(t, 10*time.Second, "the armed flight recorder", func() bool { return d.stats().Tracing })
	b := d.capture(Stall{Stream: "s1", Stage: StageWorker, Reason: schema.ReasonWorkerStuck}, time.Now())
	testkit.WaitFor(t, 10*time.Second, "the bundle", func() bool { _, err := os.Stat(b); return err == nil })
	if fi, err := os.Stat(b + "/trace.out"); err != nil || fi.Size() == 0 {
		t.Errorf("bundle written while armed has no trace: %v", err)
	}
	testkit.WaitFor(t, 10*time.Second, "the recorder to stop after TraceArmFor", func() bool { return !d.stats().Tracing })
}
