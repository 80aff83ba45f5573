package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/audio/decoder"
	"github.com/earshot/earshot/loadtest"
)

// The floor is what the pinned RTSP client costs alone: gortsplib's Client
// reading the cameras over loopback TCP, with the read coalescing earshot
// uses, each packet decoded to 16 kHz by earshot's decoder or not, and
// nothing else (no handoff off the callback, no chunks, no Kafka, no admin).
// earshot's cost cannot fall below it without another client; the issue's
// targets are compared with it in docs/performance.md (part 13). Command
// loadtest/floor runs it.

// FloorOptions configures Floor. The zero value measures 100 PCMA streams,
// read and not decoded.
type FloorOptions struct {
	// Streams is how many cameras are read. Default 100.
	Streams int
	// Codec is the cameras' codec (loadtest.StreamSpec.Codec). Default pcma.
	Codec string
	// Decode decodes each packet to 16 kHz with earshot's decoder, in the
	// client's callback. Default false: packets are counted only.
	Decode bool
	// ReadCoalesce is the wait before each read after PLAY, as earshot's
	// ingest.read_coalesce. Default 0: none; earshot's default is 60 ms.
	ReadCoalesce time.Duration
	// Warmup is how long the clients play before the window. Default 5 s.
	Warmup time.Duration
	// Window is how long CPU is measured. Default 30 s.
	Window time.Duration
}

func (o *FloorOptions) setDefaults() {
	if o.Streams == 0 {
		o.Streams = 100
	}
	if o.Codec == "" {
		o.Codec = "pcma"
	}
	if o.Warmup == 0 {
		o.Warmup = 5 * time.Second
	}
	if o.Window == 0 {
		o.Window = 30 * time.Second
	}
}

// FloorResult is what one Floor run measured of the readers' process.
type FloorResult struct {
	Streams      int
	CPUPerStream float64 // cores per stream over the window
	PSS          int64   // bytes, at the window's end
	PSSAnon      int64   // bytes of PSS that are anonymous (heap, stacks, C heap)
	Packets      uint64  // packets the readers received, from their report
}

// Floor serves o.Streams synthetic cameras, starts the readers in the
// process child returns for the cameras' URLs (one that calls
// FloorReadersMain with them and with o.Decode and o.ReadCoalesce), and
// measures that
// process as the harness measures earshot (readProc). ctx bounds the run.
func Floor(ctx context.Context, o FloorOptions, child func(o FloorOptions, urls []string) *exec.Cmd) (FloorResult, error) {
	o.setDefaults()
	specs := make([]loadtest.StreamSpec, o.Streams)
	urls := make([]string, o.Streams)
	for i := range specs {
		specs[i] = loadtest.StreamSpec{Name: fmt.Sprintf("floor%d", i), Codec: o.Codec}
	}
	srv, err := loadtest.NewServer(loadtest.ServerConfig{Streams: specs})
	if err != nil {
		return FloorResult{}, fmt.Errorf("floor: %w", err)
	}
	if err := srv.Start(); err != nil {
		return FloorResult{}, fmt.Errorf("floor: %w", err)
	}
	defer srv.Close()
	for i, s := range specs {
		urls[i] = srv.URL(s.Name)
	}

	cmd := child(o, urls)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return FloorResult{}, fmt.Errorf("floor: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return FloorResult{}, fmt.Errorf("floor: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return FloorResult{}, fmt.Errorf("floor: start the readers: %w", err)
	}
	defer cmd.Wait() //nolint:errcheck // its report is read below
	lines := make(chan string)
	go func() { // ends when the readers' stdout closes, after stdin does
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	defer func() {
		// The readers exit when their stdin closes, or are killed at
		// ctx's end.
		stdin.Close()
		stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() }) //nolint:errcheck // best effort
		defer stop()
		for range lines { // drain, so that the scanner's goroutine ends
		}
	}()

	wait := func(d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	select { // the readers' "playing" line
	case <-ctx.Done():
		return FloorResult{}, ctx.Err()
	case l, ok := <-lines:
		if !ok || l != floorPlaying {
			return FloorResult{}, fmt.Errorf("floor: the readers did not start: %q", l)
		}
	}
	if err := wait(o.Warmup); err != nil {
		return FloorResult{}, err
	}
	pid := cmd.Process.Pid
	first, err := readProc(pid)
	if err != nil {
		return FloorResult{}, fmt.Errorf("floor: %w", err)
	}
	if err := wait(o.Window); err != nil {
		return FloorResult{}, err
	}
	last, err := readProc(pid)
	if err != nil {
		return FloorResult{}, fmt.Errorf("floor: %w", err)
	}
	res := FloorResult{
		Streams:      o.Streams,
		CPUPerStream: (last.CPU - first.CPU).Seconds() / last.At.Sub(first.At).Seconds() / float64(o.Streams),
		PSS:          last.PSS,
		PSSAnon:      last.PSSAnon,
	}
	stdin.Close()
	for l := range lines {
		if _, err := fmt.Sscanf(l, floorReport, &res.Packets); err == nil {
			break
		}
	}
	return res, nil
}

