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
	"sync/atomic"
	"time"
)

// DiagnosticsConfig configures the bundles written when a stall is
// detected: a goroutine dump and the last seconds of an execution trace, so
// that the moment of a stall can be read after the fact. Bundles are
// written on a goroutine of their own, never by the watchdog; a stall
// detected while a bundle is being written gets none (it is logged and
// counted all the same).
//
// The execution trace comes from a flight recorder, which roughly doubles
// the cost of a goroutine switch and of a syscall while it runs. So it runs
// only when it pays: the watchdog arms it when it first sees a stage late
// (no progress for half of its stall or liveness timeout), which comes
// before every stall, so that the bundle still holds the seconds that led
// to it; POST /api/diagnostics/trace arms it on demand. It stops TraceArmFor
// after the last lateness or request.
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
	// TraceAlways runs the flight recorder from the start, rather than
	// only once armed. It defaults to false.
	TraceAlways bool
	// TraceArmFor is how long the armed flight recorder keeps running
	// after the last lateness or request. It defaults to 10 min.
	TraceArmFor time.Duration
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
	if c.TraceArmFor == 0 {
		c.TraceArmFor = 10 * time.Minute
	}
}

func (c *DiagnosticsConfig) validate() error {
	var errs []error
	if c.MaxBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("diagnostics max bytes %d is below 1 MiB", c.MaxBytes))
	}
	if c.MinInterval < 0 || c.TraceWindow < 0 || c.TraceArmFor < 0 {
		errs = append(errs, fmt.Errorf("diagnostics intervals must not be negative"))
	}
	return errors.Join(errs...)
}

// bundlePrefix starts the name of every bundle folder, so that the size cap
// never deletes anything else in Dir.
const bundlePrefix = "stall-"

// diagnostics writes stall bundles on a goroutine of its own, so that the
// watchdog, which checks every stream, never waits on the disk. capture
// runs on the watchdog goroutine: it applies MinInterval, names the bundle
// and hands it to the writer through a one-slot queue; a bundle requested
// while another is queued or being written is dropped and counted. start
// and stop, called by the supervisor around the watchdog, own the writer
// goroutine.
type diagnostics struct {
	cfg DiagnosticsConfig
	log *slog.Logger
	fr  *trace.FlightRecorder // nil when not recording; used by the writer only

	last time.Time // watchdog only: when the last bundle was requested

	slot       chan bundleRequest // one slot, empty whenever busy is false
	busy       atomic.Bool        // a bundle is queued or being written
	quit, done chan struct{}      // nil when the writer does not run
	// armc asks the writer to run the flight recorder for TraceArmFor more;
	// one slot, sent to without blocking.
	armc      chan struct{}
	recording atomic.Bool // the flight recorder runs
	warned    bool        // writer only: the recorder's failure to start was logged

	written    atomic.Uint64
	suppressed atomic.Uint64 // stalls that got no bundle because of MinInterval
	dropped    atomic.Uint64 // stalls that got no bundle because one was being written
	failed     atomic.Uint64

	// beforeWrite, set only by tests before start, runs on the writer
	// before each bundle.
	beforeWrite func()
}

// DiagnosticsStats counts the stalls that asked for a bundle, by outcome.
type DiagnosticsStats struct {
	Written uint64 // bundles written
	// Suppressed: stalls within MinInterval of the previous bundle.
	Suppressed uint64
	// Dropped: stalls detected while another bundle was being written.
	Dropped uint64
	Failed  uint64 // bundles that could not be written (see the log)
	// Tracing: the flight recorder runs (armed, or TraceAlways).
	Tracing bool
}

func (d *diagnostics) stats() DiagnosticsStats {
	return DiagnosticsStats{Written: d.written.Load(), Suppressed: d.suppressed.Load(), Dropped: d.dropped.Load(),
		Failed: d.failed.Load(), Tracing: d.recording.Load()}
}

// bundleRequest is one bundle for the writer: the stall and its folder.
type bundleRequest struct {
	stall Stall
	dir   string
	at    time.Time
}

func newDiagnostics(cfg DiagnosticsConfig, log *slog.Logger) *diagnostics {
	return &diagnostics{cfg: cfg, log: log, slot: make(chan bundleRequest, 1), armc: make(chan struct{}, 1)}
}

// start starts the writer, and the flight recorder with TraceAlways.
func (d *diagnostics) start() {
	if d.cfg.Dir == "" {
		return
	}
	if d.cfg.TraceAlways {
		d.startRecorder()
	}
	d.quit, d.done = make(chan struct{}), make(chan struct{})
	go d.run()
}

// armTrace asks for the flight recorder for TraceArmFor from now. It never
// blocks: the watchdog calls it on every check that finds a stage late.
func (d *diagnostics) armTrace() {
	if d.cfg.Dir == "" || d.cfg.NoTrace {
		return
	}
	select {
	case d.armc <- struct{}{}:
	default: // a request is pending already
	}
}

