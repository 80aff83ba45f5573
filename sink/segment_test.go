package sink

import (
	"bytes"
	"errors"
	"io"
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

// readSegment reads every record of a segment until its end or the first
// damaged frame, returning the records, the bytes they span and the error
// that stopped it (io.EOF at a clean end).
func readSegment(b []byte) ([]schema.Record, int64, error) {
	sr, err := newSegmentReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, 0, err
	}
	var recs []schema.Record
	for {
		r, _, err := sr.next()
		if err != nil {
			return recs, sr.off, err
		}
		recs = append(recs, r)
	}
}

func TestSegmentRoundTrip(t *testing.T) {
	want := spoolRecordCases()
	seg := segmentOf(want...)
	got, off, err := readSegment(seg)
	if !errors.Is(err, io.EOF) || off != int64(len(seg)) || len(got) != len(want) {
		t.Fatalf("read %d of %d records up to byte %d of %d: %v", len(got), len(want), off, len(seg), err)
	}
	for i := range want {
		if !schematest.Same(got[i], want[i]) || !got[i].Arrival.Equal(want[i].Arrival) {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSegmentReaderStopsAtDamage(t *testing.T) {
	recs := spoolRecordCases()[:3]
	good := segmentOf(recs...)
	for _, tc := range corruptions {
		seg := tc.do(bytes.Clone(good))
		got, off, err := readSegment(seg)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %v, want ErrCorrupt", tc.name, err)
		}
		if n := len(got); n < 2 || !bytes.Equal(seg[:off], segmentOf(got...)) {
			t.Errorf("%s: kept %d records up to byte %d", tc.name, n, off)
		}
	}
	if _, _, err := readSegment([]byte("not a segment")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bad header: %v", err)
	}
}

// FuzzSegmentReader: any bytes read as a segment give valid records up to a
// clean end or ErrCorrupt, never a panic, and the records read re-encode to
// exactly the bytes they were read from.
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
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, off, err := readSegment(b)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v is neither io.EOF nor ErrCorrupt", err)
		}
		if off > int64(len(b)) {
			t.Fatalf("read up to byte %d of %d", off, len(b))
		}
		for _, r := range recs {
			if err := r.Validate(); err != nil {
				t.Fatalf("invalid record read: %v", err)
			}
		}
		if len(recs) > 0 {
			again, _, _ := readSegment(segmentOf(recs...))
			if len(again) != len(recs) {
				t.Fatalf("re-encoded %d records read back as %d", len(recs), len(again))
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
