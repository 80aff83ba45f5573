package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
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
		return 2
	}
	log := newLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc, err := newService(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "earshot: %v\n", err)
		return 2
	}
	var wg sync.WaitGroup
	wg.Go(func() { reloadOnHUP(ctx, *path, cfg, svc, log) })
	defer func() { stop(); wg.Wait() }()

	log.Info("earshot running", "streams", len(cfg.Streams), "topic", cfg.Kafka.Topic, "admin", svc.AdminAddr())
	if err := svc.Run(ctx); err != nil {
		log.Error("earshot stopped with undelivered records", "err", err)
		return 1
	}
	log.Info("earshot stopped, everything delivered")
	return 0
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
		ch, err := svc.Reload(cfg, next)
		log.Info("configuration reloaded", "added", ch.Added, "removed", ch.Removed, "restarted", ch.Restarted, "unchanged", len(ch.Unchanged), "err", err)
		cfg = next
	}
}
