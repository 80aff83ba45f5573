package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
	log.Info("earshot running", "streams", len(cfg.Streams), "topic", cfg.Kafka.Topic)
	if err := svc.Run(ctx); err != nil {
		log.Error("earshot stopped with undelivered records", "err", err)
		return 1
	}
	log.Info("earshot stopped, everything delivered")
	return 0
}
