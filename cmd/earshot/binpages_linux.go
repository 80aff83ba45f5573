package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimBinaryPages advises random access on the executable's read-only
// mappings (its text and read-only data), so that a later fault maps the
// page touched and reads nothing ahead, then pages them out: the kernel
// drops them from this process and, where no other process maps them,
// from the page cache. What the process runs next faults back in a page at
// a time. Writable mappings (data, bss) are left alone.
//
// The kernel pages out a file's pages only for a process that may write
// the file (its owner, or a capable user such as root); otherwise
// MADV_PAGEOUT does nothing and After stays near Before. Nor does it page
// out dirty pages: the executable is synced first.
func trimBinaryPages() (binTrim, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return binTrim{}, fmt.Errorf("trim executable: %w", err)
	}
	// Dirty pages are not paged out: a binary written moments before (a
	// fresh deployment) would keep them. Writing it out first costs
	// nothing when it is clean; if it fails, the trim does what it can.
	if f, err := os.Open("/proc/self/exe"); err == nil {
		_ = f.Sync()
		f.Close()
	}
	before, err := exeMappings(exe)
	if err != nil {
		return binTrim{}, err
	}
	if len(before) == 0 {
		return binTrim{}, fmt.Errorf("trim executable: no read-only mapping of %s in /proc/self/smaps", exe)
	}
	tr := binTrim{Mappings: len(before)}
	for _, m := range before {
		tr.Before += m.rss
		for _, advice := range []uintptr{unix.MADV_RANDOM, unix.MADV_PAGEOUT} {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, advice); errno != 0 {
				return tr, fmt.Errorf("trim executable: madvise(%#x-%#x, %d): %w", m.start, m.end, advice, errno)
			}
		}
	}
	after, err := exeMappings(exe)
	if err != nil {
		return tr, err
	}
	for _, m := range after {
		tr.After += m.rss
	}
	return tr, nil
}

// mapping is one read-only mapping of the executable.
type mapping struct {
	start, end uintptr
	rss        int64 // resident bytes
}

// exeMappings reads the read-only mappings of the file exe, with their
// resident bytes, from /proc/self/smaps.
func exeMappings(exe string) ([]mapping, error) {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return nil, fmt.Errorf("trim executable: %w", err)
	}
	return parseExeMappings(b, exe)
}

// parseExeMappings is exeMappings on smaps' text.
func parseExeMappings(smaps []byte, exe string) ([]mapping, error) {
	var (
		out []mapping
		cur *mapping // the executable's mapping being read, or nil
	)
	s := bufio.NewScanner(bytes.NewReader(smaps))
	for s.Scan() {
		line := s.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if rng, ok := strings.CutSuffix(f[0], ":"); ok {
			// "Rss:   1234 kB" and the other fields of the current mapping.
			if rng == "Rss" && cur != nil && len(f) >= 2 {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					return nil, fmt.Errorf("trim executable: smaps line %q: %w", line, err)
				}
				cur.rss = kb << 10
			}
			continue
		}
		// A mapping's header: "start-end perms offset dev inode [path]".
		cur = nil
		if len(f) < 6 || strings.Join(f[5:], " ") != exe || strings.Contains(f[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			return nil, fmt.Errorf("trim executable: smaps header %q", line)
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("trim executable: smaps header %q", line)
		}
		out = append(out, mapping{start: uintptr(start), end: uintptr(end)})
		cur = &out[len(out)-1]
	}
	return out, s.Err()
}
