package audio

import "testing"

// TestRegistryEntriesAreComplete: every entry can be identified from SDP,
// has a fidelity mark and a unique name; the framed codecs (AAC, MPEG
// audio, AMR) have a depacketizer, and those but AAC tell the duration of
// their access units.
// The decoder and encoder tables are held to the registry by
// audio/decoder's and loadtest's tests.
func TestRegistryEntriesAreComplete(t *testing.T) {
	seen := make(map[string]bool)
	for _, c := range registry() {
		switch {
		case c.Name == "" || seen[c.Name]:
			t.Errorf("entry %+v: empty or repeated name", c)
		case c.Encoding == "" || c.identify == nil:
			t.Errorf("%s: no SDP encoding or identify function", c.Name)
		case c.Fidelity <= 0.5 || c.Fidelity >= 1:
			t.Errorf("%s: fidelity mark %v outside (0.5, 1)", c.Name, c.Fidelity)
		case (c.Name == CodecAAC || c.Name == CodecAACLATM || c.Name == CodecMPA || c.Name == CodecAMR || c.Name == CodecAMRWB) != c.NeedsDepacketizer():
			t.Errorf("%s: NeedsDepacketizer = %v", c.Name, c.NeedsDepacketizer())
		case (c.accessUnit != nil) != (c.NeedsDepacketizer() && c.Name != CodecAAC && c.Name != CodecAACLATM):
			t.Errorf("%s: access unit durations %v", c.Name, c.accessUnit != nil)
		}
		seen[c.Name] = true
		if got, ok := LookupCodec(c.Name); !ok || got.Name != c.Name {
			t.Errorf("LookupCodec(%q) = %v, %v", c.Name, got.Name, ok)
		}
	}
	if len(Codecs()) != len(seen) {
		t.Errorf("Codecs() lists %d names, registry has %d", len(Codecs()), len(seen))
	}
	if _, ok := LookupCodec("mp3"); ok {
		t.Error("LookupCodec found mp3")
	}
}

// TestRegistryMarks pins the fidelity marks the harness and the end-to-end
// test judge by.
func TestRegistryMarks(t *testing.T) {
	for name, want := range map[string]float64{CodecOpus: 0.8, CodecPCMA: 0.95, CodecPCMU: 0.95, CodecL16: 0.98,
		CodecAAC: 0.95, CodecAACLATM: 0.95, CodecG722: 0.98, "g726-16": 0.9, "aal2-g726-16": 0.9, "g726-40": 0.93, "aal2-g726-24": 0.93,
		CodecMPA: 0.9, CodecAMR: 0.8, CodecAMRWB: 0.9} {
		if c, _ := LookupCodec(name); c.Fidelity != want {
			t.Errorf("%s: fidelity mark %v, want %v", name, c.Fidelity, want)
		}
	}
}
