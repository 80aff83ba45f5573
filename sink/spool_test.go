package sink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink/schema"
	"github.com/earshot/earshot/sink/schema/schematest"
)

// testSpoolConfig is a spool of small segments in a fresh directory.
func testSpoolConfig(t *testing.T) SpoolConfig {
	return SpoolConfig{Dir: t.TempDir(), MaxBytes: 1 << 20, SegmentBytes: 16 << 10, Fsync: FsyncNone}.withDefaults()
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func openTestSpool(t *testing.T, cfg SpoolConfig) *spool {
	t.Helper()
	s, err := openSpool(cfg, discardLogger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

// smallRecord is an audio record of stream with 100 samples per seq.
func smallRecord(stream string, seq uint64) schema.Record {
	r := schematest.Audio(stream, seq)
	r.Offset = int64(seq) * 100
	r.PCM = bytes.Repeat([]byte{byte(seq), 1}, 100)
	r.Arrival = r.CaptureTime.Add(3 * time.Millisecond)
	return r
}

// drain peeks and acknowledges everything in s, in order.
func drain(t *testing.T, s *spool) []schema.Record {
	t.Helper()
	recs, err := s.peek(1<<30, func(*schema.Record) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	s.ack(len(recs))
	return recs
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSpoolKeepsOrderAcrossSegmentsAndRestarts(t *testing.T) {
	cfg := testSpoolConfig(t)
	s := openTestSpool(t, cfg)
	var want []schema.Record
	for seq := range uint64(200) {
		r := smallRecord(fmt.Sprintf("cam-%d", seq%3), seq)
		if err := s.append(&r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	if n := len(segmentFiles(t, cfg.Dir)); n < 3 {
		t.Fatalf("%d segment files, want several of 16 KiB", n)
	}
	// Peek 50, acknowledge 30: the other 20 are pinned and come back after
	// a restart, as do the 150 never read.
	got, _ := s.peek(50, func(*schema.Record) bool { return true })
	if len(got) != 50 || !schematest.Same(got[49], want[49]) {
		t.Fatalf("peeked %d records", len(got))
	}
	s.ack(30)
	if st := s.stats(); st.records != 170 {
		t.Errorf("%d records left, want 170", st.records)
	}
	s.close()

	// ReadSpool shows what a restart will deliver, without changing it.
	var seen []uint64
	if err := ReadSpool(cfg.Dir, func(r schema.Record) error { seen = append(seen, r.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 170 || seen[0] != 30 || seen[169] != 199 {
		t.Errorf("ReadSpool: %d records, from seq %d", len(seen), seen[0])
	}

	s = openTestSpool(t, cfg)
	got = drain(t, s)
	if len(got) != 170 {
		t.Fatalf("replayed %d records after restart, want 170", len(got))
	}
	for i, r := range got {
		if w := want[30+i]; !schematest.Same(r, w) || !r.Arrival.Equal(w.Arrival) {
			t.Fatalf("record %d after restart = seq %d, want seq %d", i, r.Seq, w.Seq)
		}
	}
	if st := s.stats(); st.records != 0 || st.bytes != 0 {
		t.Errorf("stats after draining %+v", st)
	}
	if files := segmentFiles(t, cfg.Dir); len(files) != 0 {
		t.Errorf("delivered segments not deleted: %v", files)
	}
}

func TestSpoolPrependGoesFirst(t *testing.T) {
	s := openTestSpool(t, testSpoolConfig(t))
	later := smallRecord("cam-1", 5)
	if err := s.append(&later); err != nil {
		t.Fatal(err)
	}
	// Prepending more than a segment's worth writes several segments.
	var many []schema.Record
	for seq := range uint64(100) {
		many = append(many, smallRecord("cam-0", seq))
	}
	if err := s.prepend(many, 0); err != nil {
		t.Fatal(err)
	}
	if n := len(s.segs); n < 3 {
		t.Errorf("%d segments after prepending 100 records of 16 KiB segments", n)
	}
	if got := drain(t, s); len(got) != 101 || got[0].Stream != "cam-0" || got[99].Seq != 99 || got[100].Seq != 5 {
		t.Fatalf("after a large prepend read %d records", len(got))
	}

	if err := s.append(&later); err != nil {
		t.Fatal(err)
	}
	older := []schema.Record{smallRecord("cam-1", 3), smallRecord("cam-1", 4)}
	if err := s.prepend(older, 1); err != nil {
		t.Fatal(err)
	}
	// The first prepended record counts as in flight: peek skips it.
	got, _ := s.peek(10, func(*schema.Record) bool { return true })
	if len(got) != 2 || got[0].Seq != 4 || got[1].Seq != 5 {
		t.Fatalf("peek after prepend: %d records", len(got))
	}
	s.ack(3)
	if n := s.len(); n != 0 {
		t.Errorf("%d records left", n)
	}
}

func TestSpoolIsLocked(t *testing.T) {
	cfg := testSpoolConfig(t)
	openTestSpool(t, cfg)
	if _, err := openSpool(cfg, discardLogger); !errors.Is(err, ErrSpoolLocked) {
		t.Errorf("second open: %v, want ErrSpoolLocked", err)
	}
}

// corruptions damage the last frame of a segment as a power loss or a bad
// disk would.
var corruptions = []struct {
	name string
	do   func(b []byte) []byte
}{
	{"a torn frame header", func(b []byte) []byte { return append(b, 9, 0, 0) }},
	{"a torn payload", func(b []byte) []byte { return b[:len(b)-7] }},
	{"a flipped bit", func(b []byte) []byte { b[len(b)-3] ^= 0x10; return b }},
	{"zeros after the last frame", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }},
	{"a length beyond the file", func(b []byte) []byte {
		return append(b, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5)
	}},
}

func TestSpoolTruncatesCorruptTail(t *testing.T) {
	for _, tc := range corruptions {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testSpoolConfig(t)
			s := openTestSpool(t, cfg)
			for seq := range uint64(5) {
				r := smallRecord("cam-1", seq)
				if err := s.append(&r); err != nil {
					t.Fatal(err)
				}
			}
			s.close()
			files := segmentFiles(t, cfg.Dir)
			if len(files) != 1 {
				t.Fatalf("%d segments", len(files))
			}
			b, _ := os.ReadFile(files[0])
			if err := os.WriteFile(files[0], tc.do(b), 0o644); err != nil {
				t.Fatal(err)
			}

			var log testkit.SyncBuffer
			s, err := openSpool(cfg, slogTo(&log))
			if err != nil {
				t.Fatalf("open after corruption: %v", err)
			}
			defer s.close()
			want := 5
			if tc.name == "a torn payload" || tc.name == "a flipped bit" {
				want = 4 // the last record is damaged
			}
			st := s.stats()
			if st.records != want || st.corruptTails != 1 {
				t.Errorf("%d records, %d corrupt tails; want %d and 1", st.records, st.corruptTails, want)
			}
			if !strings.Contains(log.String(), "corrupt tail") || !strings.Contains(log.String(), "truncating") {
				t.Errorf("corruption not logged:\n%s", log.String())
			}
			// Appending after recovery keeps the order.
			r := smallRecord("cam-1", 9)
			if err := s.append(&r); err != nil {
				t.Fatal(err)
			}
			got := drain(t, s)
			if len(got) != want+1 || got[len(got)-1].Seq != 9 || got[want-1].Seq != uint64(want-1) {
				t.Errorf("after recovery read %d records", len(got))
			}
		})
	}
}

func TestSpoolFullDropsOldestWithGaps(t *testing.T) {
	cfg := testSpoolConfig(t)
	cfg.MaxBytes, cfg.SegmentBytes = 8<<10, 4<<10 // about 30 small records
	s := openTestSpool(t, cfg)
	appendN := func(stream string, from, to uint64) {
		for seq := from; seq < to; seq++ {
			r := smallRecord(stream, seq)
			if err := s.append(&r); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN("cam-a", 0, 4)
	// Two records are in flight: they must survive any drop.
	inFlight, _ := s.peek(2, func(*schema.Record) bool { return true })
	appendN("cam-b", 0, 20)
	appendN("cam-a", 4, 60)

	st := s.stats()
	if st.dropped == 0 || st.bytes > cfg.MaxBytes {
		t.Fatalf("stats %+v: nothing dropped, or over MaxBytes %d", st, cfg.MaxBytes)
	}
	drops := s.takeDrops()
	var droppedRecords int
	for _, d := range drops {
		droppedRecords += d.Records
	}
	if uint64(droppedRecords) != st.dropped {
		t.Errorf("drop events count %d records, counter %d", droppedRecords, st.dropped)
	}
	s.ack(len(inFlight))
	rest := drain(t, s)

	// Per stream, the records left and the sink_drop gaps cover a
	// continuous timeline, and nothing dropped comes back.
	gaps, originals := 0, len(inFlight)
	next := map[string]int64{"cam-a": 200, "cam-b": 0} // cam-a's first two went out
	slack := map[string]int64{}                        // a gap's length is in whole milliseconds: 16 samples
	lastSeq := map[string]uint64{"cam-a": 1}
	for _, r := range rest {
		if r.Offset < next[r.Stream] || r.Offset > next[r.Stream]+slack[r.Stream] {
			t.Fatalf("%s seq %d (%s) at offset %d, want %d", r.Stream, r.Seq, r.Kind, r.Offset, next[r.Stream])
		}
		slack[r.Stream] = 0
		if l, ok := lastSeq[r.Stream]; ok && r.Seq <= l {
			t.Fatalf("%s seq %d after seq %d", r.Stream, r.Seq, l)
		}
		lastSeq[r.Stream] = r.Seq
		next[r.Stream] = recordEnd(&r)
		if r.Kind != schema.KindGap {
			originals++
		} else {
			gaps++
			if r.Reason != schema.ReasonSinkDrop || r.GapMS <= 0 {
				t.Errorf("gap %+v", r)
			}
			// 100 samples per record at 16 kHz: the gap's duration is
			// exactly its records'.
			next[r.Stream] = r.Offset + r.GapMS*16
			slack[r.Stream] = 15
		}
	}
	// Later drops merge earlier gaps into theirs: fewer are read than
	// were written.
	if gaps == 0 || uint64(gaps) > st.dropGaps {
		t.Errorf("%d gap records read, %d written", gaps, st.dropGaps)
	}
	if st.dropped != uint64(80-originals) {
		t.Errorf("dropped counter %d, but %d of 80 records were not read", st.dropped, 80-originals)
	}
	if next["cam-a"] != 6000 || next["cam-b"] < 2000-15 || next["cam-b"] > 2000 {
		t.Errorf("timelines end at %v", next)
	}
}

func TestDropGapsCoverTheDroppedAudio(t *testing.T) {
	recs := []schema.Record{
		schematest.With(schematest.StartRecord, func(r *schema.Record) { r.Stream, r.Seq, r.Offset = "x", 0, 0 }),
		schematest.With(smallRecord("x", 1), func(r *schema.Record) { r.Epoch, r.Offset = 2, 0 }),
		schematest.With(schematest.GapRecord, func(r *schema.Record) { r.Stream, r.Seq, r.Offset, r.GapMS = "x", 2, 100, 10 }),
		smallRecord("y", 7),
		schematest.With(smallRecord("x", 3), func(r *schema.Record) { r.Epoch, r.Offset = 2, 260 }),
		schematest.With(schematest.EndRecord, func(r *schema.Record) { r.Stream, r.Seq, r.Offset = "z", 4, 0 }),
	}
	gaps, drops := dropGaps(recs)
	if len(gaps) != 2 {
		t.Fatalf("%d gaps: %+v", len(gaps), gaps)
	}
	x := gaps[0]
	if x.Stream != "x" || x.Epoch != 2 || x.Seq != 0 || x.Offset != 0 || x.GapMS != 22 || x.Codec != "pcma" || x.Reason != schema.ReasonSinkDrop {
		t.Errorf("gap of x: %+v", x)
	}
	if err := x.Validate(); err != nil {
		t.Error(err)
	}
	if y := gaps[1]; y.Stream != "y" || y.Seq != 7 || y.Offset != 700 || y.GapMS != 6 {
		t.Errorf("gap of y: %+v", y)
	}
	names := []string{}
	for _, d := range drops {
		names = append(names, fmt.Sprintf("%s:%d", d.Stream, d.Records))
	}
	if !slices.Equal(names, []string{"x:4", "y:1", "z:1"}) {
		t.Errorf("drops %v", names)
	}
}
