package harness

import (
	"math"
	"time"
)

// Histogram buckets: logarithmic, each 1% wider than the one before, from
// histMin up (histBuckets of them reach about 27 minutes), so that any
// quantile is known within 1% in a few KiB, whatever the count.
const (
	histMin     = 10 * time.Microsecond
	histGrowth  = 1.01
	histBuckets = 2000
)

var histLogGrowth = math.Log(histGrowth)

// Histogram counts durations. The zero value is empty and ready to use. It
// is not safe for concurrent use.
type Histogram struct {
	counts []uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

// bucketOf returns the bucket d falls in.
func bucketOf(d time.Duration) int {
	if d <= histMin {
		return 0
	}
	i := int(math.Log(float64(d)/float64(histMin))/histLogGrowth) + 1
	return min(i, histBuckets-1)
}

// bucketUpper is the upper bound of bucket i.
func bucketUpper(i int) time.Duration {
	return time.Duration(float64(histMin) * math.Pow(histGrowth, float64(i)))
}

// Add counts d (negative durations count as 0).
func (h *Histogram) Add(d time.Duration) {
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	d = max(d, 0)
	h.counts[bucketOf(d)]++
	h.n++
	h.sum += d
	h.max = max(h.max, d)
}

// Count is the number of durations counted.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest duration counted (of the whole history, also in a
// window from Sub).
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average duration, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the upper bound of the bucket holding the q-quantile
// (0 < q ≤ 1), at most Max; 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= max(rank, 1) {
			return min(bucketUpper(i), h.max)
		}
	}
	return h.max
}

// Clone returns an independent copy.
func (h *Histogram) Clone() *Histogram {
	c := *h
	if h.counts != nil {
		c.counts = append([]uint64(nil), h.counts...)
	}
	return &c
}

// Sub returns what h counted since earlier, a Clone of h taken before:
// the histogram of a window.
func (h *Histogram) Sub(earlier *Histogram) *Histogram {
	out := h.Clone()
	if earlier == nil || earlier.counts == nil {
		return out
	}
	for i := range out.counts {
		out.counts[i] -= earlier.counts[i]
	}
	out.n -= earlier.n
	out.sum -= earlier.sum
	return out
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// CDFPoint is one point of a cumulative distribution: the fraction of
// durations at or below Ms milliseconds.
type CDFPoint struct {
	Ms       float64 `json:"ms"`
	Fraction float64 `json:"fraction"`
}

// CDF returns the cumulative distribution at the upper bound of every
// non-empty bucket, thinned to at most points points.
func (h *Histogram) CDF(points int) []CDFPoint {
	if h.n == 0 {
		return nil
	}
	var out []CDFPoint
	var seen uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		seen += c
		out = append(out, CDFPoint{Ms: ms(min(bucketUpper(i), h.max)), Fraction: float64(seen) / float64(h.n)})
	}
	if len(out) <= points {
		return out
	}
	thin := make([]CDFPoint, 0, points)
	for i := range points {
		thin = append(thin, out[i*(len(out)-1)/(points-1)])
	}
	return thin
}

// ms converts d to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
