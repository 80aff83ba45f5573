// Command floor measures the floor under earshot's cost: the pinned
// gortsplib client alone, reading synthetic cameras over loopback TCP with
// earshot's read coalescing, each packet decoded to 16 kHz by earshot's
// decoder or not, and nothing else. It serves the cameras itself, runs the
// readers in a child process and measures that process as `earshot
// loadtest` measures earshot: CPU over a window, PSS at its end.
//
//	go run ./loadtest/floor -streams 100 -codec opus -decode
//
// docs/performance.md (part 13) compares earshot with it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"time"

	"github.com/earshot/earshot/loadtest/harness"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	var o harness.FloorOptions
	fs.IntVar(&o.Streams, "streams", 100, "cameras read")
	fs.StringVar(&o.Codec, "codec", "pcma", "the cameras' codec")
	fs.BoolVar(&o.Decode, "decode", false, "decode each packet to 16 kHz")
	fs.DurationVar(&o.ReadCoalesce, "coalesce", 60*time.Millisecond, "wait before each read after PLAY (earshot's ingest.read_coalesce default)")
	fs.DurationVar(&o.Warmup, "warmup", 5*time.Second, "play this long before measuring")
	fs.DurationVar(&o.Window, "window", 30*time.Second, "measure CPU over this long")
	readers := fs.Bool("readers", false, "internal: be the readers' process, for the URLs given as arguments, until stdin closes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *readers {
		return harness.FloorReadersMain(fs.Args(), o.Decode, o.ReadCoalesce)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Warmup+o.Window+time.Minute)
	defer cancel()
	res, err := harness.Floor(ctx, o, func(o harness.FloorOptions, urls []string) *exec.Cmd {
		a := []string{"-readers", fmt.Sprintf("-decode=%t", o.Decode), "-coalesce", o.ReadCoalesce.String()}
		cmd := exec.Command(self, append(a, urls...)...)
		cmd.Stderr = os.Stderr
		return cmd
	})
	if err != nil {
		return err
	}
	fmt.Printf("floor streams=%d codec=%s decode=%t coalesce=%v cpu_per_stream=%.4f%% pss_per_stream_kib=%.0f pss_anon_per_stream_kib=%.0f packets=%d\n",
		res.Streams, o.Codec, o.Decode, o.ReadCoalesce, 100*res.CPUPerStream,
		float64(res.PSS)/1024/float64(res.Streams), float64(res.PSSAnon)/1024/float64(res.Streams), res.Packets)
	return nil
}
