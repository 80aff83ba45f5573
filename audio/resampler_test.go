package audio

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// resamplerCases feed the tone, streaming and allocation tests and the
// benchmarks. pass tones lie in the passband and must come out at the same
// level, delayed by exactly the group delay, with everything else (images,
// aliases, rounding) 80 dB down; stop tones lie above the lower Nyquist
// frequency and must vanish to -80 dB.
var resamplerCases = []resamplerCase{
	{"48 kHz to 16 kHz removes what would alias", 48000, 16000, []float64{1000, 6000}, []float64{8200, 9000, 12000, 16000, 23900}},
	{"44.1 kHz to 16 kHz removes what would alias", 44100, 16000, []float64{1000, 6000}, []float64{8200, 9000, 12000, 21000}},
	{"32 kHz to 16 kHz removes what would alias", 32000, 16000, []float64{1000, 6000}, []float64{8200, 9000, 12000, 15900}},
	{"8 kHz to 16 kHz leaves no images", 8000, 16000, []float64{1000, 3000, 3400}, nil},
	{"16 kHz to 48 kHz leaves no images", 16000, 48000, []float64{1000, 6000}, nil},
	{"16 kHz to 16 kHz passes through", 16000, 16000, []float64{1000, 7900}, nil},
}

type resamplerCase struct {
	name    string
	in, out int
	pass    []float64 // Hz
	stop    []float64 // Hz
}

const (
	maxPassbandDeviationDB = 0.5
	minRejectionDB         = 80.0
	// minStopbandDB is what the filter's own response must reach over its
	// stopband; the tone tests above allow for int16 rounding.
	minStopbandDB = 90.0
)

func newTestResampler(tb testing.TB, in, out int) *Resampler {
	tb.Helper()
	r, err := NewResampler(in, out)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// dotImpls are the dot products the resampler tests run with: the one
// NewResampler chose (the assembly where the CPU has AVX2 and FMA), and
// the pure Go one that other CPUs use.
var dotImpls = []struct {
	name   string
	pureGo bool
}{
	{"chosen", false},
	{"pure Go", true},
}

// newTestResamplerImpl returns a resampler from in to out Hz that computes
// its dot products in pure Go if pureGo is set.
func newTestResamplerImpl(tb testing.TB, in, out int, pureGo bool) *Resampler {
	tb.Helper()
	r := newTestResampler(tb, in, out)
	if pureGo {
		r.folded = nil
	}
	return r
}

// runResamplerCases runs f for every case of resamplerCases with each of
// dotImpls, as subtests named after both.
func runResamplerCases(t *testing.T, f func(t *testing.T, c resamplerCase, newR func() *Resampler)) {
	for _, impl := range dotImpls {
		for _, c := range resamplerCases {
			t.Run(impl.name+"/"+c.name, func(t *testing.T) {
				f(t, c, func() *Resampler { return newTestResamplerImpl(t, c.in, c.out, impl.pureGo) })
			})
		}
	}
}

// tone returns n samples of a sine of freq Hz at rate Hz, delayed by delay
// seconds.
func tone(n, rate int, freq, amplitude, delay float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = amplitude * math.Sin(2*math.Pi*freq*(float64(i)/float64(rate)-delay))
	}
	return s
}

func toInt16(f []float64) []int16 {
	s := make([]int16, len(f))
	for i, v := range f {
		s[i] = int16(math.Round(v))
	}
	return s
}

func rms[T int16 | float64](s []T) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

func dB(ratio float64) float64 { return 20 * math.Log10(ratio) }

// groupDelay is the resampler's delay in seconds.
func (r *Resampler) groupDelay() float64 { return r.Delay().Seconds() }

// steady returns out without its start, where the filter still sees the
// zero history.
func steady(r *Resampler, out []int16) []int16 {
	skip := r.taps*r.outRate/r.inRate + 2
	return out[skip : len(out)-2]
}

