package fleet

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const testPartitions = 12

// startFleet starts instances a, b, c over 60 streams and waits until every
// stream runs exactly once.
func startFleet(t *testing.T, n int) (*fleet, []string) {
	t.Helper()
	b := newBroker(t)
	initFleet(t, b, testPartitions)
	ids := streamIDs(60)
	putAll(t, b, ids)
	f := newFleet(t, b)
	for _, inst := range []string{"a", "b", "c", "d"}[:n] {
		f.start(inst)
	}
	f.l.waitFor(t, 20*time.Second, "every stream running once, partitions spread evenly", func() bool {
		for _, r := range f.members {
			if r.m.Stats().Partitions != testPartitions/n {
				return false
			}
		}
		return runningOnce(f, ids)
	})
	return f, ids
}

// runningOnce says whether every id runs on exactly one instance and the
// members' partitions add up to the registry's.
func runningOnce(f *fleet, ids []string) bool {
	own := f.l.owners()
	for _, id := range ids {
		if len(own[id]) != 1 {
			return false
		}
	}
	parts := 0
	for _, r := range f.members {
		parts += r.m.Stats().Partitions
	}
	return parts == testPartitions
}

func TestEvenSpreadAndLiveEdits(t *testing.T) {
	f, ids := startFleet(t, 3)
	for inst, r := range f.members {
		if st := r.m.Stats(); st.Partitions != testPartitions/3 || !st.Loaded {
			t.Errorf("%s owns %d partitions (loaded %v), want %d", inst, st.Partitions, st.Loaded, testPartitions/3)
		}
	}

	// Edits through any registry reach the owner; others never restart.
	mark := time.Now()
	ctx := t.Context()
	reg := f.members["a"].m.Registry()
	changed := streamConfig(ids[1])
	changed.URL += "-v2"
	if err := reg.Put(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if err := reg.Delete(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if err := reg.Put(ctx, streamConfig("cam-new")); err != nil {
		t.Fatal(err)
	}
	f.l.waitFor(t, 10*time.Second, "edits applied", func() bool {
		own := f.l.owners()
		return len(own["cam-new"]) == 1 && len(own[ids[2]]) == 0 && urlOf(f.l, ids[1]) == changed.URL
	})
	starts := make(map[string]int)
	for _, s := range f.l.snapshot() {
		if s.start.After(mark) {
			starts[s.stream]++
		}
	}
	for _, id := range ids {
		want := 0
		if id == ids[1] {
			want = 1
		}
		if starts[id] != want {
			t.Errorf("stream %s started %d times, want %d", id, starts[id], want)
		}
	}

	// The registry lists what runs.
	list, bad, err := reg.List(ctx)
	if err != nil || bad != 0 {
		t.Fatalf("list: %v, %d bad", err, bad)
	}
	if len(list) != len(ids) {
		t.Errorf("registry lists %d streams, want %d", len(list), len(ids))
	}
	if err := reg.Put(ctx, streamConfig("bad id!")); err == nil {
		t.Error("put of an invalid id succeeded")
	}
	withCreds := streamConfig("cam-creds")
	withCreds.URL = "rtsp://admin:hunter2@127.0.0.1/x"
	if err := reg.Put(ctx, withCreds); !errors.Is(err, ErrCredentials) {
		t.Errorf("put of a url with credentials: %v, want ErrCredentials", err)
	} else if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}

	// Instances publish their status.
	f.l.waitFor(t, 5*time.Second, "three statuses", func() bool {
		sts, err := reg.Instances(ctx)
		if err != nil || len(sts) != 3 {
			return false
		}
		n := 0
		for _, s := range sts {
			n += len(s.Partitions)
		}
		return n == testPartitions
	})
	checkNoOverlap(t, f.l.snapshot(), 0)
}

func urlOf(l *ledger, id string) string {
	for _, s := range l.snapshot() {
		if s.stream == id && s.stop.IsZero() {
			return s.url
		}
	}
	return ""
}

func TestGracefulLeaveHandsOverFast(t *testing.T) {
	f, ids := startFleet(t, 3)
	at := time.Now()
	f.stop("b")
	took := f.l.waitFor(t, 3*time.Second, "b's streams taken over", func() bool { return runningOnce(f, ids) })
	t.Logf("handover after a graceful leave: %s (stop included %s)", time.Since(at), took)
	for _, s := range f.l.snapshot() {
		if s.instance == "b" && s.why != Moved {
			t.Errorf("b stopped %s with reason %q, want moved", s.stream, s.why)
		}
	}
	checkNoOverlap(t, f.l.snapshot(), 0)
}

func TestKilledMemberTakenOverWithinSession(t *testing.T) {
	f, ids := startFleet(t, 3)
	at := f.kill("c")
	f.l.waitFor(t, testSession+3*time.Second, "c's streams taken over", func() bool { return runningOnce(f, ids) })
	t.Logf("takeover after a kill: %s (session timeout %s)", time.Since(at), testSession)
	checkNoOverlap(t, f.l.snapshot(), 0)
}

func TestJoinMovesFewPartitions(t *testing.T) {
	f, ids := startFleet(t, 3)
	before := ownerOf(f.l)
	mark := time.Now()
	f.start("d")
	f.l.waitFor(t, 20*time.Second, "d owns partitions", func() bool {
		return runningOnce(f, ids) && f.members["d"].m.Stats().Partitions > 0
	})
	reg := f.members["a"].m.Registry()
	moved := make(map[int32]bool)
	after := ownerOf(f.l)
	for _, id := range ids {
		if before[id] != after[id] {
			moved[reg.PartitionOf(id)] = true
		}
	}
	if limit := (testPartitions+3)/4 + 1; len(moved) > limit {
		t.Errorf("%d partitions moved on a join, want at most %d", len(moved), limit)
	}
	starts := make(map[string]int)
	for _, s := range f.l.snapshot() {
		if s.start.After(mark) {
			starts[s.stream]++
		}
	}
	for _, id := range ids {
		if !moved[reg.PartitionOf(id)] && starts[id] != 0 {
			t.Errorf("stream %s of a partition that stayed started %d times", id, starts[id])
		}
	}
	t.Logf("a join moved %d of %d partitions", len(moved), testPartitions)
	checkNoOverlap(t, f.l.snapshot(), 0)
}

func ownerOf(l *ledger) map[string]string {
	out := make(map[string]string)
	for id, insts := range l.owners() {
		out[id] = insts[0]
	}
	return out
}

func TestBlockedHeartbeatsFenceBeforeTakeover(t *testing.T) {
	f, _ := startFleet(t, 3)
	victim := "b"
	var victimStreams []string
	for id, inst := range ownerOf(f.l) {
		if inst == victim {
			victimStreams = append(victimStreams, id)
		}
	}
	// Swallow b's heartbeats: the broker never answers them.
	blocked := time.Now()
	f.b.Cluster().ControlKey(kmsg.Heartbeat.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		f.b.Cluster().KeepControl()
		hb := req.(*kmsg.HeartbeatRequest)
		if hb.InstanceID != nil && *hb.InstanceID == victim {
			return nil, nil, true
		}
		return nil, nil, false
	})
	f.l.waitFor(t, testSession+5*time.Second, "b's streams taken over", func() bool {
		own := f.l.owners()
		for _, id := range victimStreams {
			if len(own[id]) != 1 || own[id][0] == victim {
				return false
			}
		}
		return true
	})
	if st := f.members[victim].m.Stats(); st.Fences == 0 {
		t.Errorf("b never fenced: %+v", st)
	}
	spans := f.l.snapshot()
	for _, id := range victimStreams {
		var fencedAt, takenAt time.Time
		for _, s := range spans {
			switch {
			case s.stream == id && s.instance == victim && s.why == Fenced:
				fencedAt = s.stop
			case s.stream == id && s.instance != victim && s.start.After(blocked) && takenAt.IsZero():
				takenAt = s.start
			}
		}
		if fencedAt.IsZero() || !fencedAt.Before(takenAt) {
			t.Errorf("stream %s: fenced on b at %s, taken over at %s", id, fencedAt.Format(time.StampMilli), takenAt.Format(time.StampMilli))
			for _, s := range spans {
				if s.stream == id {
					t.Logf("%s %s..%s %s", s.instance, s.start.Format(time.StampMilli), s.stop.Format(time.StampMilli), s.why)
				}
			}
		} else if id == victimStreams[0] {
			t.Logf("stream %s: b fenced %s before the takeover", id, takenAt.Sub(fencedAt))
		}
	}
	checkNoOverlap(t, spans, 0)
}

