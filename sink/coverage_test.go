package sink

import (
	"fmt"
	"slices"

	"github.com/earshot/earshot/sink/schema"
)

// checkCovered checks the invariant of the sink's protections against
// got, each stream's records as a consumer received them (duplicates
// removed, in order): every record of written is delivered, or covered by
// a delivered sink_drop gap, and the sink_drop gaps cover exactly the audio
// of the records not delivered (no more, no less). Each stream's timeline
// is continuous. It returns how many written records were not delivered.
func checkCovered(written, got map[string][]schema.Record) (int, error) {
	lost := 0
	for stream, want := range written {
		recs := got[stream]
		type key struct {
			epoch, seq uint64
		}
		delivered := make(map[key]bool)
		var gapSamples int64
		ends := make(map[uint64]int64) // by epoch: end of the timeline so far
		for i, r := range recs {
			if i > 0 && (r.Epoch < recs[i-1].Epoch || r.Epoch == recs[i-1].Epoch && r.Seq <= recs[i-1].Seq) {
				return 0, fmt.Errorf("%s: record %d (epoch %d seq %d) out of order", stream, i, r.Epoch, r.Seq)
			}
			if end, ok := ends[r.Epoch]; ok && r.Kind != schema.KindStart && r.Offset != end {
				return 0, fmt.Errorf("%s: %s record epoch %d seq %d at offset %d, the timeline ends at %d", stream, r.Kind, r.Epoch, r.Seq, r.Offset, end)
			}
			ends[r.Epoch] = recordEnd(&r)
			if isDropGap(&r) {
				gapSamples += recordEnd(&r) - r.Offset
				continue
			}
			delivered[key{r.Epoch, r.Seq}] = true
		}
		var lostSamples int64
		for _, w := range want {
			if delivered[key{w.Epoch, w.Seq}] {
				continue
			}
			lost++
			lostSamples += recordEnd(&w) - w.Offset
			covered := slices.ContainsFunc(recs, func(g schema.Record) bool {
				return isDropGap(&g) && g.Epoch == w.Epoch && g.Offset <= w.Offset && recordEnd(&w) <= recordEnd(&g)
			})
			if !covered {
				return 0, fmt.Errorf("%s: %s record epoch %d seq %d (offset %d) neither delivered nor covered by a sink_drop gap", stream, w.Kind, w.Epoch, w.Seq, w.Offset)
			}
		}
		if gapSamples != lostSamples {
			return 0, fmt.Errorf("%s: sink_drop gaps cover %d samples, the records not delivered held %d", stream, gapSamples, lostSamples)
		}
	}
	return lost, nil
}
