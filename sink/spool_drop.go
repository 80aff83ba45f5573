package sink

import (
	"time"

	"github.com/earshot/earshot/sink/schema"
)

// Drop describes records of one stream dropped from a full spool.
type Drop struct {
	Stream string
	// Records counts the records dropped, control records included;
	// sink_drop gaps of earlier drops, merged into the new gap, are not
	// counted again.
	Records int
	// Audio is the duration of the audio and gaps they covered.
	Audio time.Duration
}

// dropSpan is the part of one stream's epoch covered by dropped records.
type dropSpan struct {
	first   schema.Record // the oldest dropped record of the stream and epoch
	end     int64         // sample offset after the last dropped audio or gap
	records int
}

// recordEnd is the sample offset just after r: after its audio or its gap.
func recordEnd(r *schema.Record) int64 {
	switch r.Kind {
	case schema.KindAudio:
		return r.Offset + int64(len(r.PCM)/(2*r.Channels))
	case schema.KindGap:
		return r.Offset + gapSamples(r.GapMS, r.SampleRate)
	}
	return r.Offset
}

// gapSamples converts a gap length to samples, saturating instead of
// overflowing.
func gapSamples(ms int64, rate int) int64 {
	if ms > (1<<62)/int64(rate) {
		return 1 << 62
	}
	return ms * int64(rate) / 1000
}

// dropGaps returns the gap records that replace dropped, consecutive records
// taken from the front of the spool: for each stream and epoch, in order of
// first appearance, one gap with reason schema.ReasonSinkDrop that starts at the
// offset of the oldest dropped record, takes its seq, and lasts until the
// end of the last dropped audio or gap. The consumer then sees the stream's
// timeline stay continuous. Records that covered no audio (start and end
// records) need no gap. It also returns one Drop per stream.
func dropGaps(dropped []schema.Record) ([]schema.Record, []Drop) {
	type key struct {
		stream string
		epoch  uint64
	}
	var order []key
	spans := make(map[key]*dropSpan)
	drops := make(map[string]*Drop)
	var streams []string
	for i := range dropped {
		r := &dropped[i]
		k := key{r.Stream, r.Epoch}
		s := spans[k]
		if s == nil {
			s = &dropSpan{first: *r, end: r.Offset}
			spans[k] = s
			order = append(order, k)
		}
		s.records++
		s.end = max(s.end, recordEnd(r))
		d := drops[r.Stream]
		if d == nil {
			d = &Drop{Stream: r.Stream}
			drops[r.Stream] = d
			streams = append(streams, r.Stream)
		}
		if !isDropGap(r) {
			d.Records++
		}
	}
	var gaps []schema.Record
	for _, k := range order {
		s := spans[k]
		samples := s.end - s.first.Offset
		ms := samples * 1000 / int64(s.first.SampleRate)
		if ms <= 0 {
			continue
		}
		drops[k.stream].Audio += time.Duration(samples) * time.Second / time.Duration(s.first.SampleRate)
		f := s.first
		gaps = append(gaps, schema.Record{
			Stream: f.Stream, Kind: schema.KindGap, Epoch: f.Epoch, Seq: f.Seq,
			SampleRate: f.SampleRate, Channels: f.Channels, Codec: f.Codec,
			Offset: f.Offset, CaptureTime: f.CaptureTime, Clock: f.Clock,
			GapMS: ms, Reason: schema.ReasonSinkDrop,
		})
	}
	out := make([]Drop, 0, len(streams))
	for _, s := range streams {
		out = append(out, *drops[s])
	}
	return gaps, out
}

// isDropGap reports whether r is a gap record written by a spool drop.
func isDropGap(r *schema.Record) bool {
	return r.Kind == schema.KindGap && r.Reason == schema.ReasonSinkDrop
}
