package sink_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/sink/schema"

	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink"
)

// smallDisk mounts a tmpfs of size (e.g. "2m") for the test, or skips the
// test when it cannot (not root): a real filesystem that runs out of space.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("skipped: mounting a %s tmpfs to fill needs root (CI runs as root); uid is %d", size, os.Geteuid())
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot mount a %s tmpfs on %s: %v: %s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// readUntilEnds reads the topic until the end record of every stream of
// streams arrived, failing after timeout. It returns each stream's
// deduplicated records in arrival order.
func readUntilEnds(t *testing.T, addr string, streams []string, timeout time.Duration) map[string][]schema.Record {
	t.Helper()
	waiting := make(map[string]bool)
	for _, s := range streams {
		waiting[s] = true
	}
	got, _ := readUntil(t, addr, timeout, "the end record of every stream", func(r schema.Record) bool {
		if r.Kind == schema.KindEnd {
			delete(waiting, r.Stream)
		}
		return len(waiting) == 0
	})
	return got
}

// The spool on a 2 MB filesystem while the broker is down: once the disk
// is full, Write still accepts every record; memory holds what fits and its
// oldest records are replaced by sink_drop gaps. Health and Stats say the
// spool cannot write. Once the broker is back, every record written is
// delivered or covered by a gap of exactly its audio, and Close reports the
// records dropped.
func TestFullDiskDropsOldestWithGaps(t *testing.T) {
	dir := smallDisk(t, "2m")
	broker := newBroker(t)
	if err := broker.SetReachable(false); err != nil {
		t.Fatal(err)
	}
	obs := &countingObserver{}
	w, err := sink.NewWriter(sink.WriterConfig{
		Brokers: []string{broker.Addr()}, Topic: deliveryTopic,
		BufferBytes: 512 << 10, WriteTimeout: 2 * time.Second, CloseTimeout: 30 * time.Second,
		Spool:    sink.SpoolConfig{Dir: dir, MaxBytes: 64 << 20, SegmentBytes: 256 << 10},
		Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			w.Close()
		}
	})

	// 3 streams of 300 chunks of 200 ms: 5.8 MB, for 2 MB of disk and
	// 512 KiB of memory.
	t0 := time.Now()
	written := make(map[string][]schema.Record)
	streams := []string{"cam-0", "cam-1", "cam-2"}
	write := func(r schema.Record) {
		if err := w.Write(context.Background(), r); err != nil {
			t.Fatalf("Write %s seq %d: %v", r.Stream, r.Seq, err)
		}
		written[r.Stream] = append(written[r.Stream], r)
	}
	for _, s := range streams {
		write(streamRecord(s, schema.KindStart, 1, 0, t0))
	}
	for seq := uint64(1); seq <= 300; seq++ {
		for _, s := range streams {
			write(streamRecord(s, schema.KindAudio, 1, seq, t0))
		}
	}
	h, st := w.Health(), w.Stats()
	if !strings.Contains(h.SpoolError, "no space left on device") || !st.SpoolFailing || st.SpoolWriteErrors == 0 {
		t.Errorf("health %+v, stats %+v: want the spool reported failing with ENOSPC", h, st)
	}
	// Records pinned by a produce attempt in flight cannot be shed; a batch
	// pins at most half of BufferBytes, so shed always makes room within it.
	if st.Dropped == 0 || st.DropGaps == 0 || st.Lost != 0 || st.Failed != 0 || st.MemoryBytes > 512<<10 {
		t.Errorf("stats %+v: want records dropped with gaps, none lost or failed, memory within BufferBytes", st)
	}

	if err := broker.SetReachable(true); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, time.Minute, "delivery", func() bool { return w.Health().Pending == 0 })
	if h := w.Health(); h.SpoolError != "" || w.Stats().SpoolFailing {
		t.Errorf("health %+v after delivery: the spool is still reported failing", h)
	}
	for _, s := range streams {
		write(streamRecord(s, schema.KindEnd, 1, 301, t0))
	}
	err = w.Close()
	closed = true
	st = w.Stats()
	t.Logf("stats %+v", st)
	var undelivered *sink.UndeliveredError
	if !errors.As(err, &undelivered) || undelivered.Dropped != int(st.Dropped) || undelivered.Lost != 0 || undelivered.Spooled != 0 {
		t.Fatalf("Close: %v; want an UndeliveredError with %d dropped, none lost or spooled", err, st.Dropped)
	}

	got := readUntilEnds(t, broker.Addr(), streams, time.Minute)
	lost, err := sink.CheckCovered(written, got)
	if err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	reported := obs.droppedRecord
	obs.mu.Unlock()
	if lost != int(st.Dropped) || reported != lost {
		t.Errorf("%d records not delivered, stats say %d dropped, the observer %d", lost, st.Dropped, reported)
	}
	t.Logf("%d of %d records dropped, covered by %d sink_drop gaps", lost, 3*302, st.DropGaps)
}
