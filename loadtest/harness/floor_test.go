package harness

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// floorReadersCommand runs this test binary as Floor's readers.
func floorReadersCommand(o FloorOptions, urls []string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), floorReadersEnv+"="+strings.Join(urls, " "),
		floorReadersEnv+"_DECODE="+strconv.FormatBool(o.Decode),
		floorReadersEnv+"_COALESCE="+o.ReadCoalesce.String())
	cmd.Stderr = os.Stderr
	return cmd
}

func TestFloorMeasuresItsReaders(t *testing.T) {
	const packet = 20 * time.Millisecond // loadtest.ServerConfig's default
	for _, tc := range []struct {
		codec  string
		decode bool
	}{
		{"pcma", false},
		{"opus", true},
	} {
		t.Run(tc.codec, func(t *testing.T) {
			o := FloorOptions{Streams: 2, Codec: tc.codec, Decode: tc.decode, ReadCoalesce: 60 * time.Millisecond,
				Warmup: 500 * time.Millisecond, Window: time.Second}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			res, err := Floor(ctx, o, floorReadersCommand)
			elapsed := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			// Every stream played through the warmup and the window, and
			// none received more than the cameras' clock allows.
			lo := uint64(o.Streams) * uint64((o.Warmup+o.Window)/packet) / 2
			hi := uint64(o.Streams) * (uint64(elapsed/packet) + 2)
			if res.Packets < lo || res.Packets > hi {
				t.Errorf("packets = %d, want %d..%d", res.Packets, lo, hi)
			}
			// /proc counts CPU time in 10 ms ticks: two light readers may
			// spend less than one in the window.
			if res.CPUPerStream < 0 || res.CPUPerStream > 1 {
				t.Errorf("CPU per stream = %g cores, want in [0, 1]", res.CPUPerStream)
			}
			if res.PSSAnon <= 0 || res.PSS <= res.PSSAnon {
				t.Errorf("PSS %d, of which anonymous %d: want both, and files mapped too", res.PSS, res.PSSAnon)
			}
		})
	}
}

// TestFloorEndsWithItsContext: a run whose context ends before the readers
// play returns the context's error, and its readers' process is gone (the
// test binary's goroutine check, and its end, would find them otherwise).
func TestFloorEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cmd *exec.Cmd
	_, err := Floor(ctx, FloorOptions{Streams: 1}, func(o FloorOptions, urls []string) *exec.Cmd {
		cmd = floorReadersCommand(o, urls)
		cancel()
		return cmd
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Floor = %v, want context.Canceled", err)
	}
	if cmd.ProcessState == nil {
		t.Fatal("Floor returned before its readers' process ended")
	}
}
