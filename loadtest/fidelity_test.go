package loadtest

import (
	"math/rand/v2"
	"testing"
)

func TestFidelityFindsTheLagAndRejectsMistakes(t *testing.T) {
	srv, err := NewServer(ServerConfig{Streams: []StreamSpec{{Name: "a", Codec: "pcma"}}})
	if err != nil {
		t.Fatal(err)
	}
	clip := srv.Clip()
	// A 2 s window that wraps around the end of the loop.
	const lag = 3*16000 + 1234
	got := make([]int16, 2*16000)
	for i := range got {
		got[i] = clip[(lag+i)%len(clip)]
	}
	noisy := make([]int16, len(got))
	rng := rand.New(rand.NewPCG(1, 2))
	for i, v := range got {
		noisy[i] = v + int16(rng.IntN(201)-100)
	}
	swapped := make([]int16, len(got))
	for i, v := range got {
		swapped[i] = int16(uint16(v)>>8 | uint16(v)<<8)
	}
	halfRate := make([]int16, len(got))
	for i := range halfRate {
		halfRate[i] = clip[(lag+2*i)%len(clip)]
	}
	cases := []struct {
		name     string
		got      []int16
		min, max float64
	}{
		{"exact copy", got, 0.999, 1},
		{"copy with noise", noisy, 0.95, 1},
		{"byte-swapped", swapped, -1, 0.3},
		{"played at twice the rate", halfRate, -1, 0.5},
	}
	for _, tc := range cases {
		c, l := Fidelity(tc.got, clip)
		if c < tc.min || c > tc.max {
			t.Errorf("%s: correlation %.3f outside [%.2f, %.2f]", tc.name, c, tc.min, tc.max)
		}
		if tc.min > 0.9 && l != lag {
			t.Errorf("%s: lag %d, want %d", tc.name, l, lag)
		}
	}
}
