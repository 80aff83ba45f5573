package main

// Fleet mode with `earshot run` instances as child processes sharing 24
// synthetic cameras through the embedded broker, checked from the audio
// topic.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/ingest/fleet"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/harness"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

const (
	fleetCameras    = 24
	fleetPartitions = 12
	// The embedded broker's minimum session timeout is Kafka's: 6 s.
	fleetSession = 6 * time.Second
)

// fleetEnv is a fleet of child processes and what checks them.
type fleetEnv struct {
	*processEnv
	reg      *fleet.Registry
	text     string // configuration with INSTANCE for the instance id
	children map[string]*child
	topic    *topicLog
}

func newFleetEnv(t *testing.T) *fleetEnv {
	t.Helper()
	var specs []loadtest.StreamSpec
	for i := range fleetCameras {
		specs = append(specs, loadtest.StreamSpec{Name: fmt.Sprintf("cam-%02d", i), Codec: audio.CodecPCMU})
	}
	return newFleetEnvFor(t, specs, fleetPartitions)
}

// newFleetEnvFor serves specs to a fleet whose registry has partitions
// partitions.
func newFleetEnvFor(t *testing.T, specs []loadtest.StreamSpec, partitions int) *fleetEnv {
	t.Helper()
	extra := fmt.Sprintf("fleet:\n  group: earshot\n  instance_id: INSTANCE\n  session_timeout: %s\n  heartbeat_interval: 500ms\n", fleetSession)
	e := &fleetEnv{processEnv: newProcessEnvFor(t, 5*time.Second, specs, extra), children: make(map[string]*child)}
	text, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	e.text = string(text)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	fc := fleet.Config{Brokers: []string{e.broker.Addr()}}
	if _, err := fleet.Init(ctx, fc, partitions); err != nil {
		t.Fatal(err)
	}
	if e.reg, err = fleet.OpenRegistry(ctx, fc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.reg.Close)
	e.topic = watchTopic(t, e.broker.Addr())
	return e
}

