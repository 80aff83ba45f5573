package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/consumer"
	"github.com/earshot/earshot/sink/schema"
)

// demoTopic is the topic of the embedded broker.
const demoTopic = "earshot.audio"

// demoPassword is in every demo stream URL to show that credentials stay out
// of logs and records.
const demoPassword = "demo-secret"

// demoOptions configure runDemo.
type demoOptions struct {
	Codecs   []string      // one synthetic camera per codec
	Duration time.Duration // how long to pull
	Out      string        // directory for the WAV files
	// ReadTimeout bounds reading the topic back after the run.
	ReadTimeout time.Duration
	// Admin is the admin listener's address, where the console is.
	// It defaults to 127.0.0.1:0.
	Admin string
	// Stdout, if set, receives the console's URL as the run starts.
	Stdout io.Writer
	// Command returns the command line of an `earshot` child process
	// (fleet demo); nil: this executable.
	Command func(args ...string) *exec.Cmd
}

func demoCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "demo [--duration 10s] [--out DIR] [--codecs LIST] [--fleet N]", stderr)
	dur := fs.Duration("duration", 10*time.Second, "how long to pull the synthetic cameras")
	out := fs.String("out", "demo-out", "`directory` for one WAV per stream")
	codecs := fs.String("codecs", strings.Join(demoCodecs, ","), "comma-separated codecs, one synthetic camera each")
	admin := fs.String("admin", "127.0.0.1:0", "`address` of the admin listener, which serves the console at /console")
	verbose := fs.Bool("v", false, "log at debug level")
	instances := fs.Int("fleet", 0, "run `N` instances as a fleet (child processes) and kill one half-way; 0: one instance")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	level := "info"
	if *verbose {
		level = "debug"
	}
	log := newLogger(LogConfig{Level: level}, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *instances > 0 {
		d, err := runFleetDemo(ctx, demoOptions{Codecs: strings.Split(*codecs, ","), Duration: *dur, ReadTimeout: 20 * time.Second}, *instances, log)
		printFleetDemo(stdout, d)
		if err != nil {
			fmt.Fprintf(stderr, "earshot demo: %v\n", err)
			return 1
		}
		return 0
	}
	files, err := runDemo(ctx, demoOptions{Codecs: strings.Split(*codecs, ","), Duration: *dur, Out: *out, Admin: *admin, Stdout: stdout}, log)
	printSummary(stdout, files)
	if err != nil {
		fmt.Fprintf(stderr, "earshot demo: %v\n", err)
		return 1
	}
	return 0
}

// demoCodecs are the codecs the demo plays by default: every one earshot
// decodes.
var demoCodecs = audio.Codecs()

// runDemo starts synthetic cameras and an embedded Kafka broker, runs the
// service against them for o.Duration, reads the topic back and writes one
// WAV per stream. It fails if any stream delivered no audio.
func runDemo(ctx context.Context, o demoOptions, log *slog.Logger) ([]consumer.TapFile, error) {
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 20 * time.Second
	}
	cams, specs, err := startDemoCameras(o.Codecs)
	if err != nil {
		return nil, err
	}
	defer cams.Close()

	broker, stopBroker, err := sink.StartEmbeddedBroker(demoTopic, 3)
	if err != nil {
		return nil, err
	}
	defer stopBroker()

	spool, err := os.MkdirTemp("", "earshot-demo-spool-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(spool)

	cfg := &Config{
		Kafka: KafkaConfig{Brokers: []string{broker}, Topic: demoTopic},
		Spool: SpoolConfig{Dir: spool},
		Admin: AdminConfig{Listen: cmp.Or(o.Admin, "127.0.0.1:0")},
		Diag:  DiagConfig{Dir: filepath.Join(o.Out, "diagnostics")},
	}
	for _, s := range specs {
		cfg.Streams = append(cfg.Streams, StreamConfig{
			ID:        s.Name,
			URL:       "rtsp://demo:" + demoPassword + "@" + net.JoinHostPort("127.0.0.1", portOf(cams.Addr())) + "/" + s.Name,
			Transport: "tcp",
		})
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	svc, err := newService(cfg, log)
	if err != nil {
		return nil, err
	}
	log.Info("demo: pulling synthetic cameras", "streams", len(specs), "duration", o.Duration, "broker", broker, "admin", svc.AdminAddr())
	if o.Stdout != nil && svc.AdminAddr() != "" {
		fmt.Fprintf(o.Stdout, "console: http://%s/console (for %s)\n", svc.AdminAddr(), o.Duration)
	}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	runErr := svc.Run(runCtx)
	cancel()

	files, err := readBack(ctx, []string{broker}, demoTopic, len(specs), o.ReadTimeout, o.Out)
	if err != nil {
		return files, errors.Join(runErr, err)
	}
	var silent []string
	for _, s := range specs {
		if !hasAudio(files, s.Name) {
			silent = append(silent, s.Name)
		}
	}
	if len(silent) > 0 {
		return files, errors.Join(runErr, fmt.Errorf("no audio delivered for %s", strings.Join(silent, ", ")))
	}
	return files, runErr
}

// startDemoCameras serves one synthetic camera per codec, named cam-<codec>.
func startDemoCameras(codecs []string) (*loadtest.Server, []loadtest.StreamSpec, error) {
	var specs []loadtest.StreamSpec
	for _, c := range codecs {
		specs = append(specs, loadtest.StreamSpec{Name: "cam-" + c, Codec: c})
	}
	cams, err := loadtest.NewServer(loadtest.ServerConfig{Streams: specs})
	if err != nil {
		return nil, nil, err
	}
	if err := cams.Start(); err != nil {
		return nil, nil, err
	}
	return cams, specs, nil
}

// readBack consumes the topic until `streams` streams have ended (or the
// timeout passes) and writes the WAVs.
func readBack(ctx context.Context, brokers []string, topic string, streams int, timeout time.Duration, out string) ([]consumer.TapFile, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ended := make(map[string]bool)
	return tap(ctx, sink.ReadConfig{Brokers: brokers, Topic: topic}, out, func(r schema.Record) bool {
		if r.Kind == schema.KindEnd {
			ended[r.Stream] = true
		}
		return len(ended) == streams
	})
}

func hasAudio(files []consumer.TapFile, stream string) bool {
	for _, f := range files {
		if f.Stream == stream && f.AudioRecords > 0 {
			return true
		}
	}
	return false
}

func portOf(hostport string) string {
	_, port, _ := net.SplitHostPort(hostport)
	return port
}

// printSummary prints one line per WAV file.
func printSummary(w io.Writer, files []consumer.TapFile) {
	if len(files) == 0 {
		return
	}
	fmt.Fprintf(w, "%-16s %5s %8s %8s %5s %7s %5s  %s\n", "STREAM", "EPOCH", "RECORDS", "SECONDS", "GAPS", "GAP_MS", "ENDED", "FILE")
	for _, f := range files {
		fmt.Fprintf(w, "%-16s %5d %8d %8.2f %5d %7d %5t  %s\n", f.Stream, f.Epoch, f.Records, f.Seconds, f.Gaps, f.GapMS, f.Ended, f.Path)
	}
}
