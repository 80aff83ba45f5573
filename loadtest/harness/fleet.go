package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/earshot/earshot/ingest/fleet"
)

// InstanceFaultKind names what an InstanceFault does to an instance of a
// fleet. The values are stable strings, meant for scenario files.
type InstanceFaultKind string

// The instance fault kinds.
const (
	// InstanceKill kills the instance (SIGKILL); it stays down. The others
	// must pull its streams within fleet.session_timeout + 3 s.
	InstanceKill InstanceFaultKind = "kill"
	// InstanceTerm stops the instance (SIGTERM): it leaves the group at
	// once and stays down. The others must pull its streams within 3 s.
	InstanceTerm InstanceFaultKind = "term"
	// InstanceStop freezes the instance (SIGSTOP) for the fault's
	// Duration, then lets it go on (SIGCONT): a network partition as the
	// instance sees it. It must fence itself: no epoch of another
	// instance may overlap its own by more than MaxEpochOverlap.
	InstanceStop InstanceFaultKind = "stop"
	// InstanceRestart kills the instance (SIGKILL) and starts it again,
	// with the same instance id, after the fault's Duration.
	InstanceRestart InstanceFaultKind = "restart"
)

// InstanceFaultKinds returns every instance fault kind.
func InstanceFaultKinds() []InstanceFaultKind {
	return []InstanceFaultKind{InstanceKill, InstanceTerm, InstanceStop, InstanceRestart}
}

// InstanceFault acts on one instance of a fleet (Scenario.Instances > 1)
// At after the start.
type InstanceFault struct {
	// Instance is the instance's number, from 1 to Scenario.Instances.
	Instance int               `yaml:"instance"`
	Kind     InstanceFaultKind `yaml:"kind"`
	At       time.Duration     `yaml:"at"`
	// Duration is how long a stop freezes the instance, and how long a
	// restart keeps it down; kill and term have none.
	Duration time.Duration `yaml:"duration"`
}

func (f InstanceFault) String() string {
	s := fmt.Sprintf("%s instance %d at %v", f.Kind, f.Instance, f.At)
	if f.Duration > 0 {
		s += fmt.Sprintf(" for %v", f.Duration)
	}
	return s
}

// validate names the problems of the i-th instance fault of a fleet of n.
func (f InstanceFault) validate(i, n int) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("instance_faults[%d] (%s): "+format, append([]any{i, f}, args...)...))
	}
	if n < 2 {
		bad("instance faults need a fleet: instances %d is less than 2", n)
	}
	if f.Instance < 1 || f.Instance > n {
		bad("instance %d is not in [1, %d]", f.Instance, n)
	}
	if f.At < 0 {
		bad("at must not be negative")
	}
	switch f.Kind {
	case InstanceKill, InstanceTerm:
		if f.Duration != 0 {
			bad("%s has no duration", f.Kind)
		}
	case InstanceStop, InstanceRestart:
		if f.Duration <= 0 || f.Duration > time.Hour {
			bad("%s needs a duration in (0, 1h]", f.Kind)
		}
	default:
		bad("kind %q is not one of %s", f.Kind, joinKinds())
	}
	return errs
}