// start starts instance id with its own spool.
func (e *fleetEnv) start(t *testing.T, id string) {
	t.Helper()
	text := strings.ReplaceAll(e.text, "INSTANCE", id)
	text = strings.ReplaceAll(text, e.spool, e.spool+"-"+id)
	pe := *e.processEnv
	pe.config = filepath.Join(filepath.Dir(e.config), id+".yaml")
	if err := os.WriteFile(pe.config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	e.children[id] = pe.start(t)
}

// owners returns each live instance's partitions from the status topic,
// waiting until want(owners) holds.
func (e *fleetEnv) waitOwners(t *testing.T, d time.Duration, what string, want func(map[string][]int32) bool) map[string][]int32 {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		sts, err := e.reg.Instances(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		own := make(map[string][]int32)
		for p, inst := range fleet.Owners(sts) {
			own[inst] = append(own[inst], p)
		}
		if want(own) {
			return own
		}
		if time.Now().After(deadline) {
			for id, c := range e.children {
				t.Logf("logs of %s:\n%s", id, c.logs)
			}
			t.Fatalf("%s: not within %s; owners %v", what, d, own)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

// streamsOf returns the camera ids on partitions ps.
func (e *fleetEnv) streamsOf(ps []int32) []string {
	var ids []string
	for i := range fleetCameras {
		id := fmt.Sprintf("cam-%02d", i)
		if slices.Contains(ps, e.reg.PartitionOf(id)) {
			ids = append(ids, id)
		}
	}
	return ids
}

// api sends a request to instance id's admin API and checks the status.
func (e *fleetEnv) api(t *testing.T, id, method, path, body string, want int) {
	t.Helper()
	c := e.children[id]
	c.waitLog(t, "earshot running", 1)
	_, rest, _ := strings.Cut(c.logs.String(), "admin=")
	addr, _, _ := strings.Cut(rest, "\n")
	addr, _, _ = strings.Cut(strings.TrimSpace(addr), " ") // the value, not the fields after it
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s on %s: %d, want %d", method, path, id, resp.StatusCode, want)
	}
}

// topicLog is every record of the audio topic, read as it arrives.
type topicLog struct {
	mu   sync.Mutex
	recs []schema.Record
}

func watchTopic(t *testing.T, broker string) *topicLog {
	l := &topicLog{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sink.ReadTopic(ctx, []string{broker}, processTopic, func(r schema.Record) error {
			l.mu.Lock()
			l.recs = append(l.recs, r)
			l.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

// epochs returns each stream's epochs in the order the topic holds them.
func (l *topicLog) epochs() map[string][]harness.EpochSpan {
	l.mu.Lock()
	defer l.mu.Unlock()
	return harness.EpochSpans(l.recs)
}

// current returns each stream's last epoch.
func (l *topicLog) current() map[string]harness.EpochSpan {
	out := make(map[string]harness.EpochSpan)
	for id, eps := range l.epochs() {
		out[id] = eps[len(eps)-1]
	}
	return out
}

// waitSettled waits until the last epoch of every stream of ids has audio
// and no end, and returns them.
func (l *topicLog) waitSettled(t *testing.T, ids []string) map[string]harness.EpochSpan {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // connecting 24 cameras under -race on a loaded machine
	for {
		cur := l.current()
		n := 0
		for _, id := range ids {
			if ep, ok := cur[id]; ok && !ep.First.IsZero() && ep.End == "" {
				n++
			}
		}
		if n == len(ids) {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d streams pulled after a minute", n, len(ids))
		}
		<-time.After(100 * time.Millisecond)
	}
}

// waitNewEpochs waits until every stream of ids has audio of an epoch
// other than before's, and returns how long after since each one's new
// audio starts.
func (l *topicLog) waitNewEpochs(t *testing.T, d time.Duration, ids []string, before map[string]harness.EpochSpan, since time.Time) map[string]time.Duration {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		cur := l.current()
		out := make(map[string]time.Duration)
		for _, id := range ids {
			if ep, ok := cur[id]; ok && ep.Epoch != before[id].Epoch && !ep.First.IsZero() {
				out[id] = ep.First.Sub(since)
			}
		}
		if len(out) == len(ids) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d streams continued by another instance within %s", len(out), len(ids), d)
		}
		<-time.After(100 * time.Millisecond)
	}
}

// waitEnded waits until epoch ep of stream id has an end record with
// reason.
func (l *topicLog) waitEnded(t *testing.T, id string, ep uint64, reason string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, e := range l.epochs()[id] {
			if e.Epoch == ep && e.End != "" {
				if e.End != reason {
					t.Errorf("stream %s epoch %d ended with %q, want %q", id, ep, e.End, reason)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s epoch %d not ended after 15 s", id, ep)
		}
		<-time.After(100 * time.Millisecond)
	}
}

// checkContinuity fails unless, for every stream, epochs increase, no
// two overlap in capture time by more than harness.MaxEpochOverlap (no
// double pulling), and the audio stops only where the owner changed or
// the stream was removed: no gap records, no new epoch on the same
// instance. It returns the largest gap where the owner changed.
func checkContinuity(t *testing.T, all map[string][]harness.EpochSpan) time.Duration {
	t.Helper()
	var worst time.Duration
	for id, eps := range all {
		c := harness.CheckContinuity(eps)
		for _, p := range c.Problems {
			t.Errorf("stream %s: %s", id, p)
		}
		for _, h := range c.Restarts {
			t.Errorf("stream %s: a gap of %s where the owner did not change: %s", id, h.Gap(), h)
		}
		for _, ep := range eps {
			if ep.Gaps > 0 {
				t.Errorf("stream %s: epoch %d (%s) has %d gap records", id, ep.Epoch, ep.Instance, ep.Gaps)
			}
		}
		for _, h := range c.Handovers {
			worst = max(worst, h.Gap())
		}
	}
	return worst
}

func maxOf(m map[string]time.Duration) time.Duration {
	var worst time.Duration
	for _, d := range m {
		worst = max(worst, d)
	}
	return worst
}

func evenly(n int) func(map[string][]int32) bool {
	return func(own map[string][]int32) bool {
		if len(own) != n {
			return false
		}
		for _, ps := range own {
			if len(ps) > (fleetPartitions+n-1)/n || len(ps) < fleetPartitions/n {
				return false
			}
		}
		return true
	}
}

func TestFleetOfProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of child processes")
	}
	e := newFleetEnv(t)
	for _, id := range []string{"a", "b", "c"} {
		e.start(t, id)
	}
	all := e.streamsOf(func() []int32 {
		ps := make([]int32, fleetPartitions)
		for i := range ps {
			ps[i] = int32(i)
		}
		return ps
	}())

	// Even spread: every camera pulled, 4 partitions each.
	own := e.waitOwners(t, 30*time.Second, "three instances, 4 partitions each", evenly(3))
	t.Logf("spread: %v", own)

	// Registry edits through one instance's API reach the owner.
	settled := e.topic.waitSettled(t, all)
	edited := all[0]
	e.api(t, "a", "DELETE", "/api/streams/"+edited, "", http.StatusAccepted)
	e.topic.waitEnded(t, edited, settled[edited].Epoch, "removed")
	body := fmt.Sprintf(`{"id": %q, "url": "rtsp://%s/%s", "transport": "tcp"}`, edited, e.cams.Addr(), edited)
	e.api(t, "b", "POST", "/api/streams", body, http.StatusAccepted)
	e.topic.waitNewEpochs(t, 15*time.Second, []string{edited}, settled, time.Now())

	// A fourth joins: at most ceil(P/N)+1 partitions move; streams of the
	// others keep their epoch.
	before := e.topic.waitSettled(t, all)
	e.start(t, "d")
	own = e.waitOwners(t, time.Minute, "four instances", evenly(4))
	moved := own["d"]
	if limit := (fleetPartitions+3)/4 + 1; len(moved) > limit {
		t.Errorf("%d partitions moved to the new instance, want at most %d", len(moved), limit)
	}
	e.topic.waitNewEpochs(t, 15*time.Second, e.streamsOf(moved), before, time.Now())
	after := e.topic.waitSettled(t, all)
	for _, id := range all {
		if !slices.Contains(moved, e.reg.PartitionOf(id)) && after[id].Epoch != before[id].Epoch {
			t.Errorf("stream %s on a partition that stayed restarted (epoch %d -> %d)", id, before[id].Epoch, after[id].Epoch)
		}
	}

	// SIGKILL: the others pull c's streams within session_timeout + 3 s.
	before = after
	victims := e.streamsOf(own["c"])
	killed := time.Now()
	e.children["c"].stop(t, syscall.SIGKILL)
	took := e.topic.waitNewEpochs(t, fleetSession+10*time.Second, victims, before, killed)
	for _, id := range victims {
		if ep := e.topic.current()[id]; ep.Instance == "c" || ep.Instance == "" {
			t.Errorf("stream %s continued by instance %q after c was killed", id, ep.Instance)
		}
	}
	t.Logf("SIGKILL: %d streams continued after at most %s (bound %s)", len(victims), maxOf(took), fleetSession+3*time.Second)
	if maxOf(took) > fleetSession+3*time.Second {
		t.Errorf("failover after SIGKILL took %s", maxOf(took))
	}

	// SIGTERM: the instance leaves the group at once.
	own = e.waitOwners(t, 30*time.Second, "three instances after the kill", evenly(3))
	before = e.topic.waitSettled(t, all)
	victims = e.streamsOf(own["b"])
	termed := time.Now()
	if code := e.children["b"].stop(t, syscall.SIGTERM); code != exitDelivered {
		t.Errorf("b exited %d, want %d", code, exitDelivered)
	}
	took = e.topic.waitNewEpochs(t, 10*time.Second, victims, before, termed)
	t.Logf("SIGTERM: %d streams continued after at most %s (bound 3 s)", len(victims), maxOf(took))
	if maxOf(took) > 3*time.Second {
		t.Errorf("failover after SIGTERM took %s", maxOf(took))
	}
	for _, id := range victims {
		e.topic.waitEnded(t, id, before[id].Epoch, "moved")
	}

	// Blocked heartbeats: d fences itself before a takes its streams.
	own = e.waitOwners(t, 30*time.Second, "two instances", evenly(2))
	before = e.topic.waitSettled(t, all)
	victims = e.streamsOf(own["d"])
	e.broker.Cluster().ControlKey(kmsg.Heartbeat.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.broker.Cluster().KeepControl()
		if hb := req.(*kmsg.HeartbeatRequest); hb.InstanceID != nil && *hb.InstanceID == "d" {
			return nil, nil, true // never answered
		}
		return nil, nil, false
	})
	blocked := time.Now()
	took = e.topic.waitNewEpochs(t, fleetSession+15*time.Second, victims, before, blocked)
	t.Logf("blocked heartbeats: %d streams continued after at most %s", len(victims), maxOf(took))
	if !strings.Contains(e.children["d"].logs.String(), "no heartbeat completed") {
		t.Errorf("d never fenced itself; logs:\n%s", e.children["d"].logs)
	}

	for _, id := range []string{"a", "d"} {
		e.children[id].stop(t, syscall.SIGTERM)
	}
	gap := checkContinuity(t, e.topic.epochs())
	t.Logf("largest gap where the owner changed: %s", gap)
}

// TestFleetTombstoneCompactionRestart deletes a stream through the API of
// the instance that does not own it, compacts the registry (its tombstone
// too: delete.retention.ms 0) and restarts the owner: the deleted stream
// stays gone, the others come back, each pulled by one instance, and the
// audio stops only where the owner changed.
func TestFleetTombstoneCompactionRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds of child processes")
	}
	e := newFleetEnv(t)
	for _, id := range []string{"a", "b"} {
		e.start(t, id)
	}
	var all []string
	for i := range fleetCameras {
		all = append(all, fmt.Sprintf("cam-%02d", i))
	}
	own := e.waitOwners(t, 30*time.Second, "two instances, 6 partitions each", evenly(2))
	settled := e.topic.waitSettled(t, all)

	// The tombstone, written through the other instance, stops the stream
	// on its owner.
	gone, owner, other := all[0], "a", "b"
	if slices.Contains(own["b"], e.reg.PartitionOf(gone)) {
		owner, other = "b", "a"
	}
	e.api(t, other, "DELETE", "/api/streams/"+gone, "", http.StatusAccepted)
	e.topic.waitEnded(t, gone, settled[gone].Epoch, schema.ReasonRemoved)

	// Compaction keeps the latest value of each key and, with
	// delete.retention.ms 0, drops the tombstone as well.
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.broker.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	alter := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "delete.retention.ms", Value: kadm.StringPtr("0")}}
	if _, err := kadm.NewClient(cl).AlterTopicConfigs(t.Context(), alter, fleet.DefaultRegistryTopic); err != nil {
		t.Fatal(err)
	}
	e.broker.Cluster().Compact()

	// The owner restarts, without the stream in its file (the file's list
	// is upserted at start): it builds its set from the compacted registry.
	e.children[owner].stop(t, syscall.SIGTERM)
	e.text = strings.ReplaceAll(e.text, fmt.Sprintf("  - {id: %s, url: \"rtsp://%s/%s\", transport: tcp}\n", gone, e.cams.Addr(), gone), "")
	if strings.Contains(e.text, gone) {
		t.Fatalf("the configuration still names %s:\n%s", gone, e.text)
	}
	restarted := time.Now()
	e.start(t, owner)
	// Every other stream is pulled again, each by the instance that owns
	// its partition.
	rest := all[1:]
	e.waitOwners(t, 30*time.Second, "two instances after the restart", func(own map[string][]int32) bool {
		if !evenly(2)(own) {
			return false
		}
		cur := e.topic.current()
		for _, id := range rest {
			ep := cur[id]
			if ep.First.IsZero() || ep.End != "" || !slices.Contains(own[ep.Instance], e.reg.PartitionOf(id)) {
				return false
			}
		}
		return true
	})
	back := 0
	for _, ep := range e.topic.current() {
		if ep.Instance == owner && ep.End == "" && !ep.First.IsZero() {
			back++
		}
	}
	if back == 0 {
		t.Errorf("the restarted instance %s pulls no stream", owner)
	}
	list, _, err := e.reg.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(rest) || slices.ContainsFunc(list, func(en fleet.Entry) bool { return en.Stream.ID == gone }) {
		t.Errorf("the registry lists %d streams after compaction, want the %d others without %s", len(list), len(rest), gone)
	}
	if eps := e.topic.epochs()[gone]; eps[len(eps)-1].Epoch != settled[gone].Epoch {
		t.Errorf("%s was pulled again after its removal: epochs %+v", gone, eps)
	}
	t.Logf("restart of %s: every other stream pulled by its owner %s after it, %d by %s", owner, time.Since(restarted).Round(100*time.Millisecond), back, owner)

	for _, id := range []string{"a", "b"} {
		e.children[id].stop(t, syscall.SIGTERM)
	}
	gap := checkContinuity(t, e.topic.epochs())
	t.Logf("largest gap where the owner changed: %s", gap)
}

