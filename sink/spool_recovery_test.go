package sink

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/earshot/earshot/sink/schema"
	"github.com/earshot/earshot/sink/schema/schematest"

	"github.com/earshot/earshot/loadtest/testkit"
)

// A real segment of 2.5 MB (390 records of 200 ms, three streams
// interleaved) damaged at several places: recovery reads on at the next
// intact record, covers exactly the audio skipped with sink_drop gaps,
// counts it, and rewrites the segment so that the next recovery finds no
// damage.
func TestSpoolRecoveryCoversDamageWithGaps(t *testing.T) {
	for _, tc := range damages {
		t.Run(tc.name, func(t *testing.T) {
			cfg := WriterConfig{Spool: SpoolConfig{Dir: t.TempDir(), MaxBytes: 64 << 20, SegmentBytes: 8 << 20, Fsync: FsyncNone}}.WithDefaults().Spool
			s, err := openSpool(cfg, discardLogger)
			if err != nil {
				t.Fatal(err)
			}
			written := make(map[string][]schema.Record)
			for i := range 390 {
				r := schematest.Audio(fmt.Sprintf("cam-%d", i%3), uint64(i/3))
				if err := s.append(&r); err != nil {
					t.Fatal(err)
				}
				written[r.Stream] = append(written[r.Stream], r)
			}
			s.close()
			files := segmentFiles(t, cfg.Dir)
			if len(files) != 1 {
				t.Fatalf("%d segments, want 1", len(files))
			}
			b, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(files[0], tc.do(b), 0o644); err != nil {
				t.Fatal(err)
			}

			var log testkit.SyncBuffer
			s, err = openSpool(cfg, slogTo(&log))
			if err != nil {
				t.Fatalf("open after damage: %v", err)
			}
			st := s.stats()
			drops := s.takeDrops()
			s.close()
			if st.corruptSkips == 0 || st.corruptTails != 0 || st.unreadable != 0 {
				t.Errorf("stats %+v: want a damaged stretch skipped, no tail cut, nothing lost without a gap", st)
			}
			if !strings.Contains(log.String(), "reading on at the next intact record") {
				t.Errorf("damage not logged:\n%s", log.String())
			}

			// The next recovery finds the segment whole, the gaps in it.
			s = openTestSpool(t, cfg)
			if again := s.stats(); again.corruptSkips != 0 || again.records != st.records {
				t.Errorf("second recovery: %+v, want no damage and %d records", again, st.records)
			}
			got := make(map[string][]schema.Record)
			for _, r := range drain(t, s) {
				got[r.Stream] = append(got[r.Stream], r)
			}
			lost, err := checkCovered(written, got)
			if err != nil {
				t.Fatal(err)
			}
			dropped := 0
			for _, d := range drops {
				dropped += d.Records
			}
			hitsFrames := !strings.Contains(tc.name, "header")
			if lost != int(st.dropped) || lost != dropped || (lost > 0) != hitsFrames || (st.dropGaps > 0) != hitsFrames {
				t.Errorf("%d records not delivered; stats %+v, drops %+v", lost, st, drops)
			}
			t.Logf("%d of 390 records skipped, covered by %d sink_drop gaps", lost, st.dropGaps)
		})
	}
}
