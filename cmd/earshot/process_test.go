package main

// Tests that run `earshot run` as a child process (this test binary,
// re-executed; see TestMain) against synthetic cameras and the embedded
// broker, and stop it with signals.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/consumer"
	"github.com/earshot/earshot/sink/schema"
)

const processTopic = "earshot.audio"

// processCodecs are the synthetic cameras of the process tests.
var processCodecs = []string{audio.CodecOpus, audio.CodecPCMA, audio.CodecPCMU, audio.CodecL16}

// processEnv is the cameras, the broker and the spool of a process test.
type processEnv struct {
	cams   *loadtest.Server
	broker *sink.EmbeddedBroker
	spool  string
	config string // path of the YAML configuration
}

func newProcessEnv(t *testing.T, closeTimeout time.Duration) *processEnv {
	t.Helper()
	var specs []loadtest.StreamSpec
	for _, c := range processCodecs {
		specs = append(specs, loadtest.StreamSpec{Name: "cam-" + c, Codec: c})
	}
	return newProcessEnvFor(t, closeTimeout, specs, "")
}

// newProcessEnvFor serves specs and writes a configuration for them, with
// extra appended to its top-level settings.
func newProcessEnvFor(t testing.TB, closeTimeout time.Duration, specs []loadtest.StreamSpec, extra string) *processEnv {
	t.Helper()
	cams := loadtesttest.NewServer(t, loadtest.ServerConfig{Streams: specs})
	broker, err := sink.NewEmbeddedBroker(processTopic, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	dir := t.TempDir()
	e := &processEnv{cams: cams, broker: broker, spool: filepath.Join(dir, "spool"), config: filepath.Join(dir, "earshot.yaml")}
	var b strings.Builder
	fmt.Fprintf(&b, "kafka:\n  brokers: [%q]\n  topic: %s\n  close_timeout: %s\n  stall_timeout: 2s\n", broker.Addr(), processTopic, closeTimeout)
	fmt.Fprintf(&b, "spool:\n  dir: %s\n  fsync: none\nlog:\n  level: info\n", e.spool)
	fmt.Fprintf(&b, "admin:\n  listen: 127.0.0.1:0\ndiagnostics:\n  dir: %s\n%sstreams:\n", filepath.Join(dir, "diag"), extra)
	for _, s := range specs {
		fmt.Fprintf(&b, "  - {id: %s, url: \"rtsp://%s/%s\", transport: tcp}\n", s.Name, cams.Addr(), s.Name)
	}
	if err := os.WriteFile(e.config, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// child is a running `earshot run`.
type child struct {
	cmd  *exec.Cmd
	logs *testkit.SyncBuffer
	done chan struct{}
	err  error
}

func (e *processEnv) start(t testing.TB) *child {
	t.Helper()
	c := &child{logs: &testkit.SyncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childConfigEnv+"="+e.config)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// stop signals the child, waits for it (at most a minute) and returns its
// exit status (-1 when killed by the signal).
func (c *child) stop(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		t.Fatalf("earshot did not stop within a minute of %s; logs:\n%s", sig, c.logs)
	}
	var exit *exec.ExitError
	if c.err != nil && !errors.As(c.err, &exit) {
		t.Fatal(c.err)
	}
	return c.cmd.ProcessState.ExitCode()
}

// streamAndTerminate runs earshot until every stream connected and for d
// more, stops it with SIGTERM, and returns it and its exit status.
func (e *processEnv) streamAndTerminate(t *testing.T, d time.Duration) (*child, int) {
	t.Helper()
	c := e.start(t)
	c.waitLog(t, "stream connected", len(processCodecs))
	<-time.After(d) // d of audio
	return c, c.stop(t, syscall.SIGTERM)
}

// waitLog waits until the child's logs contain s n times.
func (c *child) waitLog(t testing.TB, s string, n int) {
	t.Helper()
	logged := func() bool { return strings.Count(c.logs.String(), s) >= n }
	exited := func() bool {
		select {
		case <-c.done:
			return true
		default:
			return false
		}
	}
	if !testkit.Poll(30*time.Second, func() bool { return logged() || exited() }) {
		t.Fatalf("no %d× %q in the logs after 30 s:\n%s", n, s, c.logs)
	}
	if !logged() {
		t.Fatalf("earshot exited (%v) before logging %q; logs:\n%s", c.err, s, c.logs)
	}
}

// spooled returns the records in the spool directory.
func (e *processEnv) spooled(t *testing.T) []schema.Record {
	t.Helper()
	var recs []schema.Record
	if err := sink.ReadSpool(e.spool, func(r schema.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return recs
}

// readStreams reads the topic, deduplicated with the consumer package,
// until ends end records arrived, and returns each stream's records.
func readStreams(t *testing.T, broker string, ends int) map[string][]schema.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var dedup consumer.Deduplicator
	out := make(map[string][]schema.Record)
	ended := 0
	errDone := errors.New("done")
	err := sink.ReadTopic(ctx, []string{broker}, processTopic, func(r schema.Record) error {
		if !dedup.Fresh(consumer.Key{Stream: r.Stream, Epoch: r.Epoch, Seq: r.Seq}) {
			return nil
		}
		out[r.Stream] = append(out[r.Stream], r)
		if r.Kind == schema.KindEnd {
			if ended++; ended == ends {
				return errDone
			}
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("reading back: %v (%d of %d end records)", err, ended, ends)
	}
	return out
}

func TestSIGTERMDeliversEverything(t *testing.T) {
	e := newProcessEnv(t, 10*time.Second)
	c, code := e.streamAndTerminate(t, 2*time.Second)
	if code != exitDelivered {
		t.Fatalf("exit status %d, want %d; logs:\n%s", code, exitDelivered, c.logs)
	}
	if !strings.Contains(c.logs.String(), "everything delivered") {
		t.Errorf("no line saying everything was delivered:\n%s", c.logs)
	}
	got := readStreams(t, e.broker.Addr(), len(processCodecs))
	for _, codec := range processCodecs {
		recs := got["cam-"+codec]
		checkStream(t, recs, codec) // start, audio in order, end with reason shutdown, no gap
		if len(recs) < 10 {
			t.Errorf("%s: only %d records", codec, len(recs))
		}
	}
	if left := e.spooled(t); len(left) != 0 {
		t.Errorf("%d records left in the spool", len(left))
	}
}

func TestSIGTERMWithKafkaDownLeavesTheRestInTheSpool(t *testing.T) {
	e := newProcessEnv(t, time.Second)
	if err := e.broker.SetReachable(false); err != nil {
		t.Fatal(err)
	}
	c, code := e.streamAndTerminate(t, time.Second)
	if code != exitSpooled {
		t.Fatalf("exit status %d, want %d; logs:\n%s", code, exitSpooled, c.logs)
	}
	left := e.spooled(t)
	ends := 0
	for _, r := range left {
		if r.Kind == schema.KindEnd {
			ends++
		}
	}
	logs := c.logs.String()
	if len(left) == 0 || ends != len(processCodecs) || !strings.Contains(logs, "left in the spool") ||
		!strings.Contains(logs, fmt.Sprintf("records=%d", len(left))) {
		t.Errorf("%d records (%d end records) in the spool; logs:\n%s", len(left), ends, logs)
	}
}

func TestSIGKILLWhileSpoolingLosesNothingSpooled(t *testing.T) {
	e := newProcessEnv(t, 10*time.Second)
	if err := e.broker.SetReachable(false); err != nil {
		t.Fatal(err)
	}
	first := e.start(t)
	first.waitLog(t, "stream connected", len(processCodecs))
	// Spool a few seconds of every stream, then kill earshot mid-write.
	if !testkit.Poll(30*time.Second, func() bool { return len(e.spooled(t)) >= 40 }) {
		t.Fatalf("nothing spooled; logs:\n%s", first.logs)
	}
	first.stop(t, syscall.SIGKILL)
	spooled := e.spooled(t)
	t.Logf("killed with %d records in the spool", len(spooled))

	if err := e.broker.SetReachable(true); err != nil {
		t.Fatal(err)
	}
	second, code := e.streamAndTerminate(t, time.Second)
	if code != exitDelivered {
		t.Fatalf("restarted earshot: exit status %d, want %d; logs:\n%s", code, exitDelivered, second.logs)
	}
	if !strings.Contains(second.logs.String(), "replaying them first") {
		t.Errorf("the restart did not report the spool it replays:\n%s", second.logs)
	}

	// Only the second run ends its streams; the first was killed.
	got := readStreams(t, e.broker.Addr(), len(processCodecs))
	byKey := make(map[consumer.Key]schema.Record)
	for _, recs := range got {
		for _, r := range recs {
			byKey[consumer.Key{Stream: r.Stream, Epoch: r.Epoch, Seq: r.Seq}] = r
		}
	}
	for _, r := range spooled {
		if _, ok := byKey[consumer.Key{Stream: r.Stream, Epoch: r.Epoch, Seq: r.Seq}]; !ok {
			t.Fatalf("spooled record %s epoch %d seq %d (%s) never reached Kafka", r.Stream, r.Epoch, r.Seq, r.Kind)
		}
	}
	// Per stream: the killed run's epoch, complete from its start up to
	// what was spooled, then the second run's epoch, complete to its end;
	// the timeline has no unexplained hole.
	for stream, recs := range got {
		var asm consumer.Reassembler
		epochs := map[uint64]int{}
		for i, r := range recs {
			if i > 0 && r.Epoch == recs[i-1].Epoch && r.Seq != recs[i-1].Seq+1 {
				t.Errorf("%s: epoch %d seq %d after seq %d", stream, r.Epoch, r.Seq, recs[i-1].Seq)
			}
			epochs[r.Epoch]++
			asm.Add(consumer.FromRecord(r, consumer.Position{}), func(p consumer.Piece) {
				if p.Kind == consumer.PieceGap && p.Reason == schema.ReasonMissing {
					t.Errorf("%s: %d samples missing at epoch %d offset %d", stream, p.Samples, p.Epoch, p.Offset)
				}
			})
		}
		if len(epochs) != 2 || recs[0].Kind != schema.KindStart || recs[len(recs)-1].Kind != schema.KindEnd {
			t.Errorf("%s: %d epochs, first %s, last %s", stream, len(epochs), recs[0].Kind, recs[len(recs)-1].Kind)
		}
	}
}
