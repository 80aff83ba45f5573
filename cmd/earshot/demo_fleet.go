package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/earshot/earshot/ingest/fleet"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/harness"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// Timings of the fleet demo: short, so that the kill's failover shows.
const (
	demoFleetPartitions = 12
	demoFleetSession    = 3 * time.Second
)

// fleetDemo is the outcome of runFleetDemo.
type fleetDemo struct {
	Instances []string
	Killed    string
	// Before and After are each stream's owner before the kill and at
	// the end.
	Before, After map[string]string
	Epochs        map[string][]harness.EpochSpan
}

// runFleetDemo starts synthetic cameras, the embedded broker and n
// `earshot run` instances of this executable as child processes sharing
// the cameras as a fleet; it kills one (SIGKILL) half-way, stops the
// others (SIGTERM) after o.Duration and reads the topic back. The killed
// instance is the one that owns the most streams half-way.
func runFleetDemo(ctx context.Context, o demoOptions, n int, log *slog.Logger) (fleetDemo, error) {
	var d fleetDemo
	if n < 2 {
		return d, fmt.Errorf("--fleet %d: a fleet demo needs 2 instances or more", n)
	}
	cams, specs, err := startDemoCameras(o.Codecs)
	if err != nil {
		return d, err
	}
	defer cams.Close()
	broker, err := sink.NewEmbeddedBroker(demoTopic, 3, kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		return d, err
	}
	defer broker.Close()
	fc := fleet.Config{Brokers: []string{broker.Addr()}}
	if _, err := fleet.Init(ctx, fc, demoFleetPartitions); err != nil {
		return d, err
	}
	reg, err := fleet.OpenRegistry(ctx, fc)
	if err != nil {
		return d, err
	}
	defer reg.Close()

	dir, err := os.MkdirTemp("", "earshot-demo-fleet-")
	if err != nil {
		return d, err
	}
	defer os.RemoveAll(dir)
	command := o.Command
	if command == nil {
		exe, err := os.Executable()
		if err != nil {
			return d, err
		}
		command = func(args ...string) *exec.Cmd { return exec.Command(exe, args...) }
	}
	// Credentials come from the environment, as in a real fleet: the
	// registry never holds them.
	env := os.Environ()
	for _, s := range specs {
		key := "EARSHOT_STREAM_" + envKey(s.Name)
		env = append(env, key+"_USER=demo", key+"_PASSWORD="+demoPassword)
	}
	children := make(map[string]*exec.Cmd)
	defer func() {
		for _, c := range children {
			c.Process.Kill()
			c.Wait()
		}
	}()
	for i := range n {
		id := fmt.Sprintf("demo-%d", i+1)
		d.Instances = append(d.Instances, id)
		path := filepath.Join(dir, id+".yaml")
		if err := os.WriteFile(path, []byte(demoFleetConfig(broker.Addr(), cams.Addr(), filepath.Join(dir, id), id, specs)), 0o600); err != nil {
			return d, err
		}
		c := command("run", "--config", path)
		c.Env = append(env, c.Env...)
		c.Stdout, c.Stderr = io.Discard, io.Discard
		if err := c.Start(); err != nil {
			return d, err
		}
		children[id] = c
	}
	log.Info("demo: fleet pulling synthetic cameras", "instances", n, "streams", len(specs), "duration", o.Duration, "broker", broker.Addr())

	wait := func(dd time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(dd):
			return nil
		}
	}
	if err := wait(o.Duration / 2); err != nil {
		return d, err
	}
	if d.Before, err = streamOwners(ctx, reg, specs); err != nil {
		return d, err
	}
	for _, id := range d.Instances { // the busiest instance
		if d.Killed == "" || countOwned(d.Before, id) > countOwned(d.Before, d.Killed) {
			d.Killed = id
		}
	}
	log.Info("demo: killing an instance (SIGKILL)", "instance", d.Killed)
	children[d.Killed].Process.Kill()
	children[d.Killed].Wait()
	delete(children, d.Killed)
	if err := wait(o.Duration - o.Duration/2); err != nil {
		return d, err
	}
	if d.After, err = streamOwners(ctx, reg, specs); err != nil {
		return d, err
	}
	var errs []error
	for id, c := range children {
		c.Process.Signal(syscall.SIGTERM)
		if err := c.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", id, err))
		}
		delete(children, id)
	}
	recs, err := readUntilEnded(ctx, broker.Addr(), len(specs), o.ReadTimeout)
	if err != nil {
		errs = append(errs, err)
	}
	d.Epochs = harness.EpochSpans(recs)
	return d, errors.Join(errs...)
}

