package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/sink/schema"
)

// targetRun is one target during a session: its process (or deployment),
// its verifier, its samples and the streams it was asked to pull.
type targetRun struct {
	Target
	s         *session
	dir       string
	topic     string
	brokers   []string
	proc      *process     // nil for black-box and a fleet
	fleet     *fleetRun    // nil unless the scenario runs a fleet
	pid       int          // 0: resources not measured
	admin     *adminClient // nil: no admin API
	ver       *verifier
	verCancel context.CancelFunc
	verDone   chan struct{} // closed when the verifier stopped reading
	verErr    error
	started   time.Time // asked to start pulling its first streams

	mu           sync.Mutex // guards the fields below: the schedule writes them
	lives        map[string]*streamLife
	order        []string
	warnings     []string
	addedDuring  int // streams added through the admin API after the start
	removedCount int

	// Owned by the session's sampling loop, then by stop and report.
	ticks       []tick
	prevLat     *Histogram
	steadyLat   *Histogram // latency at the start of the steady window
	steadyTick  int        // index of the first tick in the steady window; -1 before
	metricsFrom metrics
	metricsTo   metrics
	lastStats   map[string]ingest.StreamStats // last seen of every stream
	stalls      []ingest.StallCount
	stallsOK    bool
	latency     *Histogram // at the stop
	exitCode    *int
	maxUp       int
}

// tick is one sample of a target.
type tick struct {
	At      time.Time
	Proc    procSample
	HasProc bool
	Up      int // streams streaming; -1 unknown
	Planned int // streams it should be pulling
	Records uint64
	Audio   time.Duration
	Gaps    time.Duration
	Drops   uint64
	LatP99  float64 // of the interval, ms
}

func newTargetRun(s *session, t Target) (*targetRun, error) {
	tr := &targetRun{
		Target:     t,
		s:          s,
		dir:        targetDir(s.o.Out, t.Label, len(s.o.Targets)),
		lives:      make(map[string]*streamLife),
		lastStats:  make(map[string]ingest.StreamStats),
		steadyTick: -1,
		verDone:    make(chan struct{}),
		pid:        t.PID,
	}
	if err := ensureDir(tr.dir); err != nil {
		return nil, err
	}
	if t.blackBox() {
		tr.brokers, tr.topic = t.Brokers, t.Topic
		if t.Admin != "" {
			tr.admin = newAdminClient(t.Admin)
		}
	} else {
		tr.brokers, tr.topic = []string{s.broker.Addr()}, topicPrefix+t.Label
	}
	tr.ver = newVerifier(tr.brokers, tr.topic)
	if !t.blackBox() && s.sc.Instances > 1 {
		tr.fleet = newFleetRun(tr, s.sc.Instances)
	}
	if t.blackBox() {
		want := s.plan.byName
		tr.ver.want = func(id string) bool { _, ok := want[id]; return ok }
		tr.ver.notBefore = s.started.Add(-time.Second)
	}
	for _, name := range fidelityStreams(s.plan, s.sc.FidelityStreams) {
		tr.ver.fidelity[name] = true
	}
	return tr, nil
}

// fidelityStreams picks up to n streams for the fidelity check: the first
// of each codec, then the others in order.
func fidelityStreams(p *plan, n int) []string {
	var first, rest []string
	seen := map[string]bool{}
	for _, st := range p.streams {
		if !seen[st.Codec] {
			seen[st.Codec] = true
			first = append(first, st.Name)
		} else {
			rest = append(rest, st.Name)
		}
	}
	all := append(first, rest...)
	return all[:max(0, min(n, len(all)))]
}

