package audio

import (
	"fmt"
	"math"
)

// Filter design of the Resampler.
//
// The passband ends at 85% of the lower Nyquist frequency and the stopband
// starts exactly at it, so nothing above the new Nyquist can alias when
// downsampling and no image survives when upsampling; at 16 kHz the band up
// to 6.8 kHz, which holds all of speech that matters to recognition, is flat.
// The Kaiser design targets 80 dB, well past the 60 dB that speech
// recognition needs; TestResamplerStopbandIsBelow60dB measures the realised
// figure over the whole stopband.
//
// The length follows from the transition width relative to the input rate:
// 201 taps per output sample for 48 kHz to 16 kHz, 185 for 44.1 kHz, 134 for
// 32 kHz and 67 for 8 kHz to 16 kHz. Coefficients are float32, whose scalar
// multiply-adds ran 40% faster here than int16 ones widened to int64. The
// prototype is symmetric, so phase L-1-p is phase p reversed and only half
// the phases are stored: 804 bytes for 48 kHz, 268 bytes for 8 kHz, and
// 58 KiB for 44.1 kHz (L = 160).
const (
	resamplerAttenuation  = 80.0 // dB
	resamplerPassFraction = 0.85 // of the lower Nyquist frequency
	// maxResamplerCoefs bounds the table (128 KiB) so that a ratio such as
	// 44101/16000, which would need 16000 phases, fails in NewResampler
	// instead of using megabytes per stream.
	maxResamplerCoefs = 1 << 15
	maxResamplerRate  = 384000
)

// Resampler converts mono 16-bit audio from one sample rate to another with
// a polyphase windowed-sinc filter for the ratio L/M = outRate/inRate in
// lowest terms. It is a stream: history carries across calls, so the output
// is the same however the input is split.
//
// The output is delayed by the filter's group delay, (L*taps-1)/2 periods of
// the L×inRate clock (about 2 ms for 48 kHz to 16 kHz, 4 ms for 8 kHz to
// 16 kHz), and never runs ahead of the input: after inputs totalling n
// samples it has produced exactly ceil(n*L/M) samples, so sample counts map
// to durations the way the RTP clock does.
type Resampler struct {
	inRate, outRate int
	l, m            int
	// step is M split into whole input samples and phases, so the loop
	// advances without dividing.
	stepIn, stepPhase int
	taps              int
	// coefs holds phases 0..stored-1 of taps coefficients each, reversed so
	// that an output is a forward dot product with the input window. Phase
	// p >= stored is phase l-1-p read backwards.
	coefs  []float32
	stored int
	// win is the last taps-1 input samples followed, during Process, by the
	// new input.
	win []float32
	// next is the index, relative to the next input, of the newest sample
	// the next output needs; phase is that output's filter phase.
	next, phase int
	out         []int16
}

// NewResampler returns a resampler from inRate to outRate Hz. Equal rates
// give a pass-through that copies.
func NewResampler(inRate, outRate int) (*Resampler, error) {
	if inRate <= 0 || inRate > maxResamplerRate {
		return nil, fmt.Errorf("resampler input rate %d Hz is outside 1..%d", inRate, maxResamplerRate)
	}
	if outRate <= 0 || outRate > maxResamplerRate {
		return nil, fmt.Errorf("resampler output rate %d Hz is outside 1..%d", outRate, maxResamplerRate)
	}
	g := gcd(inRate, outRate)
	r := &Resampler{inRate: inRate, outRate: outRate, l: outRate / g, m: inRate / g}
	r.stepIn, r.stepPhase = r.m/r.l, r.m%r.l
	if r.l == 1 && r.m == 1 {
		return r, nil
	}
	nyquist := float64(min(inRate, outRate)) / 2
	width := (1 - resamplerPassFraction) * nyquist
	cutoff := nyquist - width/2
	r.taps = max(kaiserLength(resamplerAttenuation, width/float64(inRate)), 4)
	r.stored = (r.l + 1) / 2
	if r.stored*r.taps > maxResamplerCoefs {
		return nil, fmt.Errorf("resample %d Hz to %d Hz: %d phases of %d taps exceed the %d-coefficient limit",
			inRate, outRate, r.stored, r.taps, maxResamplerCoefs)
	}
	// The prototype runs at L×inRate, where zero-stuffing divides the
	// signal's amplitude by L; the gain of L restores it.
	proto := kaiserLowpass(r.l*r.taps, cutoff/float64(r.l*inRate), kaiserBeta(resamplerAttenuation), float64(r.l))
	r.coefs = make([]float32, r.stored*r.taps)
	for p := range r.stored {
		phase := r.coefs[p*r.taps : (p+1)*r.taps]
		// Phases whose gains differ even slightly modulate the signal at
		// the phase rate, heard as a faint tone, so each is scaled to a DC
		// gain of exactly 1.
		var sum float64
		for k := range phase {
			sum += proto[p+k*r.l]
		}
		for k := range phase {
			phase[len(phase)-1-k] = float32(proto[p+k*r.l] / sum)
		}
	}
	r.win = make([]float32, r.taps-1)
	return r, nil
}

