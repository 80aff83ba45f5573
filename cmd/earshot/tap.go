package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/consumer"
	"github.com/earshot/earshot/sink/schema"
)

func tapCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("tap", "tap [--config FILE] --brokers HOST:PORT[,...] --topic T --out DIR [--duration D]", stderr)
	config := fs.String("config", "", "earshot YAML `file` whose kafka section (brokers, topic, tls, sasl) to use; the flags override it")
	brokers := fs.String("brokers", "", "comma-separated Kafka `brokers` (required without --config)")
	topic := fs.String("topic", "", "topic to consume (required without --config)")
	out := fs.String("out", "", "`directory` for one WAV per stream and epoch (required)")
	dur := fs.Duration("duration", 0, "stop after this long; 0 reads until interrupted")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var rc sink.ReadConfig
	if *config != "" {
		cfg, err := loadConfigFile(*config)
		if err != nil {
			fmt.Fprintf(stderr, "earshot tap: %v\n", err)
			return 2
		}
		w := cfg.writerConfig(nil)
		rc = sink.ReadConfig{Brokers: w.Brokers, Topic: w.Topic, Security: w.Security}
	}
	if *brokers != "" {
		rc.Brokers = strings.Split(*brokers, ",")
	}
	if *topic != "" {
		rc.Topic = *topic
	}
	var missing []string
	for name, v := range map[string]string{"--brokers": strings.Join(rc.Brokers, ","), "--topic": rc.Topic, "--out": *out} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "earshot tap: missing %s\n", strings.Join(missing, ", "))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	files, err := tap(ctx, rc, *out, nil)
	printSummary(stdout, files)
	if err != nil {
		fmt.Fprintf(stderr, "earshot tap: %v\n", err)
		return 1
	}
	return 0
}

// errTapDone stops reading when the done function says so.
var errTapDone = errors.New("tap done")

// tap consumes topic until ctx is done or done(record) reports true, and
// writes the WAVs. done may be nil.
func tap(ctx context.Context, rc sink.ReadConfig, out string, done func(schema.Record) bool) ([]consumer.TapFile, error) {
	var t consumer.Tap
	rejected := 0
	err := sink.Read(ctx, rc, func(r schema.Record) error {
		if err := t.Add(r); err != nil {
			if rejected++; rejected == 1 {
				slog.Warn("tap: record rejected", "stream", r.Stream, "epoch", r.Epoch, "seq", r.Seq, "err", err)
			}
		}
		if done != nil && done(r) {
			return errTapDone
		}
		return nil
	})
	if err != nil && !errors.Is(err, errTapDone) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("read %s: %w", rc.Topic, err)
	}
	if rejected > 0 {
		slog.Warn("tap: records rejected", "count", rejected)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	return t.WriteWAVs(out)
}
