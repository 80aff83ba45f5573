package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

const usage = `earshot pulls live audio from RTSP sources, decodes it to PCM and produces it to Kafka.

Usage:
  earshot run  --config earshot.yaml          run the service
  earshot demo [--duration 10s] [--out DIR]   run the full path on embedded cameras and Kafka, write WAVs
  earshot tap  [--config FILE] --brokers H:P --topic T --out DIR [--duration D]
                                              consume a topic and write one WAV per stream and epoch
  earshot fleet init|status [--config FILE] [--brokers H:P] [--partitions N]
                                              create the fleet's topics; print its instances
  earshot loadtest [--scenario smoke|soak|faults|capacity|FILE] [--out DIR]
                   [--baseline BIN --canary BIN] [--capacity]
                                              stress a build with synthetic cameras and faults, verify
                                              every second end to end, report; A/B verdicts

Run 'earshot COMMAND --help' for a command's flags.
`

// cli runs one subcommand and returns the process exit status: 0 success,
// 1 failure, 2 bad usage or configuration.
func cli(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) int{
		"run":      runCmd,
		"demo":     demoCmd,
		"tap":      tapCmd,
		"loadtest": loadtestCmd, // usage: loadtest.go
		"fleet":    fleetCmd,    // usage: fleet_cmd.go
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "earshot: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cmd(args[1:], stdout, stderr)
}

// newFlagSet returns a flag set whose --help prints synopsis and flags.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: earshot %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; it returns the exit status to use and false when
// the command must stop (--help or a bad flag).
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	case err != nil:
		return 2, false
	case fs.NArg() > 0:
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2, false
	}
	return 0, true
}

// newLogger builds the process logger from the log configuration.
func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