func TestResamplerPassesInBandTones(t *testing.T) {
	const amplitude = 30000
	runResamplerCases(t, func(t *testing.T, c resamplerCase, newR func() *Resampler) {
		for _, f := range c.pass {
			r := newR()
			out := r.Process(toInt16(tone(c.in/2, c.in, f, amplitude, 0)))
			want := tone(len(out), c.out, f, amplitude, r.groupDelay())
			skip := r.taps*c.out/c.in + 2
			got, want := out[skip:], want[skip:]

			// The level, from the tone's DFT bin.
			var re, im float64
			for i, v := range got {
				phase := 2 * math.Pi * f * float64(i+skip) / float64(c.out)
				re += float64(v) * math.Cos(phase)
				im += float64(v) * math.Sin(phase)
			}
			level := 2 * math.Hypot(re, im) / float64(len(got))
			// Everything but the expected tone, delay included.
			residual := make([]float64, len(got))
			for i := range got {
				residual[i] = float64(got[i]) - want[i]
			}
			gain, rest := dB(level/amplitude), dB(rms(residual)/(amplitude/math.Sqrt2))
			t.Logf("%.0f Hz: gain %+.4f dB, residual %.1f dB", f, gain, rest)
			if math.Abs(gain) > maxPassbandDeviationDB {
				t.Errorf("%.0f Hz passes at %+.2f dB, want within ±%.1f dB", f, gain, maxPassbandDeviationDB)
			}
			if rest > -minRejectionDB {
				t.Errorf("%.0f Hz leaves a residual of %.1f dB besides the delayed tone, want <= -%.0f dB", f, rest, minRejectionDB)
			}
		}
	})
}

func TestResamplerRemovesTonesAboveTheNewNyquist(t *testing.T) {
	runResamplerCases(t, func(t *testing.T, c resamplerCase, newR func() *Resampler) {
		for _, f := range c.stop {
			r := newR()
			in := toInt16(tone(c.in/2, c.in, f, math.MaxInt16, 0))
			out := steady(r, r.Process(in))
			level := dB(rms(out) / rms(in))
			t.Logf("%.0f Hz: %.1f dB", f, level)
			if level > -minRejectionDB {
				t.Errorf("%.0f Hz comes through at %.1f dB, want <= -%.0f dB", f, level, minRejectionDB)
			}
		}
	})
}

// TestResamplerStopbandIsBelow90dB sweeps the filter's response, rebuilt
// from the quantised table, over the whole band where aliases (downsampling)
// or images (upsampling) come from: from the lower Nyquist frequency to the
// higher one; for the half-band interpolator from the first image of the
// passband edge (4.6 kHz from 8 kHz) up.
func TestResamplerStopbandIsBelow90dB(t *testing.T) {
	for _, c := range resamplerCases {
		r := newTestResampler(t, c.in, c.out)
		if r.taps == 0 {
			continue
		}
		from := float64(min(c.in, c.out)) / 2
		if r.halfBand {
			from = float64(c.in) * (1 - resamplerPassFraction/2)
		}
		proto := prototype(r)
		for i := range proto {
			proto[i] /= float64(r.l)
		}
		fu := float64(r.l * r.inRate)
		worst, at := math.Inf(-1), 0.0
		for f := from; f <= float64(max(c.in, c.out))/2; f += 10 {
			// Evaluate the DTFT with a rotating phasor rather than a sin and
			// cos per tap.
			step := complex(math.Cos(2*math.Pi*f/fu), -math.Sin(2*math.Pi*f/fu))
			var z complex128
			w := complex(1, 0)
			for _, v := range proto {
				z += complex(v, 0) * w
				w *= step
			}
			if db := dB(math.Hypot(real(z), imag(z))); db > worst {
				worst, at = db, f
			}
		}
		t.Logf("%s: %d taps, worst stopband %.1f dB at %.0f Hz", c.name, r.taps, worst, at)
		if worst > -minStopbandDB {
			t.Errorf("%s: stopband reaches %.1f dB at %.0f Hz, want <= -%.0f dB", c.name, worst, at, minStopbandDB)
		}
	}
}