func TestUnusableTopicsRefused(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, adm *kadm.Client, cfg Config)
		want  error
		names string
	}{{
		name:  "a missing registry topic is refused, naming it and the fix",
		setup: func(*testing.T, *kadm.Client, Config) {},
		want:  ErrTopic, names: "fleet init",
	}, {
		name: "a registry topic that is not compacted is refused",
		setup: func(t *testing.T, adm *kadm.Client, cfg Config) {
			mustCreate(t, adm, cfg.RegistryTopic, 4, "delete")
			mustCreate(t, adm, cfg.StatusTopic, 1, "compact")
		},
		want: ErrTopic, names: "cleanup.policy=compact",
	}, {
		name: "a registry whose partition count changed is refused",
		setup: func(t *testing.T, adm *kadm.Client, cfg Config) {
			if _, err := Init(t.Context(), cfg, 4); err != nil {
				t.Fatal(err)
			}
			if _, err := adm.CreatePartitions(t.Context(), 2, cfg.RegistryTopic); err != nil {
				t.Fatal(err)
			}
		},
		want: ErrPartitionsChanged, names: "6 partitions, 4 when first used",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBroker(t)
			cfg := testConfig(b, "x")
			cfg.setDefaults()
			cl, err := newClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			tc.setup(t, kadm.NewClient(cl), cfg)
			m, err := NewMember(cfg, &runner{l: newLedger(), instance: "x"})
			if err != nil {
				t.Fatal(err)
			}
			err = m.Run(t.Context())
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.names) || !strings.Contains(err.Error(), cfg.RegistryTopic) {
				t.Errorf("Run: %v, want %v naming %q and the topic", err, tc.want, tc.names)
			}
		})
	}
}

