package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CompareFFmpeg is the Options.Compare value that runs one ffmpeg per
// stream after the targets.
const CompareFFmpeg = "ffmpeg"

// Bounds of a comparison run.
const (
	// maxCompareProcesses bounds how many consumers a comparison starts.
	maxCompareProcesses = 1000
	// compareReady bounds the wait for every consumer's first output.
	compareReady = 30 * time.Second
	// compareGrace is how long a consumer has to exit after SIGTERM.
	compareGrace = 5 * time.Second
	// compareBytesPerS is the PCM the consumers write: 16 kHz, 16-bit mono.
	compareBytesPerS = 16000 * 2
)

// Comparison is another consumer pulling the same cameras after the
// targets, one process per stream, measured over a window as long as the
// targets' steady window: its CPU and memory per stream side by side with
// the target's.
type Comparison struct {
	Tool    string `json:"tool"`    // "ffmpeg"
	Version string `json:"version"` // first line of `ffmpeg -version`
	// Command is one consumer's command line, with URL for the stream's.
	Command   string `json:"command"`
	Processes int    `json:"processes"`
	// Measured counts the processes that ran through the whole window.
	Measured int     `json:"measured"`
	WindowS  float64 `json:"window_s"`
	// AudioS is the PCM the consumers wrote in the window, in seconds.
	AudioS       float64 `json:"audio_s"`
	CPUPerStream float64 `json:"cpu_per_stream"` // cores
	// PSSPerStreamBytes is the mean proportional set size: shared pages
	// (ffmpeg's libraries) are divided among the processes sharing them.
	PSSPerStreamBytes int64 `json:"pss_per_stream_bytes"`
	RSSPerStreamBytes int64 `json:"rss_per_stream_bytes"`
	// The target's figures from its own steady window, and how many times
	// more the tool costs per stream (0 when the target's were not
	// measured).
	TargetCPUPerStream      float64 `json:"target_cpu_per_stream"`
	TargetPSSPerStreamBytes int64   `json:"target_pss_per_stream_bytes"`
	CPURatio                float64 `json:"cpu_ratio"`
	PSSRatio                float64 `json:"pss_ratio"`
	// DecodeOnlyCPUPerStream is what decoding the same streams' audio to
	// 16 kHz costs alone, in cores per stream (decodeOnlyCPU), and
	// TargetOverDecode the target's CPU per stream over it: the share of
	// a consumer's cost that is not the codec's.
	DecodeOnlyCPUPerStream float64 `json:"decode_only_cpu_per_stream,omitempty"`
	TargetOverDecode       float64 `json:"target_over_decode,omitempty"`
	// Error says why the comparison did not complete.
	Error string `json:"error,omitempty"`
}

// withTarget returns c with r's figures beside it.
func (c Comparison) withTarget(r *Report) *Comparison {
	if res := r.Resources; res.Measured {
		c.TargetCPUPerStream, c.TargetPSSPerStreamBytes = res.CPUPerStream, res.PSSPerStreamBytes
		if res.CPUPerStream > 0 {
			c.CPURatio = c.CPUPerStream / res.CPUPerStream
		}
		if c.DecodeOnlyCPUPerStream > 0 {
			c.TargetOverDecode = res.CPUPerStream / c.DecodeOnlyCPUPerStream
		}
		if res.PSSPerStreamBytes > 0 {
			c.PSSRatio = float64(c.PSSPerStreamBytes) / float64(res.PSSPerStreamBytes)
		}
	}
	return &c
}

// ffmpegArgs is the consumer's command line for url: PCM as earshot
// delivers it, to stdout.
func ffmpegArgs(url string) []string {
	return []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
		"-i", url, "-ac", "1", "-ar", "16000", "-f", "s16le", "-"}
}

// ffmpegProc is one comparison process; out counts the bytes it wrote,
// which a goroutine owned by runComparison reads and discards.
type ffmpegProc struct {
	cmd    *exec.Cmd
	out    atomic.Int64
	stderr bytes.Buffer // at most stderrKeep bytes, read after Wait
	done   chan struct{}
	first  procSample
	ok     bool
}