// start starts consuming the target's topic, then the target: the child
// process with the plan's initial streams, or, for a deployment with an
// admin API, those streams added through it.
func (t *targetRun) start(ctx context.Context) error {
	verCtx, cancel := context.WithCancel(t.s.bgCtx)
	t.verCancel = cancel
	go func() {
		defer close(t.verDone)
		t.verErr = t.ver.run(verCtx)
	}()
	t.started = time.Now()
	if t.blackBox() {
		if err := t.writeStreamsFile(); err != nil {
			return err
		}
		for _, name := range t.s.plan.initial {
			t.add(ctx, name)
		}
		return nil
	}
	for _, name := range t.s.plan.initial {
		t.live(name, t.started, schema.ReasonShutdown)
	}
	if t.fleet != nil {
		return t.fleet.start(ctx)
	}
	cfg, err := t.writeConfig("")
	if err != nil {
		return err
	}
	p, err := startProcess(t.Binary, []string{"run", "--config", cfg}, t.Env, filepath.Join(t.dir, "earshot.log"))
	if err != nil {
		return fmt.Errorf("loadtest: %s: %w", t.Label, err)
	}
	t.proc, t.pid = p, p.PID()
	if sharesHarnessBinary(t.Binary) {
		t.warn(sharedBinaryWarning)
	}
	addr, err := p.waitAdmin(ctx, readyTimeout)
	if err != nil {
		return fmt.Errorf("loadtest: %s: %w", t.Label, err)
	}
	t.admin = newAdminClient(addr)
	return nil
}

// writeConfig writes the configuration of `earshot run`: the scenario's
// earshot section over what the harness needs. instance is "" for a
// single earshot, else the id of an instance of the fleet, which gets its
// own spool, diagnostics and file names.
func (t *targetRun) writeConfig(instance string) (string, error) {
	dir, name := t.dir, "earshot"
	if instance != "" {
		dir, name = filepath.Join(t.dir, instance), instance
	}
	cfg := map[string]any{
		"kafka":       map[string]any{"brokers": t.brokers, "topic": t.topic},
		"spool":       map[string]any{"dir": filepath.Join(dir, "spool"), "fsync": "none"},
		"admin":       map[string]any{"listen": "127.0.0.1:0"},
		"diagnostics": map[string]any{"dir": filepath.Join(dir, "diagnostics")},
		"log":         map[string]any{"format": "json"},
	}
	if instance != "" {
		cfg["fleet"] = t.fleet.fleetSection(instance)
	}
	mergeMaps(cfg, t.s.sc.Earshot)
	if t.Backend != "" {
		mergeMaps(cfg, map[string]any{"ingest": map[string]any{"backend": t.Backend}})
	}
	// Its admin listener, and what it pulls, are the harness's.
	cfg["admin"].(map[string]any)["listen"] = "127.0.0.1:0"
	cfg["streams"] = t.streamEntries(t.s.plan.initial)
	if instance != "" {
		fs := cfg["fleet"].(map[string]any)
		fs["instance_id"] = instance
		if d, err := time.ParseDuration(fmt.Sprint(fs["session_timeout"])); err == nil {
			t.fleet.mu.Lock()
			t.fleet.session = d
			t.fleet.mu.Unlock()
		}
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	path := filepath.Join(t.dir, name+".yaml")
	return path, os.WriteFile(path, b, 0o644)
}

// writeStreamsFile writes the streams of the run as earshot configuration
// entries, for a deployment configured by hand (black-box).
func (t *targetRun) writeStreamsFile() error {
	var names []string
	for _, st := range t.s.plan.streams {
		names = append(names, st.Name)
	}
	b, err := yaml.Marshal(map[string]any{"streams": t.streamEntries(names)})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(t.dir, "streams.yaml"), b, 0o644)
}

func (t *targetRun) streamEntries(names []string) []map[string]string {
	out := make([]map[string]string, len(names))
	for i, name := range names {
		out[i] = map[string]string{"id": name, "url": t.s.cams.URL(name), "transport": t.s.sc.Transport}
	}
	return out
}

