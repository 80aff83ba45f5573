package decoder

import (
	"strings"
	"testing"

	"github.com/earshot/earshot/loadtest/testkit"
)

// TestLibavIsLoadedOnFirstUse runs in a child process, which starts without
// libavcodec mapped, still has none after decoding G.711 and Opus, and
// maps libavcodec and libavutil once it opens an AAC decoder (issue 14).
func TestLibavIsLoadedOnFirstUse(t *testing.T) {
	if !testkit.InChild(t) {
		return
	}
	for _, name := range []string{"pcma at 8 kHz is upsampled to 16 kHz", "opus mono packets encoded at 16 kHz decode at 16 kHz"} {
		c := caseNamed(t, name)
		if n := len(decodeAll(t, c.format, c.outRate, c.packets(t)[:50])); n == 0 {
			t.Fatalf("%s: decoded nothing", name)
		}
	}
	if libs := libavMapped(t); len(libs) > 0 {
		t.Fatalf("mapped after decoding G.711 and Opus: %v, want no libav library", libs)
	}
	c := caseNamed(t, "aac 16 kHz mono, one access unit per packet")
	newTestDecoder(t, c.format, c.outRate)
	libs := libavMapped(t)
	if len(libs) != 2 || !strings.HasPrefix(libs[0], "libavcodec.so.") || !strings.HasPrefix(libs[1], "libavutil.so.") {
		t.Fatalf("mapped after opening an AAC decoder: %v, want libavcodec and libavutil", libs)
	}
}

// libavMapped returns the names of the libavcodec and libavutil files
// mapped into the process, sorted.
func libavMapped(tb testing.TB) []string {
	return testkit.MappedFiles(tb, func(name string) bool {
		return strings.HasPrefix(name, "libavcodec.so") || strings.HasPrefix(name, "libavutil.so")
	})
}
