package fleet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/earshot/earshot/ingest"
)

// StopReason says why a Member stops a stream.
type StopReason string

// Stop reasons.
const (
	// Removed: the stream's tombstone, or a changed configuration (the
	// stream is started again at once).
	Removed StopReason = "removed"
	// Moved: its partition was revoked or lost, or this instance leaves
	// the fleet: another instance pulls it next.
	Moved StopReason = "moved"
	// Fenced: this instance could not complete a heartbeat for
	// SessionTimeout minus FenceMargin and stops everything before another
	// instance may take over.
	Fenced StopReason = "fenced"
)

// Runner starts and stops the streams a Member owns: the supervisor, in
// earshot run. A Member calls it from its own goroutines and kgo's group
// goroutine, one call at a time.
type Runner interface {
	// Start begins pulling sc. It must not block.
	Start(sc ingest.StreamConfig) error
	// Stop stops pulling stream id and returns once its end record is
	// written, or when ctx is done.
	Stop(ctx context.Context, id string, why StopReason) error
}

// Stats are a Member's counters and state, for metrics.
type Stats struct {
	Instance        string
	Members         int    // members of the group, as of the last status
	Partitions      int    // owned now
	Streams         int    // running now
	Known           int    // streams of the owned partitions
	Loaded          bool   // every owned partition read up to its end at assignment
	Fenced          bool   // stopped for lack of heartbeats
	Rebalances      uint64 // completed group syncs
	StreamsMoved    uint64 // streams stopped because their partition went elsewhere
	Fences          uint64 // times this instance fenced itself
	BadRecords      uint64 // registry records that did not parse
	RunnerErrors    uint64 // Start or Stop calls that failed
	LastHeartbeatAt time.Time
}

// partState is the registry view of one owned partition.
type partState struct {
	streams map[string]ingest.StreamConfig
	end     int64 // offset to reach to be loaded
	loaded  bool
}

// Member is one instance of the fleet: it joins the group, owns the streams
// of its assigned registry partitions and runs them through its Runner.
type Member struct {
	cfg Config
	run Runner

	reg   *Registry
	group *kgo.Client
	view  *View

	// Written by kgo's hook goroutines, read by the watchdog.
	lastBeat  atomic.Int64 // unix ns of the last completed Heartbeat, JoinGroup or SyncGroup
	lastHB    atomic.Int64 // unix ns of the last completed Heartbeat only
	lastSync  atomic.Int64 // unix ns of the last completed SyncGroup
	joinSince atomic.Int64 // unix ns of the JoinGroup in flight, 0 if none
	beat      chan struct{}
	// changed asks publishLoop for a status now (cap 1, never blocks).
	changed chan struct{}

	rebalances, moved, fences, bad, runnerErrs atomic.Uint64
	members                                    atomic.Int64 // group members at the last status

	mu       sync.Mutex
	owned    map[int32]*partState
	running  map[string]int32 // started stream -> partition
	fenced   bool
	fencedAt int64 // unix ns
	leaving  bool  // Run is stopping: nothing starts
	killed   bool  // tests: the process "died", nothing is written

	kill   context.CancelFunc // tests
	killMu sync.Mutex

	now func() time.Time
}

// NewMember validates cfg. Nothing runs until Run.
func NewMember(cfg Config, run Runner) (*Member, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("fleet config: %w", err)
	}
	if run == nil {
		return nil, errors.New("fleet: nil runner")
	}
	return &Member{
		cfg: cfg, run: run, view: newView(cfg),
		owned: make(map[int32]*partState), running: make(map[string]int32),
		beat: make(chan struct{}, 1), changed: make(chan struct{}, 1), now: time.Now,
	}, nil
}

// Instance is this member's instance id.
func (m *Member) Instance() string { return m.cfg.InstanceID }

// View is the fleet as this member sees it, kept current while Run runs.
func (m *Member) View() *View { return m.view }

// Running says whether this member runs stream id now.
func (m *Member) Running(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.running[id]
	return ok
}

// Registry is the member's registry once Run has opened it, else nil.
func (m *Member) Registry() *Registry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reg
}