func mustCreate(t *testing.T, adm *kadm.Client, topic string, p int32, policy string) {
	t.Helper()
	if _, err := adm.CreateTopic(t.Context(), p, -1, map[string]*string{"cleanup.policy": new(policy)}, topic); err != nil {
		t.Fatal(err)
	}
}

func TestCompactionKeepsTheRegistry(t *testing.T) {
	b := newBroker(t)
	initFleet(t, b, 4)
	ids := streamIDs(10)
	putAll(t, b, ids)
	putAll(t, b, ids) // every key twice
	reg, err := OpenRegistry(t.Context(), testConfig(b, "r"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.Delete(t.Context(), ids[0]); err != nil {
		t.Fatal(err)
	}
	b.Cluster().Compact()
	list, _, err := reg.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(ids)-1 || list[0].Stream.ID != ids[1] {
		t.Errorf("after compaction the registry lists %d streams from %v, want %d from %s", len(list), list[0].Stream.ID, len(ids)-1, ids[1])
	}
	// A restarted instance builds the same set.
	f := newFleet(t, b)
	f.start("a")
	f.l.waitFor(t, 10*time.Second, "the set built after compaction", func() bool {
		return len(f.l.owners()) == len(ids)-1 && len(f.l.owners()[ids[0]]) == 0
	})
}
