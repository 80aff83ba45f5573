package harness

import (
	"os"
	"testing"
	"time"
)

func TestProcParsing(t *testing.T) {
	// A command name with spaces and parentheses; utime 250, stime 50 ticks.
	stat := []byte("1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 8 0 100 1000000 2000 18446744073709551615")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3*time.Second {
		t.Errorf("cpu %v %v, want 3s", cpu, err)
	}
	rss, err := parseKB([]byte("Name:\tearshot\nVmPeak:\t  1000 kB\nVmRSS:\t   2048 kB\nThreads:\t8\n"), "VmRSS:")
	if err != nil || rss != 2<<20 {
		t.Errorf("rss %d %v, want 2 MiB", rss, err)
	}
	if _, err := parseKB([]byte("Name:\tzombie\n"), "VmRSS:"); err == nil {
		t.Error("no VmRSS: no error")
	}
	pss, err := parseKB([]byte("55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:\t  4096 kB\nPss:\t  1024 kB\nPss_Anon:\t 512 kB\n"), "Pss:")
	if err != nil || pss != 1<<20 {
		t.Errorf("pss %d %v, want 1 MiB (not Pss_Anon)", pss, err)
	}
	self, err := readProc(os.Getpid())
	if err != nil || self.RSS <= 0 || self.PSS <= 0 {
		t.Errorf("this process: %+v %v", self, err)
	}
}