// Run joins the group and owns streams until ctx is done; then it stops
// them, leaves the group at once (so that others take over without waiting
// for the session timeout) and removes its status. It returns an error if
// the fleet topics are unusable (missing, not compacted, partition count
// changed) or the group cannot be joined.
func (m *Member) Run(ctx context.Context) error {
	kctx, kill := context.WithCancel(ctx)
	defer kill()
	m.killMu.Lock()
	m.kill = kill
	m.killMu.Unlock()

	reg, err := OpenRegistry(kctx, m.cfg)
	if err != nil {
		return err
	}
	defer reg.Close()
	m.mu.Lock()
	m.reg = reg // before the group's goroutines start
	m.mu.Unlock()
	group, err := newClient(m.cfg,
		kgo.ConsumerGroup(m.cfg.Group),
		kgo.ConsumeTopics(m.cfg.RegistryTopic),
		kgo.InstanceID(m.cfg.InstanceID),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(m.cfg.SessionTimeout),
		kgo.HeartbeatInterval(m.cfg.HeartbeatInterval),
		kgo.RebalanceTimeout(m.cfg.RebalanceTimeout),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(time.Second),
		kgo.OnPartitionsAssigned(m.onAssigned),
		kgo.OnPartitionsRevoked(m.onRevoked),
		kgo.OnPartitionsLost(m.onLost),
		kgo.WithHooks(hooks{m}),
	)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	m.mu.Lock()
	m.group = group
	m.mu.Unlock()
	m.lastBeat.Store(m.now().UnixNano()) // the join below counts from here

	var wg sync.WaitGroup
	wg.Go(func() { m.watch(kctx) })
	wg.Go(func() { m.publishLoop(kctx) })
	wg.Go(func() { m.view.run(kctx, reg.cl) })
	m.poll(kctx)
	wg.Wait()

	m.mu.Lock()
	m.leaving = true
	killed := m.killed
	m.mu.Unlock()
	if killed {
		group.Close() // static member: no leave, as after SIGKILL
		return nil
	}
	// Stop every stream first, then close (no LeaveGroup: static member),
	// then leave on the instance's behalf, so that the group rebalances at
	// once.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.RebalanceTimeout)
	defer cancel()
	m.mu.Lock()
	m.stopLocked(sctx, slices.Collect(maps.Keys(m.running)), Moved)
	m.mu.Unlock()
	group.Close()
	var errs []error
	if err := m.leave(sctx); err != nil {
		errs = append(errs, err)
	}
	if err := reg.publish(sctx, Status{Instance: m.cfg.InstanceID}); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		m.cfg.Logger.Warn("fleet: leaving", "instance", m.cfg.InstanceID, "err", err)
	}
	return nil
}

// crash ends Run as a SIGKILL would: no stream is stopped, no record is
// written, the group is not left. For tests.
func (m *Member) crash() {
	m.mu.Lock()
	m.killed = true
	m.mu.Unlock()
	m.killMu.Lock()
	if m.kill != nil {
		m.kill()
	}
	m.killMu.Unlock()
}

// leave sends the LeaveGroup of this static member.
func (m *Member) leave(ctx context.Context) error {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = m.cfg.Group
	mem := kmsg.NewLeaveGroupRequestMember()
	mem.InstanceID = &m.cfg.InstanceID
	mem.Reason = kmsg.StringPtr("earshot instance stopping")
	req.Members = append(req.Members, mem)
	resp, err := req.RequestWith(ctx, m.reg.cl)
	if err != nil {
		return fmt.Errorf("leave group %s: %w", m.cfg.Group, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("leave group %s: %w", m.cfg.Group, err)
	}
	for _, mr := range resp.Members {
		if err := kerr.ErrorForCode(mr.ErrorCode); err != nil && !errors.Is(err, kerr.UnknownMemberID) {
			return fmt.Errorf("leave group %s as %s: %w", m.cfg.Group, m.cfg.InstanceID, err)
		}
	}
	return nil
}

// poll applies registry records until ctx is done.
func (m *Member) poll(ctx context.Context) {
	for {
		fs := m.group.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			m.cfg.Logger.Warn("fleet: fetch", "topic", t, "partition", p, "err", err)
		})
		m.mu.Lock()
		fs.EachRecord(m.applyLocked)
		m.mu.Unlock()
	}
}