// demoFleetConfig is the configuration of one demo instance.
func demoFleetConfig(broker, cams, dir, id string, specs []loadtest.StreamSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kafka:\n  brokers: [%q]\n  topic: %s\nspool:\n  dir: %s\n", broker, demoTopic, filepath.Join(dir, "spool"))
	fmt.Fprintf(&b, "admin:\n  listen: 127.0.0.1:0\ndiagnostics:\n  dir: off\n")
	fmt.Fprintf(&b, "fleet:\n  group: earshot-demo\n  instance_id: %s\n  session_timeout: %s\n  heartbeat_interval: 300ms\nstreams:\n", id, demoFleetSession)
	for _, s := range specs {
		fmt.Fprintf(&b, "  - {id: %s, url: \"rtsp://%s/%s\", transport: tcp}\n", s.Name, cams, s.Name)
	}
	return b.String()
}

// streamOwners returns each stream's owner from the status topic.
func streamOwners(ctx context.Context, reg *fleet.Registry, specs []loadtest.StreamSpec) (map[string]string, error) {
	sts, err := reg.Instances(ctx)
	if err != nil {
		return nil, err
	}
	owners := fleet.Owners(sts)
	out := make(map[string]string, len(specs))
	for _, s := range specs {
		out[s.Name] = owners[reg.PartitionOf(s.Name)]
	}
	return out, nil
}

// readUntilEnded reads the topic, which no instance writes any more,
// until the last epoch of each of streams streams has ended and no record
// came for a second, or the timeout passes.
func readUntilEnded(ctx context.Context, broker string, streams int, timeout time.Duration) ([]schema.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	quiet, stopQuiet := context.WithCancel(ctx)
	idle := time.AfterFunc(time.Second, stopQuiet)
	defer idle.Stop()
	var recs []schema.Record
	last := make(map[string]uint64) // stream -> last epoch
	ended := make(map[string]bool)  // stream -> last epoch ended
	sink.ReadTopic(quiet, []string{broker}, demoTopic, func(r schema.Record) error {
		idle.Reset(time.Second)
		recs = append(recs, r)
		if e, ok := last[r.Stream]; !ok || e != r.Epoch {
			last[r.Stream], ended[r.Stream] = r.Epoch, false
		}
		if r.Kind == schema.KindEnd {
			ended[r.Stream] = true
		}
		return nil
	})
	n := 0
	for _, e := range ended {
		if e {
			n++
		}
	}
	if n < streams {
		return recs, fmt.Errorf("reading the topic back: %d of %d streams ended within %s", n, streams, timeout)
	}
	return recs, nil
}

// printFleetDemo prints streams per instance, moves and each stream's
// gaps between epochs.
func printFleetDemo(w io.Writer, d fleetDemo) {
	if len(d.Epochs) == 0 {
		return
	}
	fmt.Fprintf(w, "fleet of %d instances; %s killed (SIGKILL) half-way\n\n", len(d.Instances), d.Killed)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tSTREAMS BEFORE\tSTREAMS AFTER")
	for _, id := range d.Instances {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", id, countOwned(d.Before, id), countOwned(d.After, id))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tOWNER BEFORE\tOWNER AFTER\tEPOCHS (INSTANCE: END REASON)\tLARGEST GAP")
	ids := make([]string, 0, len(d.Epochs))
	for id := range d.Epochs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		eps := d.Epochs[id]
		var gap time.Duration
		var reasons []string
		for i, ep := range eps {
			if i > 0 && !ep.First.IsZero() && !eps[i-1].Last.IsZero() {
				gap = max(gap, ep.First.Sub(eps[i-1].Last))
			}
			reasons = append(reasons, ep.Instance+": "+cmp.Or(ep.End, "none (killed)"))
		}
		moved := ""
		if d.Before[id] != d.After[id] {
			moved = " (moved)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%s\t%s\t%s\n", id, d.Before[id], d.After[id], moved, strings.Join(reasons, ", "), gap.Round(10*time.Millisecond))
	}
	tw.Flush()
}

func countOwned(owners map[string]string, id string) int {
	n := 0
	for _, o := range owners {
		if o == id {
			n++
		}
	}
	return n
}
