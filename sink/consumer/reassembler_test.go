package consumer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/sink/schema"
)

var testTime = time.Date(2026, 3, 1, 12, 30, 45, 0, time.UTC)

// base is a record of stream at epoch, seq and offset; its capture time
// follows the offset at 16 kHz.
func base(kind schema.Kind, stream string, epoch, seq uint64, offset int64) schema.Record {
	return schema.Record{Stream: stream, Kind: kind, Epoch: epoch, Seq: seq, SampleRate: 16000, Channels: 1,
		Codec: "opus", Offset: offset, CaptureTime: testTime.Add(time.Duration(offset) * time.Second / 16000),
		Clock: schema.ClockNTP}
}

func chunk(stream string, epoch, seq uint64, offset int64, samples int) schema.Record {
	r := base(schema.KindAudio, stream, epoch, seq, offset)
	r.PCM = pcmOf(samples, int16(seq+1))
	return r
}

func gap(stream string, epoch, seq uint64, offset, ms int64, reason string) schema.Record {
	r := base(schema.KindGap, stream, epoch, seq, offset)
	r.GapMS, r.Reason = ms, reason
	return r
}

func start(stream string, epoch uint64) schema.Record {
	return base(schema.KindStart, stream, epoch, 0, 0)
}

func end(stream string, epoch, seq uint64, offset int64) schema.Record {
	r := base(schema.KindEnd, stream, epoch, seq, offset)
	r.Reason = schema.ReasonShutdown
	return r
}

// message is the Kafka message of r.
func message(r schema.Record) Message {
	key, headers, value := schema.Encode[schema.Header](r)
	return Message{Key: key, Value: value, Headers: headers, Time: r.CaptureTime}
}

// at moves r's capture time by d.
func at(r schema.Record, d time.Duration) schema.Record {
	r.CaptureTime = r.CaptureTime.Add(d)
	return r
}

// describe is a piece in short: kind/epoch/offset+samples[/reason].
func describe(p Piece) string {
	s := fmt.Sprintf("%s/%d/%d+%d", p.Kind, p.Epoch, p.Offset, p.Samples)
	if p.Reason != "" {
		s += "/" + p.Reason
	}
	return s
}

