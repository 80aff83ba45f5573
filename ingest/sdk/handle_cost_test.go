package sdk_test

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
)

// goroutineStacks returns the stack of every goroutine, "created by" line
// included.
func goroutineStacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(string(buf[:n]), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// clientGoroutines counts the goroutines of RTSP clients: gortsplib
// Client's run goroutines, those they started (reader, writer, RTCP
// receivers) and the SDK's waiters, wherever started. The loopback
// server's, in the same process, are left out.
func clientGoroutines() (n, waiters int) {
	stacks := goroutineStacks()
	runs := map[string]bool{}
	for _, g := range stacks {
		if strings.Contains(g, "gortsplib/v4.(*Client).run(") {
			id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
			runs[id] = true
		}
	}
	for _, g := range stacks {
		_, creator, _ := strings.Cut(g, "created by ")
		_, parent, _ := strings.Cut(creator, " in goroutine ")
		parent, _, _ = strings.Cut(parent, "\n")
		switch {
		case strings.Contains(g, "sdk.(*SDK).wait("):
			waiters++
			n++
		case strings.Contains(g, "gortsplib/v4.(*Client).run("), runs[parent]:
			n++
		}
	}
	return n, waiters
}

// TestPlayingHandleHasNoWaiterGoroutine: while a handle plays, it costs
// gortsplib's goroutines only (run, reader, writer, RTCP receiver): the
// goroutine that reports the disconnect starts when the connection ends.
func TestPlayingHandleHasNoWaiterGoroutine(t *testing.T) {
	const handles = 8
	names := make([]string, handles)
	for i := range names {
		names[i] = "pcma-" + string(rune('a'+i))
	}
	srv := loadtesttest.Cameras(t, names...)
	s := newSDK(t, sdk.Options{})
	before, _ := clientGoroutines()
	frames := make(chan sdk.Handle, 1024)
	for _, n := range names {
		h, err := s.Open(srv.URL(n), sdk.OpenOptions{Transport: sdk.TransportTCP, OnData: func(h sdk.Handle, _ *sdk.Frame) {
			select {
			case frames <- h:
			default:
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(h) })
	}
	// Every handle's RTCP receiver and writer run once packets flow.
	seen := map[sdk.Handle]bool{}
	for len(seen) < handles {
		seen[receive(t, frames, "frames of every handle")] = true
	}
	after, waiters := clientGoroutines()
	if waiters != 0 {
		t.Errorf("%d goroutines in (*SDK).wait while %d handles play, want 0", waiters, handles)
	}
	per := float64(after-before) / handles
	t.Logf("%.2f client goroutines per playing handle", per)
	if per > 4 {
		t.Errorf("%.2f client goroutines per playing handle, want at most 4 (gortsplib's run, reader, writer, RTCP receiver)", per)
	}
}

// TestDisconnectIsReportedWithItsCause: whatever ends a playing
// connection, the status callback hears of it, with the cause.
func TestDisconnectIsReportedWithItsCause(t *testing.T) {
	cases := []struct {
		name      string
		transport sdk.Transport
		tls       bool
		fault     loadtest.FaultKind
		// want reports whether err is the cause expected.
		want func(err error) bool
	}{
		{"the server resets a tcp connection", sdk.TransportTCP, false, loadtest.FaultTCPReset, isConnectionEnd},
		{"the server resets the connection of a udp session", sdk.TransportUDP, false, loadtest.FaultTCPReset, isConnectionEnd},
		{"the server resets an rtsps connection", sdk.TransportTCP, true, loadtest.FaultTCPReset, isConnectionEnd},
		{"a tcp read times out", sdk.TransportTCP, false, loadtest.FaultSilent, func(err error) bool {
			return errors.As(err, new(liberrors.ErrClientTCPTimeout))
		}},
		{"a udp read times out", sdk.TransportUDP, false, loadtest.FaultSilent, func(err error) bool {
			return errors.As(err, new(liberrors.ErrClientUDPTimeout))
		}},
		{"an rtsps read times out", sdk.TransportTCP, true, loadtest.FaultSilent, func(err error) bool {
			return errors.As(err, new(liberrors.ErrClientTCPTimeout))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := loadtest.ServerConfig{Streams: loadtesttest.Streams("pcma"), UDP: c.transport == sdk.TransportUDP}
			o := sdk.OpenOptions{Transport: c.transport, ReadTimeout: time.Second}
			if c.tls {
				serverTLS, pool, err := loadtest.LoopbackTLS()
				if err != nil {
					t.Fatal(err)
				}
				cfg.TLS = serverTLS
				o.TLSConfig = &tls.Config{RootCAs: pool}
			}
			srv := loadtesttest.NewServer(t, cfg)
			s := newSDK(t, sdk.Options{})
			statuses := make(chan sdk.Status, 16)
			flowing, onData := signalling()
			o.OnStatus = func(_ sdk.Handle, st sdk.Status) { statuses <- st }
			o.OnData = onData
			h, err := s.Open(srv.URL("pcma"), o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(h)
			if st := receive(t, statuses, "connected"); st.Kind != sdk.StatusConnected {
				t.Fatalf("first status %+v, want connected", st)
			}
			receive(t, flowing, "frames")
			if _, waiters := clientGoroutines(); waiters != 0 {
				t.Fatalf("%d waiter goroutines while playing, want 0", waiters)
			}
			if _, err := srv.Inject(loadtest.Fault{Stream: "pcma", Kind: c.fault}); err != nil {
				t.Fatal(err)
			}
			if st := awaitDisconnect(t, statuses); st.Err == nil || !c.want(st.Err) {
				t.Fatalf("disconnected with %v, want the cause", st.Err)
			}
		})
	}
}

// signalling returns a data callback that signals the channel it also
// returns, without blocking, on each frame.
func signalling() (<-chan struct{}, sdk.DataCallback) {
	ch := make(chan struct{}, 1)
	return ch, func(sdk.Handle, *sdk.Frame) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// awaitDisconnect returns the first StatusDisconnected of statuses,
// skipping others (overruns, if the machine is slow).
func awaitDisconnect(t *testing.T, statuses <-chan sdk.Status) sdk.Status {
	t.Helper()
	for {
		if st := receive(t, statuses, "disconnected"); st.Kind == sdk.StatusDisconnected {
			return st
		}
	}
}

// isConnectionEnd reports whether err says the server ended the
// connection: a reset, or end of file.
func isConnectionEnd(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

// TestTransportSwitchAfterPlayKeepsTheDisconnectWatched: when no UDP
// packet comes after PLAY, gortsplib closes the connection and plays again
// over TCP on a new one; the handle still has no waiter goroutine, and
// the end of the new connection is reported.
func TestTransportSwitchAfterPlayKeepsTheDisconnectWatched(t *testing.T) {
	srv := loadtesttest.NewServer(t, loadtest.ServerConfig{Streams: loadtesttest.Streams("pcma"), UDP: true})
	clearSilence, err := srv.Inject(loadtest.Fault{Stream: "pcma", Kind: loadtest.FaultSilent})
	if err != nil {
		t.Fatal(err)
	}
	var logs testkit.SyncBuffer
	s := newSDK(t, sdk.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	statuses := make(chan sdk.Status, 16)
	flowing, onData := signalling()
	h, err := s.Open(srv.URL("pcma"), sdk.OpenOptions{
		Transport: sdk.TransportAuto,
		OnStatus:  func(_ sdk.Handle, st sdk.Status) { statuses <- st },
		OnData:    onData,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(h)
	receive(t, statuses, "connected")
	testkit.WaitFor(t, waitTimeout, "the switch to TCP", func() bool { return strings.Contains(logs.String(), "switching transport") })
	clearSilence()
	receive(t, flowing, "frames over TCP")
	// The switch closed the first connection before dialing the second.
	testkit.WaitFor(t, waitTimeout, "a second connection", func() bool { return srv.Accepts() >= 2 })
	if _, waiters := clientGoroutines(); waiters != 0 {
		t.Fatalf("%d waiter goroutines while playing after the switch, want 0", waiters)
	}
	if _, err := srv.Inject(loadtest.Fault{Stream: "pcma", Kind: loadtest.FaultTCPReset}); err != nil {
		t.Fatal(err)
	}
	if st := awaitDisconnect(t, statuses); !isConnectionEnd(st.Err) {
		t.Fatalf("disconnected with %v, want the reset", st.Err)
	}
}

// BenchmarkPlayingHandleCost opens handles on loopback cameras, TCP, and
// reports what each costs once frames flow: heap-B/handle (live heap
// after GC), stack-B/handle and goroutines/handle (client side), and
// client-heap-B/handle, the live heap allocated on stacks of the client
// side (gortsplib's Client and its goroutines, the SDK) and not of the
// server's. The cameras run in the same process: heap-B/handle and
// stack-B/handle include their side of each connection.
func BenchmarkPlayingHandleCost(b *testing.B) {
	const handles = 64
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	var client float64
	srv := loadtesttest.Cameras(b, "pcma")
	s, err := sdk.New(sdk.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown()
	var heap, stack, goroutines float64
	for b.Loop() {
		g0, _ := clientGoroutines()
		m0 := settledMemStats()
		c0 := clientHeap()
		frames := make(chan sdk.Handle, 4*handles)
		opened := make([]sdk.Handle, 0, handles)
		for range handles {
			h, err := s.Open(srv.URL("pcma"), sdk.OpenOptions{Transport: sdk.TransportTCP, OnData: func(h sdk.Handle, _ *sdk.Frame) {
				select {
				case frames <- h:
				default:
				}
			}})
			if err != nil {
				b.Fatal(err)
			}
			opened = append(opened, h)
		}
		for seen := map[sdk.Handle]bool{}; len(seen) < handles; {
			seen[receive(b, frames, "frames of every handle")] = true
		}
		m1 := settledMemStats()
		client += float64(clientHeap()-c0) / handles
		g1, _ := clientGoroutines()
		heap += float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / handles
		stack += float64(int64(m1.StackInuse)-int64(m0.StackInuse)) / handles
		goroutines += float64(g1-g0) / handles
		for _, h := range opened {
			if _, err := s.Close(h); err != nil {
				b.Fatal(err)
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(heap/n, "heap-B/handle")
	b.ReportMetric(stack/n, "stack-B/handle")
	b.ReportMetric(goroutines/n, "goroutines/handle")
	b.ReportMetric(client/n, "client-heap-B/handle")
}

// clientHeap returns the live heap, as of the last collection, allocated
// on a client-side stack and on no server-side one.
func clientHeap() int64 {
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	var total int64
	for _, r := range recs {
		var client, server bool
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			switch fn := f.Function; {
			case strings.Contains(fn, "gortsplib/v4.(*Server"), strings.Contains(fn, "gortsplib/v4.(*server"),
				strings.Contains(fn, "earshot/loadtest"), strings.Contains(fn, "rtcpsender"):
				server = true
			case strings.Contains(fn, "gortsplib/v4.(*Client"), strings.Contains(fn, "gortsplib/v4.(*client"),
				strings.Contains(fn, "earshot/ingest/sdk"), strings.Contains(fn, "rtcpreceiver"):
				client = true
			}
			if !more {
				break
			}
		}
		if client && !server {
			total += r.InUseBytes()
		}
	}
	return total
}

// settledMemStats returns the memory statistics after two collections.
func settledMemStats() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}
