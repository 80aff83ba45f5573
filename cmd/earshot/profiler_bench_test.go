package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest"
)

// Shape of BenchmarkProfilingOverhead's runs.
const (
	overheadStreams = 16
	overheadWarmup  = 2 * time.Second
	overheadWindow  = 10 * time.Second
	clockTicks      = 100 // USER_HZ: /proc's unit of CPU time
)

// BenchmarkProfilingOverhead measures what continuous profiling costs per
// stream: `earshot run` as a child process pulls 16 Opus cameras (served,
// with the broker, by this process), with profiling off, on (every
// profile type at the default rates, uploading every 5 s, three times the
// default rate, to a fake Pyroscope) and on without mutex and block
// profiles; the child's CPU time over 10 s is divided by the audio pulled.
// Each iteration takes about 15 s; run it as
//
//	go test -run '^$' -bench ProfilingOverhead -benchtime 1x -count 5 ./cmd/earshot
func BenchmarkProfilingOverhead(b *testing.B) {
	var specs []loadtest.StreamSpec
	for i := range overheadStreams {
		specs = append(specs, loadtest.StreamSpec{Name: fmt.Sprintf("cam-%02d", i), Codec: audio.CodecOpus})
	}
	for _, c := range []struct {
		name      string
		profiling string // the profiling section, %s for the server's address
	}{
		{"off", ""},
		{"on", "profiling:\n  server_address: %s\n  upload_rate: 5s\n"},
		{"on-without-mutex-and-block", "profiling:\n  server_address: %s\n  upload_rate: 5s\n  mutex_profile_fraction: -1\n  block_profile_rate: -1s\n"},
	} {
		b.Run("profiling="+c.name, func(b *testing.B) {
			extra := ""
			if c.profiling != "" {
				extra = fmt.Sprintf(c.profiling, newFakePyroscope(b).URL)
			}
			e := newProcessEnvFor(b, 5*time.Second, specs, extra)
			var cpu time.Duration
			for range b.N {
				cpu += childCPU(b, e)
			}
			b.ReportMetric(float64(cpu.Microseconds())/1e3/(float64(b.N)*overheadStreams*overheadWindow.Seconds()), "cpu-ms/stream-s")
		})
	}
}

// childCPU runs earshot until every stream is connected and overheadWarmup
// has passed, and returns the CPU time it used in the next overheadWindow.
func childCPU(b *testing.B, e *processEnv) time.Duration {
	c := e.start(b)
	c.waitLog(b, "stream connected", overheadStreams)
	<-time.After(overheadWarmup)
	before := procCPU(b, c.cmd.Process.Pid)
	<-time.After(overheadWindow) // the measurement window
	used := procCPU(b, c.cmd.Process.Pid) - before
	if code := c.stop(b, syscall.SIGTERM); code != exitDelivered {
		b.Fatalf("earshot exited with %d; logs:\n%s", code, c.logs)
	}
	return used
}

// procCPU returns the user and system CPU time of process pid so far.
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which may hold spaces: state is
	// field 3, utime 14 and stime 15.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatalf("/proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}
