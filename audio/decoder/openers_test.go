package decoder

import (
	"testing"

	"github.com/earshot/earshot/audio"
)

// TestEveryRegistryCodecHasADecoder holds the opener table to the
// registry, both ways, and checks that each codec's decoder cases exist.
func TestEveryRegistryCodecHasADecoder(t *testing.T) {
	open := openers()
	cased := make(map[string]bool)
	for _, c := range decoderCases {
		cased[c.format.Codec] = true
	}
	for _, name := range audio.Codecs() {
		if open[name] == nil {
			t.Errorf("registry codec %q has no opener", name)
		}
		if !cased[name] {
			t.Errorf("registry codec %q has no decoderCases entry", name)
		}
		delete(open, name)
	}
	for name := range open {
		t.Errorf("opener for %q, which is not in the registry", name)
	}
}