func TestFleetRefusesUnusableRegistry(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, e *processEnv, fc fleet.Config)
		want  string
	}{{
		name:  "a missing registry topic is refused, naming the fix",
		setup: func(*testing.T, *processEnv, fleet.Config) {},
		want:  "topic earshot.streams does not exist: create it with `earshot fleet init --partitions N`",
	}, {
		name: "a registry whose partition count changed is refused",
		setup: func(t *testing.T, e *processEnv, fc fleet.Config) {
			if _, err := fleet.Init(t.Context(), fc, 4); err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(e.broker.Addr()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if _, err := kadm.NewClient(cl).CreatePartitions(t.Context(), 2, fc.RegistryTopic); err != nil {
				t.Fatal(err)
			}
		},
		want: "topic earshot.streams has 6 partitions, 4 when first used",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newProcessEnvFor(t, time.Second, []loadtest.StreamSpec{{Name: "cam-1", Codec: audio.CodecPCMU}}, "fleet:\n  group: earshot\n  instance_id: a\n")
			tc.setup(t, e, fleet.Config{Brokers: []string{e.broker.Addr()}, RegistryTopic: "earshot.streams"})
			c := e.start(t)
			select {
			case <-c.done:
			case <-time.After(30 * time.Second):
				t.Fatalf("earshot still runs; logs:\n%s", c.logs)
			}
			if code := c.cmd.ProcessState.ExitCode(); code != exitConfig || !strings.Contains(c.logs.String(), tc.want) {
				t.Errorf("exit status %d, want %d, with %q in the logs:\n%s", code, exitConfig, tc.want, c.logs)
			}
		})
	}
}
