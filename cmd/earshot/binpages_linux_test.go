package main

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// smapsCases are /proc/self/smaps excerpts and the read-only mappings of
// the executable /opt/earshot bin/earshot in them.
var smapsCases = []struct {
	name  string
	smaps string
	want  []mapping
}{
	{
		name: "text, rodata and data of the executable among others",
		smaps: `00400000-00403000 r--p 00000000 fe:00 123 /opt/earshot bin/earshot
Size:                 12 kB
Rss:                  12 kB
00403000-00f52000 r-xp 00003000 fe:00 123 /opt/earshot bin/earshot
Size:              11580 kB
Rss:                8316 kB
VmFlags: rd ex mr mw me
00f52000-01bb0000 r--p 00b52000 fe:00 123 /opt/earshot bin/earshot
Rss:                9608 kB
01bb0000-01bb1000 rw-p 017b0000 fe:00 123 /opt/earshot bin/earshot
Rss:                   4 kB
01bb1000-01c00000 rw-p 00000000 00:00 0
Rss:                 300 kB
7f0000000000-7f0000100000 r-xp 00000000 fe:00 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1152 kB
`,
		want: []mapping{
			{start: 0x400000, end: 0x403000, rss: 12 << 10},
			{start: 0x403000, end: 0xf52000, rss: 8316 << 10},
			{start: 0xf52000, end: 0x1bb0000, rss: 9608 << 10},
		},
	},
	{
		name:  "no mapping of the executable",
		smaps: "7f0000000000-7f0000100000 r-xp 00000000 fe:00 99 /usr/lib/libc.so.6\nRss: 4 kB\n",
	},
}

func TestParseExeMappings(t *testing.T) {
	for _, tc := range smapsCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseExeMappings([]byte(tc.smaps), "/opt/earshot bin/earshot")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d mappings %+v, want %+v", len(got), got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("mapping %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestParseExeMappingsRefusesABadHeader(t *testing.T) {
	_, err := parseExeMappings([]byte("zz-00403000 r-xp 0 fe:00 1 /x\n"), "/x")
	if err == nil {
		t.Fatal("a header whose range is not hex parsed")
	}
}

// TestTrimBinaryPagesGivesBackResidentPages trims this test binary: its
// read-only mappings hold fewer resident pages after, and the code that
// runs next (this test's) faults back in.
func TestTrimBinaryPagesGivesBackResidentPages(t *testing.T) {
	tr, err := trimBinaryPages()
	if errors.Is(err, unix.EINVAL) {
		t.Skipf("this kernel has no MADV_PAGEOUT: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if tr.Mappings < 2 {
		t.Errorf("%d read-only mappings of the executable, want text and read-only data at least", tr.Mappings)
	}
	// go test built this binary as the user running it, who may write it:
	// the kernel pages it out.
	if tr.Before == 0 || tr.After >= tr.Before/2 {
		t.Errorf("resident %d KiB before the trim, %d KiB after: want less than half", tr.Before>>10, tr.After>>10)
	}
	t.Logf("resident %d KiB before, %d KiB after, in %d mappings", tr.Before>>10, tr.After>>10, tr.Mappings)
}

func TestMemoryTrimAfterDefaults(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{{"0s", "10s"}, {"-1s", "0s"}, {"3m", "3m0s"}} {
		d, err := time.ParseDuration(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := (MemoryConfig{TrimBinaryAfter: d}).trimAfter().String(); got != tc.want {
			t.Errorf("trim_binary_after %s: got %s, want %s", tc.in, got, tc.want)
		}
	}
}
