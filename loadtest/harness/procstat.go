package harness

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space on every architecture.
const userHZ = 100

// procSample is a process's resource use at a moment.
type procSample struct {
	At  time.Time
	CPU time.Duration // user + system CPU time since the process started
	RSS int64         // resident set size, bytes
	PSS int64         // proportional set size, bytes; 0 without smaps_rollup
	// PSSAnon is the anonymous part of PSS (heap, stacks, C heap), bytes;
	// the rest is files mapped: the executable and its libraries.
	PSSAnon int64
}

// readProc reads the CPU time of process pid (user + system, from
// /proc/PID/stat), its resident set size (VmRSS, from /proc/PID/status)
// and, where the kernel has it, its proportional set size (Pss, from
// /proc/PID/smaps_rollup).
func readProc(pid int) (procSample, error) {
	now := time.Now()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	rss, err := parseKB(status, "VmRSS:")
	if err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	var pss, anon int64
	if rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		pss, _ = parseKB(rollup, "Pss:")
		anon, _ = parseKB(rollup, "Pss_Anon:")
	}
	return procSample{At: now, CPU: cpu, RSS: rss, PSS: pss, PSSAnon: anon}, nil
}

// parseStatCPU returns utime + stime from the contents of /proc/PID/stat.
// The command name, in parentheses, may hold spaces and parentheses: the
// fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name")
	}
	// After ") ": state (field 3), ... utime (14), stime (15).
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want 13 or more", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time %q: %w", s, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// parseKB returns the field named name ("VmRSS:", "Pss:"), in kB in the
// file, in bytes, from /proc/PID/status or /proc/PID/smaps_rollup.
func parseKB(file []byte, name string) (int64, error) {
	for line := range strings.SplitSeq(string(file), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s %q", name, rest)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", name, rest, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s", strings.TrimSuffix(name, ":"))
}