// applyLocked applies one registry record.
func (m *Member) applyLocked(r *kgo.Record) {
	ps := m.owned[r.Partition]
	if ps == nil {
		return // revoked meanwhile
	}
	if !ps.loaded && r.Offset+1 >= ps.end {
		ps.loaded = true
		m.statusChanged()
	}
	id := string(r.Key)
	if id == metaKey {
		return
	}
	old, had := ps.streams[id]
	if r.Value == nil {
		if had {
			delete(ps.streams, id)
			m.stopLocked(context.Background(), []string{id}, Removed)
		}
		return
	}
	sc, err := decodeStream(id, r.Value)
	if err != nil {
		m.bad.Add(1)
		m.cfg.Logger.Warn("fleet: registry record skipped", "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	if had && old == sc {
		return
	}
	ps.streams[id] = sc
	if had {
		m.stopLocked(context.Background(), []string{id}, Removed)
	}
	m.startLocked(sc, r.Partition)
}

// startLocked starts sc unless the member is fenced, leaving or dead.
func (m *Member) startLocked(sc ingest.StreamConfig, p int32) {
	if m.fenced || m.leaving || m.killed {
		return
	}
	if _, ok := m.running[sc.ID]; ok {
		return
	}
	if err := m.run.Start(sc); err != nil {
		m.runnerErrs.Add(1)
		m.cfg.Logger.Warn("fleet: start stream", "stream", sc.ID, "err", err)
		return
	}
	m.running[sc.ID] = p
}

// stopLocked stops the running streams among ids, all at once, and waits.
func (m *Member) stopLocked(ctx context.Context, ids []string, why StopReason) int {
	var wg sync.WaitGroup
	n := 0
	for _, id := range ids {
		if _, ok := m.running[id]; !ok {
			continue
		}
		delete(m.running, id)
		n++
		if m.killed {
			continue
		}
		wg.Go(func() {
			if err := m.run.Stop(ctx, id, why); err != nil {
				m.runnerErrs.Add(1)
				m.cfg.Logger.Warn("fleet: stop stream", "stream", id, "reason", why, "err", err)
			}
		})
	}
	wg.Wait()
	return n
}

// onAssigned is called by kgo's group goroutine with newly assigned
// partitions, before they are fetched: they are read from the start.
func (m *Member) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	ps := assigned[m.cfg.RegistryTopic]
	if len(ps) == 0 {
		return
	}
	ends, err := kadm.NewClient(m.reg.cl).ListEndOffsets(ctx, m.cfg.RegistryTopic)
	if err != nil {
		m.cfg.Logger.Warn("fleet: end offsets of assigned partitions", "err", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ps {
		st := &partState{streams: make(map[string]ingest.StreamConfig)}
		if o, ok := ends.Lookup(m.cfg.RegistryTopic, p); ok && o.Err == nil {
			st.end = o.Offset
		}
		st.loaded = st.end == 0
		m.owned[p] = st
	}
	m.statusChanged()
	m.cfg.Logger.Info("fleet: partitions assigned", "instance", m.cfg.InstanceID, "partitions", ps, "owned", len(m.owned))
}

// onRevoked is called by kgo's group goroutine with partitions given to
// other instances: their streams are stopped (end record, reason moved)
// and flushed before it returns, within the rebalance timeout.
func (m *Member) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	m.drop(ctx, revoked[m.cfg.RegistryTopic], m.cfg.RebalanceTimeout-m.cfg.HeartbeatInterval, "revoked")
}

// onLost is called by kgo's group goroutine when the group dropped this
// member (session expired, fenced): the partitions may be owned elsewhere
// already, so their streams stop at once.
func (m *Member) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	m.drop(ctx, lost[m.cfg.RegistryTopic], m.cfg.HeartbeatInterval, "lost")
}

func (m *Member) drop(ctx context.Context, ps []int32, bound time.Duration, what string) {
	if len(ps) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for _, p := range ps {
		if st := m.owned[p]; st != nil {
			for id := range st.streams {
				ids = append(ids, id)
			}
		}
		delete(m.owned, p)
	}
	n := m.stopLocked(ctx, ids, Moved)
	m.moved.Add(uint64(n))
	m.statusChanged()
	m.cfg.Logger.Info("fleet: partitions "+what, "instance", m.cfg.InstanceID, "partitions", ps, "streams_stopped", n, "owned", len(m.owned))
}

// watch fences this member when heartbeats stop completing, and unfences
// it once the group has confirmed its membership again.
func (m *Member) watch(ctx context.Context) {
	t := time.NewTicker(m.cfg.HeartbeatInterval / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.beat:
		}
		m.checkFence()
	}
}

// alive says whether this member may still pull: a heartbeat completed
// less than SessionTimeout minus FenceMargin ago, or a JoinGroup is in
// flight for less than RebalanceTimeout minus FenceMargin.
func (m *Member) alive(now int64) bool {
	if now-m.lastBeat.Load() < int64(m.cfg.SessionTimeout-m.cfg.FenceMargin) {
		return true
	}
	j := m.joinSince.Load()
	return j != 0 && now-j < int64(m.cfg.RebalanceTimeout-m.cfg.FenceMargin)
}

