package harness

import "testing"

// TestDecodeOnlyCPU: decoding a camera's audio costs something and far
// less than real time (a 20 ms Opus frame decodes in tens of µs, 0.1% of a
// core; G.711's Go resampler is slower under -race), and a mix is the mean
// of its streams.
func TestDecodeOnlyCPU(t *testing.T) {
	cost := func(codecs ...string) float64 {
		t.Helper()
		var streams []plannedStream
		for _, c := range codecs {
			streams = append(streams, plannedStream{Name: c, Codec: c})
		}
		v, err := decodeOnlyCPU(streams)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	opus, pcma := cost("opus"), cost("pcma")
	if opus <= 0 || pcma <= 0 || opus > 0.05 || pcma > 0.05 {
		t.Fatalf("decode-only opus %.5f, pcma %.5f cores per stream; want both above 0 and far below real time", opus, pcma)
	}
	if mix := cost("opus", "pcma"); mix < min(opus, pcma)/2 || mix > 2*max(opus, pcma) {
		t.Errorf("decode-only of one opus and one pcma stream %.5f, want their mean (%.5f, %.5f)", mix, opus, pcma)
	}
	if _, err := decodeOnlyCPU([]plannedStream{{Name: "x", Codec: "nonesuch"}}); err == nil {
		t.Error("an unknown codec measured without error")
	}
	t.Logf("decode-only: opus %.4f%%, pcma %.4f%% of a core per stream", 100*opus, 100*pcma)
}
