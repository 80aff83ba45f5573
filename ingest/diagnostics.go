package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"time"
)

// DiagnosticsConfig configures the bundles written when a stall is
// detected: a goroutine dump and the last seconds of an execution trace, so
// that the moment of a stall can be read after the fact.
type DiagnosticsConfig struct {
	// Dir is the folder bundles are written to, one sub-folder each. Empty
	// disables bundles and the flight recorder; stalls are still logged and
	// counted. It defaults to "".
	Dir string
	// MaxBytes caps the size of all bundles in Dir; the oldest are deleted
	// first. It defaults to 256 MiB.
	MaxBytes int64
	// MinInterval is the least time between two bundles; stalls in between
	// are logged and counted but get none. It defaults to 1 min.
	MinInterval time.Duration
	// TraceWindow is how much recent execution trace the flight recorder
	// keeps for a bundle. It defaults to 10 s.
	TraceWindow time.Duration
	// TraceMaxBytes bounds the flight recorder's window. It defaults to
	// 32 MiB.
	TraceMaxBytes uint64
	// NoTrace turns the flight recorder off: bundles then hold only the
	// goroutine dump. It defaults to false.
	NoTrace bool
}

func (c *DiagnosticsConfig) setDefaults() {
	if c.MaxBytes == 0 {
		c.MaxBytes = 256 << 20
	}
	if c.MinInterval == 0 {
		c.MinInterval = time.Minute
	}
	if c.TraceWindow == 0 {
		c.TraceWindow = 10 * time.Second
	}
	if c.TraceMaxBytes == 0 {
		c.TraceMaxBytes = 32 << 20
	}
}

func (c *DiagnosticsConfig) validate() error {
	var errs []error
	if c.MaxBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("diagnostics max bytes %d is below 1 MiB", c.MaxBytes))
	}
	if c.MinInterval < 0 || c.TraceWindow < 0 {
		errs = append(errs, fmt.Errorf("diagnostics intervals must not be negative"))
	}
	return errors.Join(errs...)
}

// bundlePrefix starts the name of every bundle folder, so that the size cap
// never deletes anything else in Dir.
const bundlePrefix = "stall-"

// diagnostics writes stall bundles. It is used by the watchdog goroutine
// only, except start and stop, which the supervisor calls around it.
type diagnostics struct {
	cfg DiagnosticsConfig
	log *slog.Logger
	fr  *trace.FlightRecorder // nil when not recording

	last       time.Time // when the last bundle was written
	written    uint64
	suppressed uint64 // stalls that got no bundle because of MinInterval
	failed     uint64
}

func newDiagnostics(cfg DiagnosticsConfig, log *slog.Logger) *diagnostics {
	return &diagnostics{cfg: cfg, log: log}
}

// start starts the flight recorder. Only one may run per process: if
// another runs, bundles go without a trace and a warning says so.
func (d *diagnostics) start() {
	if d.cfg.Dir == "" || d.cfg.NoTrace {
		return
	}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: d.cfg.TraceWindow, MaxBytes: d.cfg.TraceMaxBytes})
	if err := fr.Start(); err != nil {
		d.log.Warn("diagnostics: flight recorder unavailable; stall bundles will hold no trace", "err", err)
		return
	}
	d.fr = fr
}

func (d *diagnostics) stop() {
	if d.fr != nil {
		d.fr.Stop()
		d.fr = nil
	}
}

// capture writes a bundle for s unless one was written less than
// MinInterval ago. It returns the bundle's folder, or "" if none was
// written.
func (d *diagnostics) capture(s Stall, now time.Time) string {
	if d.cfg.Dir == "" {
		return ""
	}
	if !d.last.IsZero() && now.Sub(d.last) < d.cfg.MinInterval {
		d.suppressed++
		return ""
	}
	d.last = now
	dir, err := d.write(s, now)
	if err != nil {
		d.failed++
		d.log.Error("diagnostics: cannot write stall bundle", "err", err)
		return ""
	}
	d.written++
	if err := d.prune(dir); err != nil {
		d.log.Warn("diagnostics: cannot prune old bundles", "err", err)
	}
	return dir
}

// write creates the bundle folder: stall.json, goroutines.txt and, when the
// flight recorder runs, trace.out (read it with `go tool trace`).
func (d *diagnostics) write(s Stall, now time.Time) (string, error) {
	name := fmt.Sprintf("%s%s-%s-%s", bundlePrefix, now.UTC().Format("20060102T150405.000Z"), s.Stream, s.Reason)
	dir := filepath.Join(d.cfg.Dir, name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	meta, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "stall.json"), meta, 0o640); err != nil {
		return "", err
	}
	if err := writeFile(filepath.Join(dir, "goroutines.txt"), func(f *os.File) error {
		return pprof.Lookup("goroutine").WriteTo(f, 2)
	}); err != nil {
		return "", err
	}
	if d.fr != nil {
		if err := writeFile(filepath.Join(dir, "trace.out"), func(f *os.File) error {
			_, err := d.fr.WriteTo(f)
			return err
		}); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func writeFile(path string, fill func(*os.File) error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// prune deletes the oldest bundles until all of them fit MaxBytes; keep,
// the newest, always stays.
func (d *diagnostics) prune(keep string) error {
	entries, err := os.ReadDir(d.cfg.Dir)
	if err != nil {
		return err
	}
	type bundle struct {
		path string
		size int64
	}
	var bundles []bundle
	var total int64
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), bundlePrefix) {
			continue
		}
		p := filepath.Join(d.cfg.Dir, e.Name())
		n := dirSize(p)
		bundles = append(bundles, bundle{p, n})
		total += n
	}
	// Names start with the UTC time, so name order is age order.
	slices.SortFunc(bundles, func(a, b bundle) int { return strings.Compare(a.path, b.path) })
	for _, b := range bundles {
		if total <= d.cfg.MaxBytes {
			break
		}
		if b.path == keep {
			continue
		}
		if err := os.RemoveAll(b.path); err != nil {
			return err
		}
		total -= b.size
	}
	return nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