// The readers' lines on stdout.
const (
	floorPlaying = "playing"
	floorReport  = "packets %d"
)

// FloorReaders is the readers' process of Floor: it plays every URL with
// gortsplib's Client over TCP, writes "playing" to out, and reads until
// ctx ends or a packet fails to decode, then closes the clients and writes
// how many packets they received. A packet that fails to decode
// ends the run with its error: the floor measures good audio only.
func FloorReaders(ctx context.Context, urls []string, decode bool, coalesce time.Duration, out io.Writer) error {
	var (
		packets atomic.Uint64
		armed   atomic.Bool // reads wait only after PLAY, as earshot's
		failed  = make(chan error, 1)
	)
	for _, u := range urls {
		closeReader, err := floorPlay(ctx, u, decode, coalesce, &armed, &packets, failed)
		if err != nil {
			return err
		}
		defer closeReader()
	}
	armed.Store(true)
	fmt.Fprintln(out, floorPlaying)
	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	fmt.Fprintf(out, floorReport+"\n", packets.Load())
	return err
}

// FloorReadersMain is the body of a readers' process that Floor starts:
// FloorReaders for urls, reporting on stdout, until stdin closes (as
// Floor does at the end of its window, and as the parent's exit does) or
// an interrupt comes.
func FloorReadersMain(urls []string, decode bool, coalesce time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends at stdin's end, which the parent's exit also brings
		io.Copy(io.Discard, os.Stdin) //nolint:errcheck // any end will do
		cancel()
	}()
	return FloorReaders(ctx, urls, decode, coalesce, os.Stdout)
}

// floorPlay starts one reader and returns what closes it: its client,
// then its decoder (whose C memory the client's callbacks no longer use).
func floorPlay(ctx context.Context, us string, decode bool, coalesce time.Duration, armed *atomic.Bool,
	packets *atomic.Uint64, failed chan<- error) (func(), error) {
	u, err := base.ParseURL(us)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{
		Scheme:    u.Scheme,
		Host:      u.Host,
		Transport: &tcp,
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			return &floorConn{Conn: nc, delay: coalesce, armed: armed}, nil
		},
	}
	if err := c.Start2(); err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	var dec *decoder.Decoder
	closeReader := func() {
		c.Close()
		if dec != nil {
			dec.Close()
		}
	}
	ok := false
	defer func() {
		if !ok {
			closeReader()
		}
	}()
	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	var (
		m *description.Media
		f format.Format
	)
	for _, md := range desc.Medias {
		if md.Type == description.MediaTypeAudio && len(md.Formats) > 0 {
			m, f = md, md.Formats[0]
			break
		}
	}
	if m == nil {
		return nil, fmt.Errorf("floor: %s has no audio", us)
	}
	if decode {
		af, err := audio.Identify(audio.SDP{PayloadType: f.PayloadType(), RTPMap: f.RTPMap(), FMTP: f.FMTP()})
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		if dec, err = decoder.New(af, 16000); err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
	}
	if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	c.OnPacketRTP(m, f, func(p *rtp.Packet) { // gortsplib's reader goroutine
		packets.Add(1)
		if dec == nil {
			return
		}
		if _, err := dec.Decode(p.Payload, p.Marker); err != nil {
			select {
			case failed <- fmt.Errorf("floor: %s: %w", us, err):
			default:
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	ok = true
	return closeReader, nil
}

// floorConn makes each read after PLAY wait until delay after the previous
// one, on a grid of delay so that the connections' waits end together, as
// earshot's SDK does (ingest/sdk, coalescing_conn.go); a read that fills
// its buffer is followed at once. Reads happen on gortsplib's reader
// goroutine, one at a time.
type floorConn struct {
	net.Conn
	delay time.Duration
	armed *atomic.Bool
	last  time.Time
}

func (c *floorConn) Read(p []byte) (int, error) {
	if c.delay > 0 && !c.last.IsZero() && c.armed.Load() {
		if d := c.delay - time.Since(c.last); d > 0 {
			d -= time.Duration(time.Now().Add(d).UnixNano() % int64(c.delay))
			time.Sleep(d)
		}
	}
	n, err := c.Conn.Read(p)
	c.last = time.Time{}
	if n < len(p) {
		c.last = time.Now()
	}
	return n, err
}
