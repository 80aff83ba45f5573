package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/earshot/earshot/sink"
)

// Exit statuses of `earshot run`.
const (
	exitDelivered = 0 // stopped with everything delivered
	exitFailed    = 1 // records lost (with or without sink_drop gaps), or another failure
	exitConfig    = 2 // bad configuration (or a missing topic): nothing ran
	exitSpooled   = 3 // stopped with records left in the spool, delivered at the next start
)

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "run --config FILE", stderr)
	path := fs.String("config", "earshot.yaml", "YAML configuration `file`; SIGHUP reloads its streams")
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
	var wg sync.WaitGroup
	wg.Go(func() { reloadOnHUP(ctx, *path, cfg, svc, log) })
	defer func() { stop(); wg.Wait() }()

	log.Info("earshot running", "streams", len(cfg.Streams), "topic", cfg.Kafka.Topic, "gc_percent", svc.gcPercentText(), "admin", svc.AdminAddr())
	return exitStatus(svc.Run(ctx), log)
}

// exitStatus logs how the service stopped and returns the exit status.
func exitStatus(err error, log *slog.Logger) int {
	var undelivered *sink.UndeliveredError
	switch {
	case err == nil:
		log.Info("earshot stopped, everything delivered")
		return exitDelivered
	case errors.Is(err, errTopicMissing), errors.Is(err, errFleet):
		log.Error("earshot cannot start", "err", err)
		return exitConfig
	case errors.As(err, &undelivered) && undelivered.Lost == 0 && undelivered.Dropped == 0:
		log.Error("earshot stopped with records left in the spool; they are delivered at the next start",
			"records", undelivered.Spooled, "bytes", undelivered.SpooledBytes, "spool", undelivered.Dir, "err", err)
		return exitSpooled
	}
	if undelivered != nil {
		log.Error("earshot stopped; records were lost", "dropped_with_gaps", undelivered.Dropped, "lost_without_gaps", undelivered.Lost,
			"left_in_spool", undelivered.Spooled, "err", err)
		return exitFailed
	}
	log.Error("earshot stopped with an error", "err", err)
	return exitFailed
}

// reloadOnHUP reloads the configuration file's streams on each SIGHUP
// until ctx is done. A file that does not load changes nothing.
func reloadOnHUP(ctx context.Context, path string, cfg *Config, svc *service, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		next, err := loadConfigFile(path)
		if err != nil {
			log.Error("reload refused; keeping the running configuration", "err", err)
			continue
		}
		ch, err := svc.Reload(ctx, cfg, next)
		log.Info("configuration reloaded", "added", ch.Added, "removed", ch.Removed, "restarted", ch.Restarted, "unchanged", len(ch.Unchanged), "err", err)
		cfg = next
	}
}