func joinKinds() string {
	var s []string
	for _, k := range InstanceFaultKinds() {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// Fleet settings of a run with Scenario.Instances > 1.
const (
	// MaxInstances bounds Scenario.Instances.
	MaxInstances = 32
	// fleetPartitionsPerInstance: the registry has 4 partitions per
	// instance (docs/fleet.md: at least 4× the most instances).
	fleetPartitionsPerInstance = 4
	// Short timings, so that failovers show within a short run. The
	// embedded broker allows session timeouts down to a second.
	fleetSessionTimeout    = 3 * time.Second
	fleetHeartbeat         = 300 * time.Millisecond
	fleetMinSessionTimeout = time.Second
	// failoverSlack is what issue 11 allows beyond the session timeout
	// (SIGKILL) or alone (SIGTERM) to pull the streams again; a restart
	// also waits for earshot to start, which startSlack allows.
	failoverSlack = 3 * time.Second
	startSlack    = 5 * time.Second
)

// fleetRun is the instances of a target run as a fleet: child processes of
// `earshot run` with a fleet section, sharing the streams through the
// registry on the embedded broker. The session's schedule acts on them
// (faults); stop ends those still running.
type fleetRun struct {
	t       *targetRun
	ids     []string // instance ids, by number from 1
	session time.Duration

	mu     sync.Mutex
	procs  map[string]*process     // running or frozen; absent while down
	admins map[string]*adminClient // of the running ones
	events []instanceEvent
	codes  []int // exit statuses of the instances the harness stopped with SIGTERM
}

// instanceEvent is an instance fault as the harness carried it out.
type instanceEvent struct {
	Fault      InstanceFault
	Instance   string
	Began, End time.Time // End: when it was back (stop, restart) or Began
	Error      string
}

func newFleetRun(t *targetRun, n int) *fleetRun {
	f := &fleetRun{t: t, procs: make(map[string]*process), admins: make(map[string]*adminClient), session: fleetSessionTimeout}
	for i := range n {
		f.ids = append(f.ids, fmt.Sprintf("%s-%d", t.Label, i+1))
	}
	return f
}

// fleetSection is the fleet configuration of instance id; the scenario's
// earshot section may change its timings.
func (f *fleetRun) fleetSection(id string) map[string]any {
	return map[string]any{
		"group":              topicPrefix + f.t.Label,
		"registry_topic":     topicPrefix + f.t.Label + ".streams",
		"status_topic":       topicPrefix + f.t.Label + ".status",
		"instance_id":        id,
		"session_timeout":    fleetSessionTimeout.String(),
		"heartbeat_interval": fleetHeartbeat.String(),
	}
}

// start creates the fleet's topics and starts every instance.
func (f *fleetRun) start(ctx context.Context) error {
	_, err := fleet.Init(ctx, fleet.Config{
		Brokers:       f.t.brokers,
		RegistryTopic: topicPrefix + f.t.Label + ".streams",
		StatusTopic:   topicPrefix + f.t.Label + ".status",
	}, fleetPartitionsPerInstance*len(f.ids))
	if err != nil {
		return fmt.Errorf("loadtest: %s: fleet init: %w", f.t.Label, err)
	}
	for _, id := range f.ids {
		// A restart keeps the instance's spool, as a real one would.
		if err := ensureDir(filepath.Join(f.t.dir, id)); err != nil {
			return err
		}
		if err := f.startInstance(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// startInstance writes instance id's configuration, starts it and waits
// for its admin listener.
func (f *fleetRun) startInstance(ctx context.Context, id string) error {
	cfg, err := f.t.writeConfig(id)
	if err != nil {
		return err
	}
	p, err := startProcess(f.t.Binary, []string{"run", "--config", cfg}, f.t.Env, filepath.Join(f.t.dir, id+".log"))
	if err != nil {
		return fmt.Errorf("loadtest: %s: %w", id, err)
	}
	f.mu.Lock()
	f.procs[id] = p
	f.mu.Unlock()
	addr, err := p.waitAdmin(ctx, readyTimeout)
	if err != nil {
		return fmt.Errorf("loadtest: %s: %w", id, err)
	}
	f.mu.Lock()
	f.admins[id] = newAdminClient(addr)
	f.mu.Unlock()
	return nil
}

// admin returns the admin API of a running instance (any writes the
// registry), or nil.
func (f *fleetRun) admin() *adminClient {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range f.ids {
		if a := f.admins[id]; a != nil {
			return a
		}
	}
	return nil
}

// down takes instance id out of the fleet's running ones and returns its
// process, nil if it was not running.
func (f *fleetRun) down(id string) *process {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.procs[id]
	delete(f.procs, id)
	delete(f.admins, id)
	return p
}

// fault carries out ft now. A stop's SIGCONT and a restart's start run on
// wg, at the end of the fault's Duration or when ctx ends (SIGCONT only:
// nothing starts after the schedule).
func (f *fleetRun) fault(ctx context.Context, ft InstanceFault, wg *sync.WaitGroup) {
	id := f.ids[ft.Instance-1]
	ev := instanceEvent{Fault: ft, Instance: id, Began: time.Now()}
	ev.End = ev.Began
	record := func(ev instanceEvent) {
		f.mu.Lock()
		f.events = append(f.events, ev)
		f.mu.Unlock()
	}
	f.mu.Lock()
	p := f.procs[id]
	f.mu.Unlock()
	if p == nil || p.exited() {
		ev.Error = "the instance was not running"
		record(ev)
		f.t.warn(fmt.Sprintf("instance fault %s: %s", ft, ev.Error))
		return
	}
	f.t.s.log.Info("loadtest instance fault begins", "fault", ft.String(), "instance", id)
	switch ft.Kind {
	case InstanceKill:
		f.down(id)
		p.cmd.Process.Kill()
		<-p.done
		record(ev)
	case InstanceTerm:
		f.down(id)
		record(ev)
		wg.Go(func() {
			code := p.stop(stopGrace)
			f.mu.Lock()
			f.codes = append(f.codes, code)
			f.mu.Unlock()
		})
	case InstanceStop:
		p.cmd.Process.Signal(syscall.SIGSTOP)
		wg.Go(func() {
			sleepUntil(ctx, ev.Began.Add(ft.Duration))
			p.cmd.Process.Signal(syscall.SIGCONT)
			ev.End = time.Now()
			record(ev)
		})
	case InstanceRestart:
		f.down(id)
		p.cmd.Process.Kill()
		<-p.done
		wg.Go(func() {
			if !sleepUntil(ctx, ev.Began.Add(ft.Duration)) {
				ev.Error = "the run ended before the restart"
				record(ev)
				return
			}
			ev.End = time.Now()
			if err := f.startInstance(ctx, id); err != nil {
				ev.Error = err.Error()
				f.t.warn(fmt.Sprintf("instance fault %s: %v", ft, err))
			}
			record(ev)
		})
	}
}

// running returns the processes of the running instances.
func (f *fleetRun) running() []*process {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*process
	for _, id := range f.ids {
		if p := f.procs[id]; p != nil {
			out = append(out, p)
		}
	}
	return out
}

// stop ends every running instance (SIGTERM, all at once, so that they do
// not hand their streams to each other) and returns the worst exit status
// of those the harness stopped with SIGTERM, a term fault's included.
func (f *fleetRun) stop() int {
	procs := f.running()
	codes := make([]int, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		p.cmd.Process.Signal(syscall.SIGCONT) // a stop fault still on
		wg.Go(func() { codes[i] = p.stop(stopGrace) })
	}
	wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.procs, f.admins = map[string]*process{}, map[string]*adminClient{}
	worst := 0
	for _, c := range append(codes, f.codes...) {
		if c != 0 && worst == 0 {
			worst = c
		}
	}
	return worst
}

// kill ends every instance still running (after a failure).
func (f *fleetRun) kill() {
	for _, p := range f.running() {
		if !p.exited() {
			p.cmd.Process.Signal(syscall.SIGCONT)
			p.stop(0)
		}
	}
}

// faultLog returns the instance faults carried out, in the order they
// began.
func (f *fleetRun) faultLog() []instanceEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.events)
	slices.SortStableFunc(out, func(a, b instanceEvent) int { return a.Began.Compare(b.Began) })
	return out
}

// bound is how long after its fault an instance's streams may take to be
// pulled again: from the end of the old epoch's audio to the new epoch's
// first.
func (f *fleetRun) bound(ft InstanceFault) time.Duration {
	switch ft.Kind {
	case InstanceTerm:
		return failoverSlack
	case InstanceRestart:
		return min(ft.Duration, f.session) + startSlack
	default:
		return f.session + failoverSlack
	}
}