// startRecorder starts the flight recorder unless it runs. Only one may
// run per process: if another runs, bundles go without a trace and a
// warning says so, once. It runs on the writer (or in start, before it).
func (d *diagnostics) startRecorder() {
	if d.fr != nil || d.cfg.NoTrace {
		return
	}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: d.cfg.TraceWindow, MaxBytes: d.cfg.TraceMaxBytes})
	if err := fr.Start(); err != nil {
		if !d.warned {
			d.log.Warn("diagnostics: flight recorder unavailable; stall bundles will hold no trace", "err", err)
			d.warned = true
		}
		return
	}
	d.fr = fr
	d.recording.Store(true)
}

// stopRecorder stops the flight recorder if it runs.
func (d *diagnostics) stopRecorder() {
	if d.fr != nil {
		d.fr.Stop()
		d.fr = nil
		d.recording.Store(false)
	}
}

// stop ends the writer, after the bundle it writes and the one queued,
// and then the flight recorder.
func (d *diagnostics) stop() {
	if d.done != nil {
		close(d.quit)
		<-d.done
		d.quit, d.done = nil, nil
	}
	d.stopRecorder()
}

// run is the writer goroutine. It also starts the flight recorder when
// armed and stops it TraceArmFor after the last request.
func (d *diagnostics) run() {
	defer close(d.done)
	disarm := time.NewTimer(d.cfg.TraceArmFor)
	disarm.Stop()
	defer disarm.Stop()
	for {
		select {
		case <-d.armc:
			d.startRecorder()
			disarm.Reset(d.cfg.TraceArmFor)
		case <-disarm.C:
			if !d.cfg.TraceAlways {
				d.stopRecorder()
			}
		case r := <-d.slot:
			d.bundle(r)
		case <-d.quit:
			select {
			case r := <-d.slot:
				d.bundle(r)
			default:
			}
			return
		}
	}
}

// capture asks the writer for a bundle for s unless one was requested less
// than MinInterval ago, or one is being written. It returns the folder the
// bundle appears in, complete, once written; "" if none will be. It never
// touches the disk.
func (d *diagnostics) capture(s Stall, now time.Time) string {
	if d.cfg.Dir == "" {
		return ""
	}
	if !d.last.IsZero() && now.Sub(d.last) < d.cfg.MinInterval {
		d.suppressed.Add(1)
		return ""
	}
	if !d.busy.CompareAndSwap(false, true) {
		d.dropped.Add(1)
		d.log.Debug("diagnostics: stall bundle dropped; another is being written", "stream", s.Stream, "reason", s.Reason)
		return ""
	}
	d.last = now
	name := fmt.Sprintf("%s%s-%s-%s", bundlePrefix, now.UTC().Format("20060102T150405.000Z"), s.Stream, s.Reason)
	r := bundleRequest{stall: s, dir: filepath.Join(d.cfg.Dir, name), at: now}
	r.stall.Bundle = r.dir
	d.slot <- r // never blocks: busy was false, so the slot is empty
	return r.dir
}

// bundle writes r, prunes old bundles, and frees the slot. It runs on the
// writer goroutine.
func (d *diagnostics) bundle(r bundleRequest) {
	defer d.busy.Store(false)
	if d.beforeWrite != nil {
		d.beforeWrite()
	}
	if err := d.write(r); err != nil {
		d.failed.Add(1)
		d.log.Error("diagnostics: cannot write stall bundle", "bundle", r.dir, "err", err)
		return
	}
	d.written.Add(1)
	if err := d.prune(r.dir); err != nil {
		d.log.Warn("diagnostics: cannot prune old bundles", "err", err)
	}
}

// write creates the bundle folder: stall.json, goroutines.txt and, when the
// flight recorder runs, trace.out (read it with `go tool trace`). It fills
// a temporary folder, which prune ignores, and renames it, so that a
// bundle folder is always complete.
func (d *diagnostics) write(r bundleRequest) (err error) {
	tmp := filepath.Join(d.cfg.Dir, ".tmp-"+filepath.Base(r.dir))
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	meta, err := json.MarshalIndent(r.stall, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "stall.json"), meta, 0o640); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(tmp, "goroutines.txt"), func(f *os.File) error {
		return pprof.Lookup("goroutine").WriteTo(f, 2)
	}); err != nil {
		return err
	}
	if d.fr != nil {
		if err := writeFile(filepath.Join(tmp, "trace.out"), func(f *os.File) error {
			_, err := d.fr.WriteTo(f)
			return err
		}); err != nil {
			return err
		}
	}
	return os.Rename(tmp, r.dir)
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
