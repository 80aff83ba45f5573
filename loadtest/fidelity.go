package loadtest

import "math"

// fidelityDecimation is the coarse search step: speech envelopes align at
// 2 kHz well enough to find the neighbourhood of the true lag.
const fidelityDecimation = 8

// Fidelity aligns got (16 kHz mono, a window of what a consumer received)
// against the looping reference clip and returns the normalized
// cross-correlation at the best alignment, in [-1, 1], and that alignment
// as the clip index of got[0]. A byte-order, rate or channel mistake
// anywhere in the path drives the correlation towards 0.
//
// The search is coarse-to-fine: every lag on signals decimated by
// fidelityDecimation, then every full-rate lag around the best coarse one.
func Fidelity(got, clip []int16) (corr float64, lag int) {
	if len(got) == 0 || len(clip) == 0 {
		return 0, 0
	}
	g, c := decimate(got), decimate(clip)
	best, bestLag := math.Inf(-1), 0
	for k := range c {
		if v := correlate(g, c, k); v > best {
			best, bestLag = v, k
		}
	}
	gf, cf := toFloat(got), toFloat(clip)
	best, lag = math.Inf(-1), 0
	center := bestLag * fidelityDecimation
	for k := center - 2*fidelityDecimation; k <= center+2*fidelityDecimation; k++ {
		kk := ((k % len(cf)) + len(cf)) % len(cf)
		if v := correlate(gf, cf, kk); v > best {
			best, lag = v, kk
		}
	}
	return best, lag
}

// correlate is the normalized correlation of x with the looping y starting
// at index k.
func correlate(x, y []float64, k int) float64 {
	var xy, xx, yy float64
	j := k
	for _, xv := range x {
		yv := y[j]
		xy += xv * yv
		xx += xv * xv
		yy += yv * yv
		if j++; j == len(y) {
			j = 0
		}
	}
	if xx == 0 || yy == 0 {
		return 0
	}
	return xy / math.Sqrt(xx*yy)
}

// decimate averages blocks of fidelityDecimation samples: a crude low-pass
// that keeps the speech envelope for the coarse search.
func decimate(s []int16) []float64 {
	out := make([]float64, len(s)/fidelityDecimation)
	for i := range out {
		var sum float64
		for _, v := range s[i*fidelityDecimation : (i+1)*fidelityDecimation] {
			sum += float64(v)
		}
		out[i] = sum
	}
	return out
}

func toFloat(s []int16) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}
