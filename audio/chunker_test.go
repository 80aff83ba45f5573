package audio

import (
	"strings"
	"testing"
	"time"
)

// chunkerOp is one call on a Chunker. Written samples count up from 0 over
// the whole case, so a chunk's first value says which sample it starts at.
type chunkerOp struct {
	write int           // samples to write
	at    time.Duration // capture time of the write's first sample, after base
	flush bool
	skip  int64
	reset bool
}

// wantChunk describes an emitted chunk.
type wantChunk struct {
	offset int64
	at     time.Duration // capture time, after base
	n      int
	first  int16 // value of Samples[0]
}

// chunkerCases run at 8 kHz with 20 ms (160-sample) chunks.
var chunkerCases = []struct {
	name       string
	ops        []chunkerOp
	want       []wantChunk
	wantOffset int64
}{
	{
		name:       "a write of exactly one chunk emits it at once",
		ops:        []chunkerOp{{write: 160}},
		want:       []wantChunk{{0, 0, 160, 0}},
		wantOffset: 160,
	},
	{
		name: "a chunk spanning writes takes its capture time from the earlier write",
		ops:  []chunkerOp{{write: 100}, {write: 300, at: 50 * time.Millisecond}},
		want: []wantChunk{
			{0, 0, 160, 0},
			// Sample 160 is sample 60 of the second write: 60/8000 s later.
			{160, 57500 * time.Microsecond, 160, 160},
		},
		wantOffset: 400,
	},
	{
		name: "one large write emits several chunks timed by the sample rate",
		ops:  []chunkerOp{{write: 500, at: time.Second}},
		want: []wantChunk{
			{0, time.Second, 160, 0},
			{160, time.Second + 20*time.Millisecond, 160, 160},
			{320, time.Second + 40*time.Millisecond, 160, 320},
		},
		wantOffset: 500,
	},
	{
		name:       "flush emits the partial chunk and the next chunk starts after it",
		ops:        []chunkerOp{{write: 100}, {flush: true}, {write: 160, at: time.Second}},
		want:       []wantChunk{{0, 0, 100, 0}, {100, time.Second, 160, 100}},
		wantOffset: 260,
	},
	{
		name:       "flush with nothing buffered emits nothing",
		ops:        []chunkerOp{{write: 160}, {flush: true}, {flush: true}},
		want:       []wantChunk{{0, 0, 160, 0}},
		wantOffset: 160,
	},
	{
		name:       "skip after flush leaves a hole in the offsets",
		ops:        []chunkerOp{{write: 50}, {flush: true}, {skip: 1000}, {write: 160, at: 2 * time.Second}},
		want:       []wantChunk{{0, 0, 50, 0}, {1050, 2 * time.Second, 160, 50}},
		wantOffset: 1210,
	},
	{
		name:       "skip without flush drops the partial chunk into the gap",
		ops:        []chunkerOp{{write: 50}, {skip: 10}, {write: 160, at: time.Second}},
		want:       []wantChunk{{60, time.Second, 160, 50}},
		wantOffset: 220,
	},
	{
		name:       "a negative skip does nothing",
		ops:        []chunkerOp{{write: 10}, {skip: -5}, {write: 150}},
		want:       []wantChunk{{0, 0, 160, 0}},
		wantOffset: 160,
	},
	{
		name:       "reset restarts the offsets and drops buffered samples",
		ops:        []chunkerOp{{write: 200}, {reset: true}, {write: 160, at: 5 * time.Second}},
		want:       []wantChunk{{0, 0, 160, 0}, {0, 5 * time.Second, 160, 200}},
		wantOffset: 160,
	},
	{
		name:       "an empty write changes nothing",
		ops:        []chunkerOp{{write: 0, at: time.Hour}, {write: 160}},
		want:       []wantChunk{{0, 0, 160, 0}},
		wantOffset: 160,
	},
}

func TestChunker(t *testing.T) {
	base := time.Date(2025, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, c := range chunkerCases {
		t.Run(c.name, func(t *testing.T) {
			ch, err := NewChunker(8000, 20*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			var got []wantChunk
			emit := func(k Chunk) {
				for i, v := range k.Samples {
					if v != k.Samples[0]+int16(i) {
						t.Fatalf("chunk at offset %d is not contiguous at sample %d", k.Offset, i)
					}
				}
				got = append(got, wantChunk{k.Offset, k.CaptureTime.Sub(base), len(k.Samples), k.Samples[0]})
			}
			var next int16
			for _, op := range c.ops {
				switch {
				case op.flush:
					ch.Flush(emit)
				case op.skip != 0:
					ch.Skip(op.skip)
				case op.reset:
					ch.Reset()
				default:
					s := make([]int16, op.write)
					for i := range s {
						s[i] = next
						next++
					}
					ch.Write(s, base.Add(op.at), emit)
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("emitted %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("chunk %d = %+v, want %+v", i, got[i], c.want[i])
				}
			}
			if o := ch.Offset(); o != c.wantOffset {
				t.Errorf("Offset() = %d, want %d", o, c.wantOffset)
			}
		})
	}
}

func TestNewChunker(t *testing.T) {
	for _, tc := range []struct {
		rate int
		d    time.Duration
		want string // empty: valid
	}{
		{16000, 20 * time.Millisecond, ""},
		{16000, 2 * time.Second, ""},
		{44100, 20 * time.Millisecond, ""},
		{16000, 20*time.Millisecond + 62500*time.Nanosecond, ""}, // 321 samples
		{16000, 19 * time.Millisecond, "new chunker: chunk duration 19ms is outside 20ms..2s"},
		{16000, 2*time.Second + 1, "new chunker: chunk duration 2.000000001s is outside 20ms..2s"},
		{16000, 20*time.Millisecond + 30*time.Microsecond, "new chunker: chunk duration 20.03ms is 320480000000/1000000000 samples at 16000 Hz, not a whole number"},
		{44100, 25 * time.Millisecond, "is 1102500000000/1000000000 samples at 44100 Hz"},
		{0, time.Second, "new chunker: rate 0 Hz is outside 1..384000"},
	} {
		c, err := NewChunker(tc.rate, tc.d)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("NewChunker(%d, %v): %v", tc.rate, tc.d, err)
		case tc.want == "" && len(c.buf) != int(tc.d*time.Duration(tc.rate)/time.Second):
			t.Errorf("NewChunker(%d, %v) cuts %d samples, want %d", tc.rate, tc.d, len(c.buf), tc.d*time.Duration(tc.rate)/time.Second)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("NewChunker(%d, %v) = %v; want error %q", tc.rate, tc.d, err, tc.want)
		}
	}
}

func TestChunkerWriteDoesNotAllocate(t *testing.T) {
	c, err := NewChunker(16000, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	samples := make([]int16, 320)
	var emitted int
	emit := func(Chunk) { emitted++ }
	now := time.Now()
	if allocs := testing.AllocsPerRun(200, func() { c.Write(samples, now, emit) }); allocs != 0 {
		t.Errorf("Write allocates %.1f times per call", allocs)
	}
	if emitted == 0 {
		t.Error("no chunk was emitted, so emitting went unmeasured")
	}
}

func BenchmarkChunkerWrite(b *testing.B) {
	c, err := NewChunker(16000, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	samples := make([]int16, 320) // 20 ms
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		c.Write(samples, now, func(Chunk) {})
	}
}
