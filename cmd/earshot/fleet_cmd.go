package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/earshot/earshot/ingest/fleet"
)

const fleetUsage = `Usage:
  earshot fleet init   [--config FILE] [--brokers H:P] --partitions N   create the registry and status topics (compacted)
  earshot fleet status [--config FILE] [--brokers H:P]                  print instances, partitions and stream counts
`

// fleetCmd runs `earshot fleet init|status`.
func fleetCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, fleetUsage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "init":
		return fleetInitCmd(ctx, args[1:], stdout, stderr)
	case "status":
		return fleetStatusCmd(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, fleetUsage)
		return 0
	}
	fmt.Fprintf(stderr, "earshot fleet: unknown command %q\n\n%s", args[0], fleetUsage)
	return 2
}

// loadFleetConfig returns the fleet configuration of the file at path
// (none if ""), with brokers overriding its brokers.
func loadFleetConfig(path, brokers string) (fleet.Config, error) {
	var fc fleet.Config
	if path != "" {
		cfg, err := loadConfigFile(path)
		if err != nil {
			return fc, err
		}
		if fc, err = cfg.fleetConfig(nil); err != nil {
			return fc, err
		}
	}
	if brokers != "" {
		fc.Brokers = strings.Split(brokers, ",")
	}
	if len(fc.Brokers) == 0 {
		return fc, fmt.Errorf("missing --brokers or --config")
	}
	return fc, nil
}

func fleetInitCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("fleet init", "fleet init [--config FILE] [--brokers H:P] --partitions N", stderr)
	config := fs.String("config", "", "earshot YAML `file` whose kafka and fleet sections to use")
	brokers := fs.String("brokers", "", "comma-separated Kafka `brokers` (override --config)")
	partitions := fs.Int("partitions", 0, "registry partitions: 4 times the most instances you will ever run, or more; it never changes (required)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *partitions <= 0 {
		fmt.Fprintln(stderr, "earshot fleet init: missing --partitions N")
		return 2
	}
	fc, err := loadFleetConfig(*config, *brokers)
	if err != nil {
		fmt.Fprintf(stderr, "earshot fleet init: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rep, err := fleet.Init(ctx, fc, *partitions)
	fmt.Fprintln(stdout, rep)
	if err != nil {
		fmt.Fprintf(stderr, "earshot %v\n", err)
		return 1
	}
	return 0
}

func fleetStatusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("fleet status", "fleet status [--config FILE] [--brokers H:P]", stderr)
	config := fs.String("config", "", "earshot YAML `file` whose kafka and fleet sections to use")
	brokers := fs.String("brokers", "", "comma-separated Kafka `brokers` (override --config)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fc, err := loadFleetConfig(*config, *brokers)
	if err != nil {
		fmt.Fprintf(stderr, "earshot fleet status: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	reg, err := fleet.OpenRegistry(ctx, fc)
	if err != nil {
		fmt.Fprintf(stderr, "earshot %v\n", err)
		return 1
	}
	defer reg.Close()
	streams, bad, err := reg.List(ctx)
	if err == nil {
		var sts []fleet.Status
		if sts, err = reg.Instances(ctx); err == nil {
			printFleetStatus(stdout, reg.Partitions(), streams, bad, sts, time.Now())
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "earshot fleet status: %v\n", err)
		return 1
	}
	return 0
}

// printFleetStatus prints the registry's size and one line per instance.
func printFleetStatus(w io.Writer, partitions int, streams []fleet.Entry, bad int, sts []fleet.Status, now time.Time) {
	perPart := make(map[int32]int)
	for _, e := range streams {
		perPart[e.Partition]++
	}
	owners := fleet.Owners(sts)
	fmt.Fprintf(w, "registry: %d partitions, %d streams", partitions, len(streams))
	if bad > 0 {
		fmt.Fprintf(w, ", %d records that do not parse", bad)
	}
	orphans := 0
	for p, n := range perPart {
		if owners[p] == "" {
			orphans += n
		}
	}
	fmt.Fprintf(w, ", %d on partitions no instance lists\n", orphans)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tPARTITIONS\tSTREAMS\tRUNNING\tSTATUS AGE\tFENCED\tADVERTISE")
	for _, st := range sts {
		n := 0
		for _, p := range st.Partitions {
			n += perPart[p]
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%v\t%s\n", st.Instance, len(st.Partitions), n, st.Streams, now.Sub(st.Time).Round(100*time.Millisecond), st.Fenced, st.Advertise)
	}
	tw.Flush()
}
