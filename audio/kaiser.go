package audio

import "math"

// Kaiser-window FIR design (Kaiser 1974; Oppenheim & Schafer §7.6). The
// window trades main-lobe width for side-lobe level through one parameter,
// so the filter length follows directly from the wanted attenuation and
// transition width instead of from trial and error.

// kaiserBeta returns the window shape parameter for a stopband attenuation
// of atten dB (atten > 50).
func kaiserBeta(atten float64) float64 {
	return 0.1102 * (atten - 8.7)
}

// kaiserLength returns the number of taps needed for atten dB with a
// transition band of width cycles per sample.
func kaiserLength(atten, width float64) int {
	return int(math.Ceil((atten - 7.95) / (2.285 * 2 * math.Pi * width)))
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// summed from its power series; for the arguments the window uses (< 20)
// the terms fall below float64 resolution after about 40 steps.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1.0; term > sum*1e-17; k++ {
		term *= q / (k * k)
		sum += term
	}
	return sum
}

// kaiserLowpass returns n taps of a linear-phase lowpass with its -6 dB
// point at cutoff cycles per sample and DC gain gain.
func kaiserLowpass(n int, cutoff, beta, gain float64) []float64 {
	h := make([]float64, n)
	half := float64(n-1) / 2
	norm := besselI0(beta)
	for i := range h {
		x := float64(i) - half
		w := 1.0
		if half > 0 {
			r := x / half
			w = besselI0(beta*math.Sqrt(max(0, 1-r*r))) / norm
		}
		h[i] = gain * 2 * cutoff * sinc(2*cutoff*x) * w
	}
	return h
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}
