package sink

import (
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// recovery follows the streams while the spool's segments are read at
// open, oldest first, to cover with gap records the audio of damaged
// stretches that were skipped. Records of a stream and epoch are numbered
// by seq and placed by sample offset, so the records skipped between two
// intact neighbours of a stream are exactly those with the seqs between
// theirs, and their audio lies between the first one's end and the second
// one's offset.
type recovery struct {
	last  map[string]recordTail // by stream: its latest intact record
	skips int                   // damaged stretches read past so far
	// Outcome.
	dropped  int // records skipped and covered by gaps (or covering no audio)
	gaps     int // sink_drop gap records written
	lost     int // records skipped with no neighbour of their epoch to bound them
	byStream map[string]*Drop
	order    []string
}

// recordTail is what recovery keeps of a stream's latest intact record.
type recordTail struct {
	rec   schema.Record // without PCM
	end   int64         // sample offset after its audio or gap
	skips int           // recovery.skips when it was read
}

// read notes r, read intact.
func (rc *recovery) read(r *schema.Record) {
	t := recordTail{rec: *r, end: recordEnd(r), skips: rc.skips}
	t.rec.PCM = nil
	rc.last[r.Stream] = t
}

// gapBefore returns the sink_drop gap record that covers the audio skipped
// before r, if damage was skipped since r's stream was last read and
// records of r's epoch are missing before it.
func (rc *recovery) gapBefore(r *schema.Record) (schema.Record, bool) {
	t, ok := rc.last[r.Stream]
	if !ok || t.skips == rc.skips {
		return schema.Record{}, false // no damage since, or nothing known before r
	}
	p := &t.rec
	if p.Epoch != r.Epoch {
		// The records of r's epoch before it were skipped: their start is
		// not known, so no gap can say where their audio began.
		if r.Seq > 0 {
			rc.lost += int(r.Seq)
		}
		return schema.Record{}, false
	}
	if r.Seq <= p.Seq+1 {
		return schema.Record{}, false
	}
	missing := int(r.Seq - p.Seq - 1)
	rc.dropped += missing
	d := rc.drop(r.Stream)
	d.Records += missing
	samples := r.Offset - t.end
	ms := samples * 1000 / int64(r.SampleRate)
	if ms <= 0 {
		return schema.Record{}, false // only control records were skipped
	}
	rc.gaps++
	d.Audio += time.Duration(samples) * time.Second / time.Duration(r.SampleRate)
	return schema.Record{
		Stream: r.Stream, Kind: schema.KindGap, Epoch: r.Epoch, Seq: p.Seq + 1,
		SampleRate: r.SampleRate, Channels: r.Channels, Codec: r.Codec,
		Offset:      t.end,
		CaptureTime: p.CaptureTime.Add(time.Duration(t.end-p.Offset) * time.Second / time.Duration(p.SampleRate)),
		Clock:       p.Clock, GapMS: ms, Reason: schema.ReasonSinkDrop,
	}, true
}

func (rc *recovery) drop(stream string) *Drop {
	if rc.byStream == nil {
		rc.byStream = make(map[string]*Drop)
	}
	d := rc.byStream[stream]
	if d == nil {
		d = &Drop{Stream: stream}
		rc.byStream[stream] = d
		rc.order = append(rc.order, stream)
	}
	return d
}

// drops returns one Drop per stream that lost records, for the observer.
func (rc *recovery) drops() []Drop {
	out := make([]Drop, 0, len(rc.order))
	for _, s := range rc.order {
		out = append(out, *rc.byStream[s])
	}
	return out
}