func (m *Member) checkFence() {
	now := m.now().UnixNano()
	alive := m.alive(now)
	m.mu.Lock()
	var group *kgo.Client
	switch {
	case !alive && !m.fenced && !m.leaving && len(m.owned) > 0:
		m.fenced, m.fencedAt = true, now
		m.fences.Add(1)
		n := len(m.running)
		m.stopLocked(context.Background(), slices.Collect(maps.Keys(m.running)), Fenced)
		m.statusChanged()
		m.cfg.Logger.Warn("fleet: no heartbeat completed: stopped every stream before the group gives them away",
			"instance", m.cfg.InstanceID, "since", time.Duration(now-m.lastBeat.Load()), "streams_stopped", n)
		// Rejoin: the group either confirms the assignment or says this
		// member was dropped (lost).
		group = m.group
	case m.fenced && m.lastSync.Load() > m.fencedAt && m.lastHB.Load() > m.lastSync.Load():
		m.fenced = false
		started := 0
		for p, st := range m.owned {
			for _, sc := range st.streams {
				m.startLocked(sc, p)
				started++
			}
		}
		m.statusChanged()
		m.cfg.Logger.Info("fleet: membership confirmed: streams started again", "instance", m.cfg.InstanceID, "streams", started)
	}
	m.mu.Unlock()
	if group != nil {
		group.ForceRebalance() // takes kgo's lock: not under ours
	}
}

// Stats returns the member's counters and state.
func (m *Member) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{
		Instance: m.cfg.InstanceID, Members: int(m.members.Load()), Partitions: len(m.owned), Streams: len(m.running), Loaded: true, Fenced: m.fenced,
		Rebalances: m.rebalances.Load(), StreamsMoved: m.moved.Load(), Fences: m.fences.Load(),
		BadRecords: m.bad.Load(), RunnerErrors: m.runnerErrs.Load(),
		LastHeartbeatAt: time.Unix(0, m.lastBeat.Load()),
	}
	for _, st := range m.owned {
		s.Known += len(st.streams)
		s.Loaded = s.Loaded && st.loaded
	}
	return s
}

// status is the member's status record.
func (m *Member) status() Status {
	m.mu.Lock()
	st := Status{Instance: m.cfg.InstanceID, Advertise: m.cfg.Advertise, Streams: len(m.running), Loaded: true, Fenced: m.fenced, Time: m.now().UTC()}
	for p, ps := range m.owned {
		st.Partitions = append(st.Partitions, p)
		st.Loaded = st.Loaded && ps.loaded
	}
	m.mu.Unlock()
	slices.Sort(st.Partitions)
	return st
}

// publishLoop writes the member's status and counts the group's members
// every StatusInterval until ctx is done.
func (m *Member) publishLoop(ctx context.Context) {
	t := time.NewTicker(m.cfg.StatusInterval)
	defer t.Stop()
	adm := kadm.NewClient(m.reg.cl)
	for {
		if err := m.reg.publish(ctx, m.status()); err != nil && ctx.Err() == nil {
			m.cfg.Logger.Warn("fleet: status", "err", err)
		}
		if gs, err := adm.DescribeGroups(ctx, m.cfg.Group); err == nil {
			if g, ok := gs[m.cfg.Group]; ok && g.Err == nil {
				m.members.Store(int64(len(g.Members)))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.changed:
		}
	}
}

// statusChanged asks for a status record now; it never blocks.
func (m *Member) statusChanged() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// hooks observes the group's requests on kgo's connection goroutines: it
// only stores times and signals the watchdog without blocking.
type hooks struct{ m *Member }

var (
	_ kgo.HookBrokerWrite = hooks{}
	_ kgo.HookBrokerRead  = hooks{}
)

func (h hooks) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == kmsg.JoinGroup.Int16() && err == nil {
		h.m.joinSince.Store(h.m.now().UnixNano())
	}
}

func (h hooks) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		if key == kmsg.JoinGroup.Int16() {
			h.m.joinSince.Store(0)
		}
		return
	}
	now := h.m.now().UnixNano()
	switch key {
	case kmsg.Heartbeat.Int16():
		h.m.lastHB.Store(now)
		h.m.lastBeat.Store(now)
	case kmsg.JoinGroup.Int16():
		h.m.joinSince.Store(0)
		h.m.lastBeat.Store(now)
	case kmsg.SyncGroup.Int16():
		h.m.lastSync.Store(now)
		h.m.lastBeat.Store(now)
		h.m.rebalances.Add(1)
	default:
		return
	}
	select {
	case h.m.beat <- struct{}{}:
	default:
	}
}
