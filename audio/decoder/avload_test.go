package decoder

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLibavIsLoadedOnFirstUse runs in a child process, which starts without
// libavcodec mapped, still has none after decoding G.711 and Opus, and
// maps libavcodec and libavutil once it opens an AAC decoder (issue 14).
func TestLibavIsLoadedOnFirstUse(t *testing.T) {
	if os.Getenv("EARSHOT_LIBAV_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLibavIsLoadedOnFirstUse$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "EARSHOT_LIBAV_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestLibavIsLoadedOnFirstUse") {
			t.Fatalf("child did not run the test:\n%s", out)
		}
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
	tb.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		tb.Fatal(err)
	}
	var libs []string
	for l := range strings.Lines(string(maps)) {
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		name := filepath.Base(f[5])
		if (strings.HasPrefix(name, "libavcodec.so") || strings.HasPrefix(name, "libavutil.so")) && !slices.Contains(libs, name) {
			libs = append(libs, name)
		}
	}
	slices.Sort(libs)
	return libs
}