// compare runs o.Compare on s's cameras for window and returns its
// figures; a comparison that cannot run has Error set.
func (s *session) compare(ctx context.Context, window time.Duration) Comparison {
	bin := s.o.FFmpeg
	c := Comparison{Tool: CompareFFmpeg, Command: "ffmpeg " + strings.Join(ffmpegArgs("URL"), " ")}
	n := len(s.plan.streams)
	if n > maxCompareProcesses {
		c.Error = fmt.Sprintf("%d streams exceed the %d processes a comparison may start", n, maxCompareProcesses)
		return c
	}
	v, err := exec.CommandContext(ctx, bin, "-version").Output()
	if err != nil {
		c.Error = fmt.Sprintf("%s -version: %v", bin, err)
		return c
	}
	c.Version, _, _ = strings.Cut(string(v), "\n")
	// Before the consumers start, so that they do not disturb it.
	if c.DecodeOnlyCPUPerStream, err = decodeOnlyCPU(s.plan.streams); err != nil {
		c.Error = err.Error()
	}
	if s.o.Progress != nil {
		fmt.Fprintf(s.o.Progress, "compare: %d ffmpeg processes on the same cameras for %.0f s\n", n, window.Seconds())
	}
	var wg sync.WaitGroup
	cons := make([]*ffmpegProc, 0, n)
	defer func() {
		for _, k := range cons {
			k.stop()
		}
		wg.Wait()
	}()
	for _, st := range s.plan.streams {
		cmd := exec.Command(bin, ffmpegArgs(s.cams.URL(st.Name))...)
		k := &ffmpegProc{cmd: cmd, done: make(chan struct{})}
		cmd.Stderr = &limitedWriter{buf: &k.stderr, n: 4 << 10}
		out, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			c.Error = fmt.Sprintf("start %s: %v", bin, err)
			return c
		}
		cons = append(cons, k)
		c.Processes++
		wg.Go(func() {
			defer close(k.done)
			io.Copy(countWriter{&k.out}, out)
			cmd.Wait()
		})
	}
	// Ready: every consumer has written audio (ffmpeg probes the stream
	// first), then the same warm-up as the targets had.
	// One that is slow to start under load is measured anyway if it runs:
	// the note says so.
	var note string
	if err := waitAll(ctx, cons, compareReady); ctx.Err() != nil {
		c.Error = ctx.Err().Error()
		return c
	} else if err != nil {
		note = err.Error()
	}
	if !sleepUntil(ctx, time.Now().Add(s.sc.Warmup)) {
		c.Error = ctx.Err().Error()
		return c
	}
	start := time.Now()
	var bytes0 int64
	for _, k := range cons {
		if k.first, k.ok = sampleConsumer(k); k.ok {
			bytes0 += k.out.Load()
		}
	}
	if !sleepUntil(ctx, start.Add(window)) {
		c.Error = ctx.Err().Error()
		return c
	}
	var cpu time.Duration
	var pss, rss, bytes1 int64
	for _, k := range cons {
		last, ok := sampleConsumer(k)
		if !k.ok || !ok {
			continue
		}
		c.Measured++
		cpu += last.CPU - k.first.CPU
		pss, rss = pss+last.PSS, rss+last.RSS
		bytes1 += k.out.Load()
	}
	c.WindowS = time.Since(start).Seconds()
	if c.Measured == 0 {
		c.Error = "no ffmpeg ran through the window"
		return c
	}
	c.AudioS = float64(bytes1-bytes0) / compareBytesPerS
	c.CPUPerStream = cpu.Seconds() / c.WindowS / float64(c.Measured)
	c.PSSPerStreamBytes, c.RSSPerStreamBytes = pss/int64(c.Measured), rss/int64(c.Measured)
	if c.Measured < c.Processes {
		c.Error = fmt.Sprintf("%d of %d ffmpeg processes exited during the window", c.Processes-c.Measured, c.Processes)
	}
	if note != "" {
		c.Error = strings.TrimPrefix(c.Error+"; "+note, "; ")
	}
	return c
}

// sampleConsumer reads k's /proc figures while it runs.
func sampleConsumer(k *ffmpegProc) (procSample, bool) {
	select {
	case <-k.done:
		return procSample{}, false
	default:
	}
	p, err := readProc(k.cmd.Process.Pid)
	return p, err == nil
}

// waitAll waits until every consumer has written output; it returns an
// error when one exits first, at timeout, or when ctx ends.
func waitAll(ctx context.Context, cons []*ffmpegProc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		waiting := 0
		for _, k := range cons {
			select {
			case <-k.done:
				return fmt.Errorf("an ffmpeg exited before it wrote audio: %s", strings.TrimSpace(k.stderrText()))
			default:
			}
			if k.out.Load() == 0 {
				waiting++
			}
		}
		if waiting == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d ffmpeg processes wrote no audio within %v", waiting, len(cons), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// stop ends k: SIGTERM, then SIGKILL after compareGrace.
func (k *ffmpegProc) stop() { terminate(k.cmd, k.done, compareGrace) }

// stderrText is what k wrote to stderr; call it once k is done.
func (k *ffmpegProc) stderrText() string {
	select {
	case <-k.done:
		return k.stderr.String()
	default:
		return "(still running)"
	}
}

// countWriter counts and discards.
type countWriter struct{ n *atomic.Int64 }

func (w countWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return len(p), nil
}

// limitedWriter keeps the first n bytes written and discards the rest.
type limitedWriter struct {
	buf *bytes.Buffer
	n   int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if room := w.n - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// caption says what was compared, and how.
func (c *Comparison) caption() string {
	s := fmt.Sprintf("%d × `%s` (%s) on the same cameras after the target, %d measured over %.0f s; CPU from /proc/PID/stat, PSS from /proc/PID/smaps_rollup.",
		c.Processes, c.Command, cmpOrNA(c.Version), c.Measured, c.WindowS)
	if c.DecodeOnlyCPUPerStream > 0 {
		s += fmt.Sprintf(" Decoding alone: the same streams' audio decoded to 16 kHz by earshot's decoders in the harness, on one thread, %.3f%% of a core per stream.", 100*c.DecodeOnlyCPUPerStream)
	}
	if c.Error != "" {
		s += " Incomplete: " + c.Error + "."
	}
	return s
}

// rows is the side-by-side table, header first.
func (c *Comparison) rows(target string) [][]string {
	ratio := func(v float64) string {
		if v <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1f×", v)
	}
	var toolOverDecode float64
	if c.DecodeOnlyCPUPerStream > 0 {
		toolOverDecode = c.CPUPerStream / c.DecodeOnlyCPUPerStream
	}
	return [][]string{
		{"per stream", target + " (one process)", c.Tool + " (one process per stream)", c.Tool + " / " + target},
		{"CPU", fmt.Sprintf("%.3f%% of a core", 100*c.TargetCPUPerStream), fmt.Sprintf("%.3f%% of a core", 100*c.CPUPerStream), ratio(c.CPURatio)},
		{"PSS", fmtBytes(c.TargetPSSPerStreamBytes), fmtBytes(c.PSSPerStreamBytes), ratio(c.PSSRatio)},
		{"CPU ÷ decoding alone", ratio(c.TargetOverDecode), ratio(toolOverDecode), ""},
	}
}
