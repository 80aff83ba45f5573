package harness

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var all []time.Duration
	for range 100000 {
		d := time.Duration(rng.ExpFloat64() * float64(200*time.Millisecond))
		h.Add(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := h.Quantile(q)
		if ratio := float64(got) / float64(exact); ratio < 0.99 || ratio > 1.011 {
			t.Errorf("q%g: %v, exact %v (ratio %.4f)", q, got, exact, ratio)
		}
	}
	if h.Max() != all[len(all)-1] || h.Count() != uint64(len(all)) {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
	// A window: what was counted since a copy.
	before := h.Clone()
	for range 1000 {
		h.Add(5 * time.Second)
	}
	w := h.Sub(before)
	if w.Count() != 1000 || w.Quantile(0.5) < 4950*time.Millisecond || w.Quantile(0.5) > 5*time.Second {
		t.Errorf("window: count %d, median %v", w.Count(), w.Quantile(0.5))
	}
	if cdf := h.CDF(50); len(cdf) != 50 || cdf[len(cdf)-1].Fraction != 1 {
		t.Errorf("CDF of %d points ends at %v", len(cdf), cdf[len(cdf)-1])
	}
}

func BenchmarkHistogramAdd(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	d := time.Duration(0)
	for b.Loop() {
		d += 7919 * time.Microsecond
		h.Add(d % (10 * time.Second))
	}
}
