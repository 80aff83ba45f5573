package ingest

import (
	"math"
	"testing"
	"time"
)

// levelCases feed the meter's test and benchmark: 100 ms at 16 kHz each.
var levelCases = []struct {
	name       string
	samples    func(i int) int16
	rms, peak  float64
	quietAfter bool // below the −70 dBFS threshold
}{
	{"a -20 dBFS sine reads -20 dBFS RMS and -17 dBFS peak", sine(-20), -20, -17, false},
	{"digital zero reads the floor and is quiet", func(int) int16 { return 0 }, LevelFloorDBFS, LevelFloorDBFS, true},
	// Its amplitude rounds to 5 LSB: the peak reads -76.3 dBFS.
	{"a -80 dBFS hiss is quiet though not zero", sine(-80), -80.1, -76.3, true},
	{"a full-scale square reads 0 dBFS", func(i int) int16 {
		if i%2 == 0 {
			return 32767
		}
		return -32768
	}, 0, 0, false},
}

func sine(db float64) func(int) int16 {
	amp := 32768 * math.Pow(10, db/20) * math.Sqrt2
	return func(i int) int16 { return int16(math.Round(amp * math.Sin(2*math.Pi*1000*float64(i)/16000))) }
}

func window(f func(int) int16) []int16 {
	s := make([]int16, 1600)
	for i := range s {
		s[i] = f(i)
	}
	return s
}

func TestMeterLevels(t *testing.T) {
	for _, c := range levelCases {
		t.Run(c.name, func(t *testing.T) {
			var m meter
			m.init(16000, -70)
			if _, ok := m.level(); ok {
				t.Fatal("a level before any audio")
			}
			at := time.Unix(100, 0)
			// In packets of 20 ms, as they come from the decoder.
			s := window(c.samples)
			for i := 0; i < len(s); i += 320 {
				m.observe(s[i:i+320], at)
			}
			l, ok := m.level()
			if !ok || math.Abs(l.RMS-c.rms) > 0.1 || math.Abs(l.Peak-c.peak) > 0.1 {
				t.Errorf("level %+v (ok %t), want RMS %.1f peak %.1f", l, ok, c.rms, c.peak)
			}
			if q := m.quietSince.Load() != 0; q != c.quietAfter {
				t.Errorf("quiet %t, want %t", q, c.quietAfter)
			}
		})
	}
}

func TestMeterSilenceEndsWhenSoundReturns(t *testing.T) {
	var m meter
	m.init(16000, -70)
	zero, loud := window(func(int) int16 { return 0 }), window(sine(-30))
	t0 := time.Unix(100, 0)
	m.observe(zero, t0)
	m.observe(zero, t0.Add(100*time.Millisecond))
	if got := m.quietSince.Load(); got != t0.UnixNano() {
		t.Fatalf("quiet since %d, want the first quiet window's %d", got, t0.UnixNano())
	}
	m.observe(loud, t0.Add(200*time.Millisecond))
	if m.quietSince.Load() != 0 {
		t.Error("still quiet after a -30 dBFS window")
	}
	m.observe(zero, t0.Add(300*time.Millisecond))
	m.reset()
	if _, ok := m.level(); ok || m.quietSince.Load() != 0 {
		t.Error("reset kept the level or the silence")
	}
}

func BenchmarkMeter(b *testing.B) {
	for _, c := range levelCases {
		b.Run(c.name, func(b *testing.B) {
			var m meter
			m.init(16000, -70)
			s := window(c.samples)[:320] // one 20 ms packet
			at := time.Now()
			b.ReportAllocs()
			b.SetBytes(2 * int64(len(s)))
			for b.Loop() {
				m.observe(s, at)
			}
		})
	}
}

// FuzzMeter: any samples give levels between the floor and +0.1 dBFS (a
// full-scale square's -32768 rounds up a hair), with the peak at least
// the RMS.
func FuzzMeter(f *testing.F) {
	for _, c := range levelCases {
		s := window(c.samples)
		b := make([]byte, 2*len(s))
		for i, v := range s {
			b[2*i], b[2*i+1] = byte(v), byte(v>>8)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m meter
		m.init(16000, -70)
		s := make([]int16, len(b)/2)
		for i := range s {
			s[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
		m.observe(s, time.Unix(1, 0))
		l, ok := m.level()
		if ok != (len(s) >= m.window) {
			t.Fatalf("%d samples: level published %t", len(s), ok)
		}
		if ok && (l.RMS < LevelFloorDBFS || l.Peak > 0.1 || l.RMS > l.Peak) {
			t.Fatalf("level %+v", l)
		}
	})
}