// mergeMaps merges src into dst, recursively where both hold a map.
func mergeMaps(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeMaps(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// ready waits until the target pulls its initial streams: all streaming
// in its API, or (without one) all delivering records. It does not fail:
// a target that is not ready in time is measured as it is, with a warning.
func (t *targetRun) ready(ctx context.Context) {
	limit := readyTimeout
	if t.blackBox() {
		limit = blackBoxReady
	}
	deadline := time.Now().Add(limit)
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	want := t.s.plan.initial
	for time.Now().Before(deadline) {
		if t.up(ctx, want) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		}
	}
	t.warn(fmt.Sprintf("not every initial stream was up within %v of the start", limit))
}

// up reports whether every stream of ids is streaming (admin API) or has
// delivered records.
func (t *targetRun) up(ctx context.Context, ids []string) bool {
	if t.proc != nil && t.proc.exited() {
		return true // nothing to wait for: the report says why
	}
	if t.admin != nil {
		st, err := t.admin.streams(ctx)
		if err != nil {
			return false
		}
		streaming := map[string]bool{}
		for _, s := range st {
			streaming[s.ID] = s.State == ingest.StateStreaming
		}
		return !slices.ContainsFunc(ids, func(id string) bool { return !streaming[id] })
	}
	checks := t.ver.checks()
	return !slices.ContainsFunc(ids, func(id string) bool { return checks[id] == nil })
}

// live records that the target was asked to pull name at `at`.
func (t *targetRun) live(name string, at time.Time, wantEnd string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.lives[name]; !ok {
		t.order = append(t.order, name)
	}
	t.lives[name] = &streamLife{Name: name, Codec: t.s.plan.codec(name), Added: at, WantEnd: wantEnd}
}

// add asks the target to pull name: through its admin API, or (black-box
// without one) by trusting its configuration.
func (t *targetRun) add(ctx context.Context, name string) {
	at := time.Now()
	a := t.api()
	if a == nil {
		t.live(name, at, "")
		return
	}
	err := a.add(ctx, name, t.s.cams.URL(name), t.s.sc.Transport)
	var se *statusError
	switch {
	case errors.As(err, &se) && se.code == http.StatusConflict && t.blackBox():
		t.live(name, at, "") // configured already: it stays
	case err != nil:
		t.warn(fmt.Sprintf("add %s: %v", name, err))
		return
	case t.blackBox():
		t.live(name, at, schema.ReasonRemoved) // the harness removes it at the end
	default:
		t.live(name, at, schema.ReasonShutdown)
		t.mu.Lock()
		t.addedDuring++
		t.mu.Unlock()
	}
}

// remove asks the target to stop pulling name.
func (t *targetRun) remove(ctx context.Context, name string) {
	a := t.api()
	if a == nil {
		return
	}
	if err := a.remove(ctx, name); err != nil {
		t.warn(fmt.Sprintf("remove %s: %v", name, err))
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.lives[name]; l != nil {
		l.Removed, l.WantEnd = time.Now(), schema.ReasonRemoved
	}
	t.removedCount++
}

// api is the admin API that adds and removes streams: the target's, or
// (a fleet) that of any running instance, since each writes the registry.
// Nil: none.
func (t *targetRun) api() *adminClient {
	if t.fleet != nil {
		return t.fleet.admin()
	}
	return t.admin
}

// sharedBinaryWarning says why PSS understates a process run alone when
// earshot is the harness's own executable.
const sharedBinaryWarning = "earshot is the harness's own executable: the pages of the binary and its libraries are shared with the harness, so PSS counts half of them; for the PSS of earshot alone, run a copy of the binary (cp earshot earshot-measured; --earshot ./earshot-measured)"

// sharesHarnessBinary reports whether binary is the file this process runs.
func sharesHarnessBinary(binary string) bool {
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		return false
	}
	other, err := os.Stat(binary)
	return err == nil && os.SameFile(self, other)
}

func (t *targetRun) warn(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Contains(t.warnings, msg) {
		t.warnings = append(t.warnings, msg)
	}
}

// present is how many streams the target should be pulling now.
func (t *targetRun) present() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, l := range t.lives {
		if l.Removed.IsZero() {
			n++
		}
	}
	return n
}

// latencySnapshot is the pipeline latency so far.
func (t *targetRun) latencySnapshot() *Histogram {
	if t.s.appends != nil && !t.blackBox() {
		return t.s.appends.snapshot(t.topic)
	}
	return t.ver.totals().Consumed
}

func (t *targetRun) latencySource() string {
	if t.s.appends != nil && !t.blackBox() {
		return "broker_append"
	}
	return "consumed"
}

// sample takes one tick.
func (t *targetRun) sample(ctx context.Context, now time.Time) {
	k := tick{At: now, Up: -1, Planned: t.present()}
	if t.pid > 0 {
		if p, err := readProc(t.pid); err == nil {
			k.Proc, k.HasProc = p, true
		}
	}
	if t.admin != nil {
		if st, err := t.admin.streams(ctx); err == nil {
			k.Up = 0
			for _, s := range st {
				t.lastStats[s.ID] = s
				if s.State == ingest.StateStreaming {
					k.Up++
				}
			}
			t.maxUp = max(t.maxUp, k.Up)
		}
		for _, s := range t.lastStats {
			k.Drops += s.SDKDropped + s.HandoffDropped
		}
	}
	tot := t.ver.totals()
	k.Records, k.Audio = tot.Records, tot.Audio
	for _, d := range tot.Gaps {
		k.Gaps += d
	}
	lat := t.latencySnapshot()
	k.LatP99 = ms(lat.Sub(t.prevLat).Quantile(0.99))
	t.prevLat = lat
	t.ticks = append(t.ticks, k)
}

