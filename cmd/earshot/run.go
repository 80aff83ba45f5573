package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/earshot/earshot/sink"
)

// Exit statuses of `earshot run`.
const (
	exitDelivered = 0 // stopped with everything delivered
	exitFailed    = 1 // records lost, or another failure
	exitConfig    = 2 // bad configuration: nothing ran
	exitSpooled   = 3 // stopped with records left in the spool, delivered at the next start
)

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "run --config FILE", stderr)
	path := fs.String("config", "earshot.yaml", "YAML configuration `file`")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cfg, err := loadConfigFile(*path)
	if err != nil {
		fmt.Fprintf(stderr, "earshot: %v\n", err)
		return exitConfig
	}
	log := newLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first SIGTERM or SIGINT starts the drain; a second one kills the
	// process (what the spool already holds survives).
	context.AfterFunc(ctx, stop)
	svc, err := newService(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "earshot: %v\n", err)
		return exitConfig
	}
	log.Info("earshot running", "streams", len(cfg.Streams), "topic", cfg.Kafka.Topic)
	return exitStatus(svc.Run(ctx), log)
}

// exitStatus logs how the service stopped and returns the exit status.
func exitStatus(err error, log *slog.Logger) int {
	var undelivered *sink.UndeliveredError
	switch {
	case err == nil:
		log.Info("earshot stopped, everything delivered")
		return exitDelivered
	case errors.Is(err, errTopicMissing):
		log.Error("earshot cannot start", "err", err)
		return exitConfig
	case errors.As(err, &undelivered) && undelivered.Lost == 0:
		log.Error("earshot stopped with records left in the spool; they are delivered at the next start",
			"records", undelivered.Spooled, "bytes", undelivered.SpooledBytes, "spool", undelivered.Dir, "err", err)
		return exitSpooled
	}
	log.Error("earshot stopped with undelivered records", "err", err)
	return exitFailed
}
