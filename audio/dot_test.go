package audio

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDotsFoldedMatchesDotSymmetric compares the assembly with the pure Go
// dotSymmetric for every filter length up to 300, odd and even, at several
// strides and offsets: within 1e-5 of the sum of |c[i]*x[i]| (FMA rounds
// differently). The samples around the windows are NaN, so that a read
// outside them would show as a NaN result.
func TestDotsFoldedMatchesDotSymmetric(t *testing.T) {
	if !haveDotFolded {
		t.Skip("no AVX2 and FMA on this CPU")
	}
	const windows = 5
	rng := rand.New(rand.NewPCG(1, 2))
	for taps := 1; taps <= 300; taps++ {
		c := make([]float32, taps)
		for i := range (taps + 1) / 2 {
			c[i] = float32(rng.Float64()*2 - 1)
			c[taps-1-i] = c[i]
		}
		f := foldSymmetric(c)
		if f == nil {
			if taps >= 14 {
				t.Fatalf("%d taps: foldSymmetric gave no table", taps)
			}
			continue
		}
		for stride := 1; stride <= 3; stride++ {
			for offset := range 9 {
				span := (windows-1)*stride + taps
				buf := make([]float32, offset+span+8)
				for i := range buf {
					buf[i] = float32(math.NaN())
				}
				x := buf[offset : offset+span]
				for i := range x {
					x[i] = float32(rng.IntN(65536) - 32768)
				}
				y := make([]float32, windows)
				dotsFolded(f, x, taps, stride, y)
				for j, got := range y {
					v := x[j*stride : j*stride+taps]
					want := dotSymmetric(c, v)
					var mag float64
					for i := range v {
						mag += math.Abs(float64(c[i]) * float64(v[i]))
					}
					if diff := math.Abs(float64(got) - float64(want)); !(diff <= 1e-5*mag) {
						t.Fatalf("%d taps, stride %d, offset %d, window %d: assembly %v, Go %v; differ by %.3g of the sum of |c·x| %.6g, want <= 1e-5",
							taps, stride, offset, j, got, want, diff/mag, mag)
					}
				}
			}
		}
	}
}

// TestDotsFoldedPanicsOutsideItsWindows checks that the Go wrapper refuses
// what would make the assembly read outside x.
func TestDotsFoldedPanicsOutsideItsWindows(t *testing.T) {
	f := make([]float32, 8)
	for _, tc := range []struct {
		name            string
		f               []float32
		n, taps, stride int
		windows         int
	}{
		{"a table that is no multiple of 8", f[:7], 20, 14, 1, 1},
		{"a table longer than the window", f, 20, 7, 1, 1},
		{"windows beyond x", f, 20, 16, 5, 2},
		{"a stride of 0", f, 20, 16, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("dotsFolded did not panic")
				}
			}()
			dotsFolded(tc.f, make([]float32, tc.n), tc.taps, tc.stride, make([]float32, tc.windows))
		})
	}
}

// TestResamplerDotImplsAgree runs speech through both dot products of
// every resampler: rounded to int16, their outputs differ by at most 1.
func TestResamplerDotImplsAgree(t *testing.T) {
	if !haveDotFolded {
		t.Skip("no AVX2 and FMA on this CPU")
	}
	speech := speech16k(t)[:20000]
	for _, c := range resamplerCases {
		chosen := newTestResamplerImpl(t, c.in, c.out, false).Process(speech)
		pureGo := newTestResamplerImpl(t, c.in, c.out, true).Process(speech)
		var differ int
		for i := range chosen {
			d := int(chosen[i]) - int(pureGo[i])
			if d != 0 {
				differ++
			}
			if d < -1 || d > 1 {
				t.Fatalf("%s: output %d is %d with the chosen dot product, %d in pure Go; want within 1",
					c.name, i, chosen[i], pureGo[i])
			}
		}
		t.Logf("%s: %d of %d outputs differ by 1", c.name, differ, len(chosen))
	}
}