// reassembleCases feed records, in Kafka order, through a Deduplicator and
// a Reassembler and list the pieces that must come out, in order.
var reassembleCases = []struct {
	name       string
	records    []schema.Record
	pieces     []string
	duplicates uint64
	overlaps   uint64
}{
	{"a clean epoch is contiguous audio then its end",
		[]schema.Record{start("a", 1), chunk("a", 1, 1, 0, 3200), chunk("a", 1, 2, 3200, 3200), end("a", 1, 3, 6400)},
		[]string{"audio/1/0+3200", "audio/1/3200+3200", "end/1/6400+0/" + schema.ReasonShutdown}, 0, 0},
	{"redeliveries are dropped, even late ones",
		[]schema.Record{start("a", 1), chunk("a", 1, 1, 0, 160), chunk("a", 1, 1, 0, 160), chunk("a", 1, 2, 160, 160),
			chunk("a", 1, 1, 0, 160), start("a", 1)},
		[]string{"audio/1/0+160", "audio/1/160+160"}, 3, 0},
	{"a gap record's length is made exact by the next record",
		// 170 samples are 10.625 ms: the record says 10.
		[]schema.Record{chunk("a", 1, 1, 0, 160), gap("a", 1, 2, 160, 10, schema.ReasonRTPLoss), chunk("a", 1, 3, 330, 160)},
		[]string{"audio/1/0+160", "gap/1/160+170/" + schema.ReasonRTPLoss, "audio/1/330+160"}, 0, 0},
	{"a hole no record explains is a missing gap",
		[]schema.Record{chunk("a", 1, 1, 0, 160), chunk("a", 1, 3, 480, 160)},
		[]string{"audio/1/0+160", "gap/1/160+320/" + schema.ReasonMissing, "audio/1/480+160"}, 0, 0},
	{"a hole after a gap record is the gap, then missing",
		[]schema.Record{chunk("a", 1, 1, 0, 160), gap("a", 1, 2, 160, 10, schema.ReasonSinkDrop), chunk("a", 1, 9, 800, 160)},
		[]string{"audio/1/0+160", "gap/1/160+160/" + schema.ReasonSinkDrop, "gap/1/320+480/" + schema.ReasonMissing, "audio/1/800+160"}, 0, 0},
	{"the time between epochs is a gap of the old epoch",
		[]schema.Record{start("a", 7), chunk("a", 7, 1, 0, 1600), end("a", 7, 2, 1600),
			at(start("a", 9), time.Second), at(chunk("a", 9, 1, 0, 160), time.Second)},
		[]string{"audio/7/0+1600", "end/7/1600+0/" + schema.ReasonShutdown, "gap/7/1600+14400/" + schema.ReasonBetweenEpochs, "audio/9/0+160"}, 0, 0},
	{"an epoch that lost its start begins with missing audio",
		[]schema.Record{chunk("a", 1, 1, 0, 16000), at(chunk("a", 2, 5, 800, 160), time.Second+50*time.Millisecond)},
		[]string{"audio/1/0+16000", "gap/1/16000+800/" + schema.ReasonBetweenEpochs, "gap/2/0+800/" + schema.ReasonMissing, "audio/2/800+160"}, 0, 0},
	{"a record of an older epoch is dropped",
		[]schema.Record{chunk("a", 2, 1, 0, 160), chunk("a", 1, 9, 0, 160)},
		[]string{"audio/2/0+160"}, 1, 0},
	{"the first record seen starts the timeline",
		[]schema.Record{chunk("a", 4, 100, 32000, 160), chunk("a", 4, 101, 32160, 160)},
		[]string{"audio/4/32000+160", "audio/4/32160+160"}, 0, 0},
	{"audio overlapping what was yielded is trimmed",
		[]schema.Record{chunk("a", 1, 1, 0, 160), chunk("a", 1, 2, 100, 160), chunk("a", 1, 3, 200, 40)},
		[]string{"audio/1/0+160", "audio/1/160+100"}, 0, 2},
	{"streams are independent",
		[]schema.Record{chunk("a", 1, 1, 0, 160), chunk("b", 1, 1, 0, 160), chunk("a", 1, 2, 160, 160), chunk("b", 1, 3, 320, 160)},
		[]string{"audio/1/0+160", "audio/1/0+160", "audio/1/160+160", "gap/1/160+160/" + schema.ReasonMissing, "audio/1/320+160"}, 0, 0},
}

func TestReassembler(t *testing.T) {
	for _, tc := range reassembleCases {
		t.Run(tc.name, func(t *testing.T) {
			var d Deduplicator
			var r Reassembler
			var got []string
			yield := func(p Piece) { got = append(got, describe(p)) }
			for _, rec := range tc.records {
				if err := rec.Validate(); err != nil {
					t.Fatal(err)
				}
				e := FromRecord(rec, Position{})
				if d.Fresh(e.Key()) {
					r.Add(e, yield)
				}
			}
			r.Flush(yield)
			want := tc.pieces
			if !slices.Equal(got, want) {
				t.Errorf("pieces\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if d.Duplicates+r.Stale != tc.duplicates || r.Overlaps != tc.overlaps {
				t.Errorf("%d duplicates, %d stale, %d overlaps; want %d dropped, %d overlaps", d.Duplicates, r.Stale, r.Overlaps, tc.duplicates, tc.overlaps)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	a := chunk("cam-1", 3, 4, 640, 160)
	m := message(a)
	m.Partition, m.Offset, m.Time = 2, 99, a.CaptureTime.Truncate(time.Millisecond)
	e, err := Decode(m)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := e.(*Chunk)
	if !ok || c.Key() != (Key{"cam-1", 3, 4}) || c.Samples() != 160 || c.Kafka.Partition != 2 || c.Kafka.Offset != 99 || !c.Kafka.Time.Equal(m.Time) || c.Offset != 640 {
		t.Errorf("decoded %#v", e)
	}
	g := gap("cam-1", 3, 5, 800, 20, schema.ReasonRTPLoss)
	e, err = Decode(message(g))
	if ctl, ok := e.(*Control); err != nil || !ok || ctl.Kind != schema.KindGap || ctl.GapMS != 20 {
		t.Errorf("decoded %#v, %v", e, err)
	}
	if _, err := Decode(Message{Key: []byte("cam-1"), Value: []byte("junk")}); err == nil {
		t.Error("decoded a message without headers")
	}
}