func TestResamplerOutputDoesNotDependOnHowInputIsSplit(t *testing.T) {
	speech := speech16k(t)[:20000]
	sizes := []int{0, 1, 7, 160, 3, 320, 2, 999, 1, 441}
	runResamplerCases(t, func(t *testing.T, c resamplerCase, newR func() *Resampler) {
		whole := slices.Clone(newR().Process(speech))
		r := newR()
		var split []int16
		for i, k := 0, 0; i < len(speech); k++ {
			n := min(sizes[k%len(sizes)], len(speech)-i)
			split = append(split, r.Process(speech[i:i+n])...)
			i += n
			// After n input samples in all, exactly ceil(n*out/in)
			// have come out, like the RTP clock would count them.
			if want := (i*c.out + c.in - 1) / c.in; len(split) != want {
				t.Fatalf("after %d samples in, %d out; want %d", i, len(split), want)
			}
		}
		if !slices.Equal(whole, split) {
			t.Error("output of split input differs from output of the whole input")
		}
		r.Reset()
		if again := r.Process(speech); !slices.Equal(again, whole) {
			t.Error("after Reset the output differs from a fresh resampler's")
		}
	})
}

func TestResamplerSteadyStateDoesNotAllocate(t *testing.T) {
	runResamplerCases(t, func(t *testing.T, c resamplerCase, newR func() *Resampler) {
		r := newR()
		in := toInt16(tone(c.in/50, c.in, 1000, 10000, 0))
		r.Process(in)
		if allocs := testing.AllocsPerRun(100, func() { r.Process(in) }); allocs != 0 {
			t.Errorf("Process allocates %.1f times per call", allocs)
		}
	})
}

func TestNewResamplerRejectsBadRates(t *testing.T) {
	for _, tc := range []struct {
		in, out int
		want    string
	}{
		{0, 16000, "resampler input rate 0 Hz is outside 1..384000"},
		{16000, -1, "resampler output rate -1 Hz is outside 1..384000"},
		{384001, 16000, "resampler input rate 384001 Hz"},
		{44101, 16000, "resample 44101 Hz to 16000 Hz: 8000 phases of 223 taps exceed the 32768-coefficient limit"},
	} {
		r, err := NewResampler(tc.in, tc.out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewResampler(%d, %d) = %v, %v; want error %q", tc.in, tc.out, r, err, tc.want)
		}
	}
}

func TestResamplerPhasesHaveUnityGain(t *testing.T) {
	for _, c := range resamplerCases {
		r := newTestResampler(t, c.in, c.out)
		if r.taps == 0 {
			continue // pass-through has no filter
		}
		h := prototype(r)
		for p := range r.l {
			var sum float64
			for k := range r.taps {
				sum += h[p+k*r.l]
			}
			if math.Abs(sum-1) > 1e-6 {
				t.Errorf("%s: phase %d sums to %v, want 1", c.name, p, sum)
			}
		}
	}
}

// prototype rebuilds the filter at L×inRate, scaled to unity gain, from the
// stored half of its phases.
func prototype(r *Resampler) []float64 {
	h := make([]float64, r.l*r.taps)
	if r.halfBand {
		for k := range r.taps {
			h[2*k] = float64(r.coefs[k])
		}
		h[r.taps-1] = 1
		return h
	}
	for p := range r.l {
		for k := range r.taps {
			if p < r.stored {
				h[p+k*r.l] = float64(r.coefs[p*r.taps+r.taps-1-k])
			} else {
				h[p+k*r.l] = float64(r.coefs[(r.l-1-p)*r.taps+k])
			}
		}
	}
	return h
}

// BenchmarkResampler measures the dot product NewResampler chose;
// BenchmarkResamplerPureGo the pure Go one of CPUs without AVX2 and FMA.
func BenchmarkResampler(b *testing.B) { benchmarkResampler(b, false) }

func BenchmarkResamplerPureGo(b *testing.B) { benchmarkResampler(b, true) }

func benchmarkResampler(b *testing.B, pureGo bool) {
	for _, c := range resamplerCases {
		b.Run(c.name, func(b *testing.B) {
			r := newTestResamplerImpl(b, c.in, c.out, pureGo)
			in := toInt16(tone(c.in/50, c.in, 1000, 10000, 0)) // 20 ms
			r.Process(in)                                      // sizes the buffers; b.Loop starts counting after
			b.ReportAllocs()
			for b.Loop() {
				r.Process(in)
			}
		})
	}
}