// Process resamples in, which continues the samples of earlier calls. The
// returned slice is valid until the next call on r. Buffers grow to the
// largest input seen and are then reused, so steady-state calls do not
// allocate.
func (r *Resampler) Process(in []int16) []int16 {
	if r.taps == 0 {
		r.out = append(r.out[:0], in...)
		return r.out
	}
	hist := r.taps - 1
	if cap(r.win) < hist+len(in) {
		w := make([]float32, hist, hist+len(in))
		copy(w, r.win)
		r.win = w
	}
	w := r.win[:hist+len(in)]
	for i, v := range in {
		w[hist+i] = float32(v)
	}
	if n := len(in)*r.l/r.m + 1; cap(r.out) < n {
		r.out = make([]int16, 0, n)
	}
	out := r.out[:0]
	i, p := r.next, r.phase
	for i < len(in) {
		x := w[i : i+r.taps]
		var y float32
		if p < r.stored {
			y = dot(r.coefs[p*r.taps:(p+1)*r.taps], x)
		} else {
			q := r.l - 1 - p
			y = dotReversed(r.coefs[q*r.taps:(q+1)*r.taps], x)
		}
		out = append(out, roundInt16(y))
		i += r.stepIn
		if p += r.stepPhase; p >= r.l {
			p -= r.l
			i++
		}
	}
	r.next, r.phase = i-len(in), p
	copy(w, w[len(w)-hist:])
	r.out = out
	return out
}

// Reset drops the history, as if the resampler were new.
func (r *Resampler) Reset() {
	clear(r.win)
	r.next, r.phase = 0, 0
}

// dot returns the dot product of c and x[:len(c)]. Four accumulators
// break the dependency chain so that the multiply-adds overlap; indexing
// within bounds proven up front spares the bounds checks.
func dot(c, x []float32) float32 {
	n := len(c)
	x = x[:n]
	var a0, a1, a2, a3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		cc, xx := c[i:i+4:i+4], x[i:i+4:i+4]
		a0 += cc[0] * xx[0]
		a1 += cc[1] * xx[1]
		a2 += cc[2] * xx[2]
		a3 += cc[3] * xx[3]
	}
	for ; i < n; i++ {
		a0 += c[i] * x[i]
	}
	return (a0 + a1) + (a2 + a3)
}

// dotReversed returns the dot product of c read backwards and x[:len(c)],
// in the manner of dot.
func dotReversed(c, x []float32) float32 {
	n := len(c)
	x = x[:n]
	var a0, a1, a2, a3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		cc, xx := c[n-i-4:n-i:n-i], x[i:i+4:i+4]
		a0 += cc[3] * xx[0]
		a1 += cc[2] * xx[1]
		a2 += cc[1] * xx[2]
		a3 += cc[0] * xx[3]
	}
	for ; i < n; i++ {
		a0 += c[n-1-i] * x[i]
	}
	return (a0 + a1) + (a2 + a3)
}

// roundInt16 rounds half away from zero and saturates.
func roundInt16(y float32) int16 {
	y = max(math.MinInt16, min(math.MaxInt16, y))
	if y < 0 {
		return int16(y - 0.5)
	}
	return int16(y + 0.5)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
