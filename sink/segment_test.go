package sink

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/earshot/earshot/sink/schema"
	"github.com/earshot/earshot/sink/schema/schematest"
)

// spoolRecordCases are the records of schematest.Valid with an arrival time, as
// the spool keeps them.
func spoolRecordCases() []schema.Record {
	var out []schema.Record
	for _, tc := range schematest.Valid {
		r := tc.Record
		r.Arrival = r.CaptureTime.Add(7 * time.Millisecond)
		out = append(out, r)
	}
	return append(out, schematest.StartRecord) // without arrival
}

// segmentOf returns a segment holding recs.
func segmentOf(recs ...schema.Record) []byte {
	b := []byte(segmentMagic)
	for i := range recs {
		b = appendFrame(b, &recs[i])
	}
	return b
}

// readSegment scans a segment, returning its intact records and the
// damaged stretches skipped; it fails t if they do not tile the segment.
func readSegment(t testing.TB, b []byte) ([]schema.Record, [][2]int64) {
	var recs []schema.Record
	var skipped [][2]int64
	var at int64 // where the next frame or damage must start
	if bytes.HasPrefix(b, []byte(segmentMagic)) {
		at = int64(len(segmentMagic))
	}
	scanSegment(b, func(off int64, r *schema.Record, size int64) error {
		if off != at {
			t.Fatalf("frame at byte %d, want %d", off, at)
		}
		recs = append(recs, *r)
		at = off + size
		return nil
	}, func(from, to int64, err error) {
		if from != at || to <= from || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("damage [%d, %d) after byte %d: %v", from, to, at, err)
		}
		skipped = append(skipped, [2]int64{from, to})
		at = to
	})
	if at != int64(len(b)) {
		t.Fatalf("scan ended at byte %d of %d", at, len(b))
	}
	return recs, skipped
}

func TestSegmentRoundTrip(t *testing.T) {
	want := spoolRecordCases()
	seg := segmentOf(want...)
	got, skipped := readSegment(t, seg)
	if len(skipped) != 0 || len(got) != len(want) {
		t.Fatalf("read %d of %d records, skipped %v", len(got), len(want), skipped)
	}
	for i := range want {
		if !schematest.Same(got[i], want[i]) || !got[i].Arrival.Equal(want[i].Arrival) {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// damages damage a segment inside, as a bad disk would: the reader skips
// the frames hit and reads on at the next intact one. Each is applied at
// a fraction of the segment's length, past its first frames.
var damages = []struct {
	name string
	do   func(b []byte) []byte
}{
	{"100 bytes flipped at 40%", func(b []byte) []byte { return flip(b, len(b)*4/10, 100) }},
	{"one bit flipped at 50%", func(b []byte) []byte { b[len(b)/2] ^= 0x04; return b }},
	{"bytes flipped at 30% and 70%", func(b []byte) []byte { return flip(flip(b, len(b)*3/10, 20), len(b)*7/10, 20) }},
	{"zeros over 2% at 60%", func(b []byte) []byte { clear(b[len(b)*6/10 : len(b)*62/100]); return b }},
	{"the segment header flipped", func(b []byte) []byte { return flip(b, 0, len(segmentMagic)) }},
}

// flip inverts n bytes of b from at.
func flip(b []byte, at, n int) []byte {
	for i := at; i < at+n && i < len(b); i++ {
		b[i] ^= 0xff
	}
	return b
}

func TestSegmentReaderSkipsDamage(t *testing.T) {
	recs := spoolRecordCases()
	good := segmentOf(append(append(recs, recs...), recs...)...)
	for _, tc := range damages {
		seg := tc.do(bytes.Clone(good))
		got, skipped := readSegment(t, seg)
		hitFrames := len(skipped) > 0 && skipped[len(skipped)-1][0] > 0
		if len(skipped) == 0 || hitFrames == (len(got) == 3*len(recs)) || len(got) < len(recs) {
			t.Errorf("%s: read %d of %d records, skipped %v", tc.name, len(got), 3*len(recs), skipped)
		}
	}
	for _, tc := range corruptions {
		seg := tc.do(bytes.Clone(segmentOf(recs[:3]...)))
		got, skipped := readSegment(t, seg)
		if len(skipped) != 1 || skipped[0][1] != int64(len(seg)) || len(got) < 2 {
			t.Errorf("%s: read %d records, skipped %v; want the tail skipped", tc.name, len(got), skipped)
		}
	}
	if got, _ := readSegment(t, []byte("not a segment")); len(got) != 0 {
		t.Errorf("bad header: read %d records", len(got))
	}
}

// FuzzSegmentReader: any bytes read as a segment give valid records and
// damaged stretches that tile the input, never a panic, and the records
// read re-encode to a segment read back whole. Seeds: damages and
// corruptions applied to a segment of schematest.Valid.
func FuzzSegmentReader(f *testing.F) {
	recs := spoolRecordCases()
	for i := range recs { // small records keep the fuzzer fast
		if len(recs[i].PCM) > 0 {
			recs[i].PCM = recs[i].PCM[:4*recs[i].Channels]
		}
	}
	good := segmentOf(recs...)
	f.Add(good)
	f.Add(segmentOf())
	for _, tc := range corruptions {
		f.Add(tc.do(bytes.Clone(good)))
	}
	for _, tc := range damages {
		f.Add(tc.do(bytes.Clone(good)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, _ := readSegment(t, b)
		for _, r := range recs {
			if err := r.Validate(); err != nil {
				t.Fatalf("invalid record read: %v", err)
			}
		}
		if len(recs) > 0 {
			again, skipped := readSegment(t, segmentOf(recs...))
			if len(again) != len(recs) || len(skipped) != 0 {
				t.Fatalf("re-encoded %d records read back as %d, skipped %v", len(recs), len(again), skipped)
			}
		}
	})
}

// FuzzSpoolRecord: any payload either fails to decode or decodes to a valid
// record that survives encoding and decoding again.
func FuzzSpoolRecord(f *testing.F) {
	for _, r := range spoolRecordCases() {
		f.Add(appendSpoolRecord(nil, &r))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := decodeSpoolRecord(p)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := decodeSpoolRecord(appendSpoolRecord(nil, &r))
		if err != nil || !schematest.Same(again, r) || !again.Arrival.Equal(r.Arrival) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, again, r)
		}
	})
}

// TestSpoolVersion1StillReads: a spool written before records had an
// Instance (encoding version 1) is read, without one.
func TestSpoolVersion1StillReads(t *testing.T) {
	r := schematest.GapRecord // no PCM: the payload ends with two empty lengths
	p := appendSpoolRecord(nil, &r)
	if p[len(p)-2] != 0 || p[len(p)-1] != 0 {
		t.Fatalf("payload ends %v, want empty instance and PCM", p[len(p)-2:])
	}
	v1 := append([]byte{1}, p[1:len(p)-1]...) // drop the instance's length
	got, err := decodeSpoolRecord(v1)
	if err != nil || !schematest.Same(got, r) {
		t.Errorf("version 1 payload: %+v, %v; want %+v", got, err, r)
	}
}