// markSteady begins the steady window: the figures from here on count.
func (t *targetRun) markSteady(ctx context.Context) {
	t.steadyTick = len(t.ticks)
	t.steadyLat = t.latencySnapshot()
	if t.admin != nil {
		t.metricsFrom, _ = t.admin.metrics(ctx)
	}
}

// progress is the target's part of the progress line.
func (t *targetRun) progress() string {
	n := len(t.ticks)
	if n == 0 {
		return t.Label + ": starting"
	}
	k := t.ticks[n-1]
	up := "?"
	if k.Up >= 0 {
		up = fmt.Sprint(k.Up)
	}
	rate, cpu := t.rates(n - 1)
	line := fmt.Sprintf("%s: up %s/%d · %.0f rec/s · p99 %s · gaps %s · drops %d", t.Label, up, k.Planned, rate, fmtMs(k.LatP99), fmtMs(ms(k.Gaps)), k.Drops)
	if k.HasProc {
		line += fmt.Sprintf(" · CPU %.0f%% · RSS %s", 100*cpu, fmtBytes(k.Proc.RSS))
	}
	if t.fleet != nil {
		line += fmt.Sprintf(" · instances %d/%d", len(t.fleet.running()), len(t.fleet.ids))
	}
	return line
}

// stop takes the last figures and stops the target.
func (t *targetRun) stop(ctx context.Context) {
	t.latency = t.latencySnapshot()
	if t.admin != nil {
		if m, err := t.admin.metrics(ctx); err == nil {
			t.metricsTo = m
		}
		if st, err := t.admin.stalls(ctx); err == nil {
			t.stalls, t.stallsOK = st, true
		}
		if st, err := t.admin.streams(ctx); err == nil {
			for _, s := range st {
				t.lastStats[s.ID] = s
			}
		}
	}
	if t.proc != nil {
		code := t.proc.stop(stopGrace)
		t.exitCode = &code
		return
	}
	if t.fleet != nil {
		code := t.fleet.stop()
		t.exitCode = &code
		return
	}
	// A deployment keeps running: remove the streams the harness added.
	t.mu.Lock()
	var added []string
	for _, name := range t.order {
		if l := t.lives[name]; l.WantEnd == schema.ReasonRemoved && l.Removed.IsZero() {
			added = append(added, name)
		}
	}
	t.mu.Unlock()
	for _, name := range added {
		t.remove(ctx, name)
	}
}

// drain reads the rest of the topic, then stops the verifier.
func (t *targetRun) drain(ctx context.Context) {
	var ids []string
	t.mu.Lock()
	for _, name := range t.order {
		if t.lives[name].WantEnd != "" {
			ids = append(ids, name)
		}
	}
	t.mu.Unlock()
	t.ver.drain(ctx, ids, drainIdle, drainLimit)
	t.stopVerifier()
	t.ver.flush()
}

// stopVerifier stops reading the topic and waits for it.
func (t *targetRun) stopVerifier() {
	if t.verCancel != nil {
		t.verCancel()
		<-t.verDone
	}
}

// kill ends the child process if it still runs, and the verifier (after a
// failure).
func (t *targetRun) kill() {
	if t.proc != nil && !t.proc.exited() {
		t.proc.stop(0)
	}
	if t.fleet != nil {
		t.fleet.kill()
	}
	t.stopVerifier()
}

// streamLives returns the streams the target was asked to pull, in order.
func (t *targetRun) streamLives() []streamLife {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]streamLife, len(t.order))
	for i, name := range t.order {
		out[i] = *t.lives[name]
	}
	return out
}

// permanentRetry is earshot's ingest.permanent_retry as the scenario sets
// it, else its default.
func permanentRetry(earshot map[string]any) time.Duration {
	if in, ok := earshot["ingest"].(map[string]any); ok {
		if s, ok := in["permanent_retry"].(string); ok {
			if d, err := time.ParseDuration(strings.TrimSpace(s)); err == nil {
				return d
			}
		}
	}
	return 2 * time.Minute
}
