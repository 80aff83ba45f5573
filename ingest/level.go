package ingest

import (
	"math"
	"sync/atomic"
	"time"
)

// LevelFloorDBFS is the lowest level reported: digital zero. A 16-bit
// signal's quietest non-zero RMS is about −90 dBFS.
const LevelFloorDBFS = -120

// levelWindow is how much audio one published level covers: 10 levels a
// second, whatever the packet or chunk duration.
const levelWindow = 100 * time.Millisecond

// Level is a stream's audio level over its last 100 ms window, in dBFS
// relative to a full-scale square wave (a full-scale sine is −3 dBFS), at
// least LevelFloorDBFS.
type Level struct {
	RMS  float64   `json:"rms_dbfs"`
	Peak float64   `json:"peak_dbfs"`
	At   time.Time `json:"at"` // arrival of the window's last packet
}

// meter measures a stream's level in one pass over the samples the
// timeline decodes. observe and reset run on the stream's run goroutine;
// level and quietSince are read by anyone.
type meter struct {
	// Owned by the run goroutine: the window being summed.
	sumSq  int64
	peak   int32
	n      int
	window int     // samples per window
	quiet  float64 // threshold, as a mean square; 0: digital zero only

	rms, pk atomic.Uint64 // float64 bits, dBFS
	at      atomic.Int64  // Unix ns of the last window; 0 before one
	// quietSince is when the level last went below the threshold (Unix
	// ns); 0 while it is above, or before a window.
	quietSince atomic.Int64
}

func (m *meter) init(rate int, thresholdDBFS float64) {
	m.window = rate * int(levelWindow/time.Millisecond) / 1000
	m.quiet = math.Pow(10, thresholdDBFS/10) * 32768 * 32768
}

// reset forgets the level and the silence as a session begins.
func (m *meter) reset() {
	m.sumSq, m.peak, m.n = 0, 0, 0
	m.at.Store(0)
	m.quietSince.Store(0)
}

// observe adds samples that arrived at arrival.
func (m *meter) observe(samples []int16, arrival time.Time) {
	for len(samples) > 0 {
		k := min(len(samples), m.window-m.n)
		m.sumSq, m.peak = sumSquares(samples[:k], m.sumSq, m.peak)
		m.n += k
		samples = samples[k:]
		if m.n == m.window {
			m.publish(arrival)
		}
	}
}

// sumSquares adds the squares of s to sum and raises peak to s's largest
// magnitude. Four accumulators in locals: the loop is one of the few that
// runs for every sample of every stream.
func sumSquares(s []int16, sum int64, peak int32) (int64, int32) {
	var s0, s1, s2, s3 int64
	var p0, p1 int32
	for len(s) >= 4 {
		a, b, c, d := int32(s[0]), int32(s[1]), int32(s[2]), int32(s[3])
		s0 += int64(a * a)
		s1 += int64(b * b)
		s2 += int64(c * c)
		s3 += int64(d * d)
		p0 = max(p0, a, -a, b, -b)
		p1 = max(p1, c, -c, d, -d)
		s = s[4:]
	}
	for _, v := range s {
		x := int32(v)
		s0 += int64(x * x)
		p0 = max(p0, x, -x)
	}
	return sum + s0 + s1 + s2 + s3, max(peak, p0, p1)
}

func (m *meter) publish(arrival time.Time) {
	ms := float64(m.sumSq) / float64(m.n)
	m.rms.Store(math.Float64bits(dbfs(math.Sqrt(ms))))
	m.pk.Store(math.Float64bits(dbfs(float64(m.peak))))
	m.at.Store(arrival.UnixNano())
	switch {
	case ms > m.quiet && m.peak > 0:
		m.quietSince.Store(0)
	case m.quietSince.Load() == 0:
		m.quietSince.Store(arrival.UnixNano())
	}
	m.sumSq, m.peak, m.n = 0, 0, 0
}

// level returns the last window's level; ok is false before the first.
func (m *meter) level() (l Level, ok bool) {
	at := m.at.Load()
	if at == 0 {
		return Level{}, false
	}
	return Level{RMS: math.Float64frombits(m.rms.Load()), Peak: math.Float64frombits(m.pk.Load()), At: time.Unix(0, at)}, true
}

// dbfs converts an amplitude on the int16 scale to dBFS, rounded to 0.1 dB.
func dbfs(a float64) float64 {
	if a <= 0 {
		return LevelFloorDBFS
	}
	return max(LevelFloorDBFS, math.Round(200*math.Log10(a/32768))/10)
}

// Level returns the stream id's level of the last 100 ms, and whether it
// is flagged silent_audio; ok is false for an unknown stream, or one not
// streaming yet.
func (s *Supervisor) Level(id string) (l Level, silent, ok bool) {
	st, err := s.lookup(id)
	if err != nil {
		return Level{}, false, false
	}
	l, ok = st.level.level()
	st.mu.Lock()
	silent = st.stalled != nil && st.stalled.Reason == ReasonSilentAudio
	ok = ok && st.state == StateStreaming
	st.mu.Unlock()
	return l, silent, ok
}
