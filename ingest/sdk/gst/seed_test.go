//go:build gstreamer

package gst

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest/loadtesttest"
	"github.com/earshot/earshot/loadtest/testkit"
)

// wire is a TCP proxy between a camera and its reader: the camera's side
// of the connection. It counts the bytes the camera managed to send and
// remembers when a write towards the reader last completed.
type wire struct {
	ln        net.Listener
	target    string
	toReader  atomic.Int64 // bytes delivered to the reader
	lastWrite atomic.Int64 // Unix ns of the last completed write to the reader
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     []net.Conn
}

func newWire(t *testing.T, target string) *wire {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{ln: ln, target: target}
	w.wg.Go(w.accept)
	t.Cleanup(w.close)
	return w
}

func (w *wire) accept() {
	for {
		c, err := w.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", w.target)
		if err != nil {
			c.Close()
			continue
		}
		w.mu.Lock()
		w.conns = append(w.conns, c, s)
		w.mu.Unlock()
		w.wg.Go(func() { io.Copy(s, c) })
		w.wg.Go(func() { w.copyToReader(c, s) })
	}
}

// copyToReader forwards the camera's bytes; a reader that stops reading
// blocks the write, then this loop, then the camera's own sends.
func (w *wire) copyToReader(reader, camera net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := camera.Read(buf)
		if n > 0 {
			if _, werr := reader.Write(buf[:n]); werr != nil {
				return
			}
			w.toReader.Add(int64(n))
			w.lastWrite.Store(time.Now().UnixNano())
		}
		if err != nil {
			return
		}
	}
}

func (w *wire) close() {
	w.ln.Close()
	w.mu.Lock()
	for _, c := range w.conns {
		c.Close()
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// slowSink is the consumer behind the adapter: 100 ms per 20 ms packet.
const slowSinkDelay = 100 * time.Millisecond

// lagMeter measures how far behind the camera a stage is: the wall time
// of a frame against the time its RTP timestamp says the camera sent it,
// taking the first frame as the origin.
type lagMeter struct {
	mu      sync.Mutex
	t0      time.Time
	ts0     uint32
	clock   int
	last    time.Duration
	samples int
}

func (m *lagMeter) observe(f *sdk.Frame) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if m.samples == 0 {
		m.t0, m.ts0, m.clock = f.Arrival, f.Timestamp, f.Codec.ClockRate
	}
	m.samples++
	sent := m.t0.Add(time.Duration(f.Timestamp-m.ts0) * time.Second / time.Duration(m.clock))
	m.last = now.Sub(sent)
}

func (m *lagMeter) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.samples
}

func (m *lagMeter) lag() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// handoffAdapter is earshot's adapter in miniature (ingest's handoff): the
// callback copies the frame into a bounded queue or counts a drop, and
// returns; a goroutine feeds the slow sink.
type handoffAdapter struct {
	q       chan sdk.Frame
	dropped atomic.Int64
	sunk    atomic.Int64
	taken   lagMeter
	done    chan struct{}
}

func newHandoffAdapter(n int) *handoffAdapter {
	a := &handoffAdapter{q: make(chan sdk.Frame, n), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for range a.q {
			time.Sleep(slowSinkDelay) // the slow sink
			a.sunk.Add(1)
		}
	}()
	return a
}

func (a *handoffAdapter) onData(_ sdk.Handle, f *sdk.Frame) {
	a.taken.observe(f)
	g := *f
	g.Data = append([]byte(nil), f.Data...)
	select {
	case a.q <- g:
	default:
		a.dropped.Add(1)
	}
}

func (a *handoffAdapter) stop() {
	close(a.q)
	<-a.done
}

// TestSlowWorkInTheStreamingThreadFallsBehindWhileTheHandoffKeepsUp
// reproduces the seed failure on GStreamer's own threads: with Inline
// delivery, a naive adapter that calls a slow sink inside new-sample
// blocks rtspsrc's streaming thread, and the stream falls further behind
// the camera every second; earshot's adapter, under the same slow sink,
// keeps pace with the camera and counts what the sink could not take.
//
// From the camera's side (a TCP proxy standing for the network), the
// naive reader does not push back: rtspsrc keeps reading the socket and
// its jitter buffer queues what the blocked thread cannot take, without
// bound. The failure is silent to the camera and to the reader's counters;
// only the growing lag shows it.
func TestSlowWorkInTheStreamingThreadFallsBehindWhileTheHandoffKeepsUp(t *testing.T) {
	const naiveCam, handoffCam = "pcmu-naive", "pcmu-handoff"
	cams := loadtesttest.Cameras(t, naiveCam, handoffCam)
	w := newWire(t, cams.Addr())
	s := newGst(t, Options{Inline: true})

	var naive lagMeter
	var naiveSunk atomic.Int64
	naiveCB := func(_ sdk.Handle, f *sdk.Frame) {
		naive.observe(f)
		time.Sleep(slowSinkDelay) // the slow sink, inside the C callback
		naiveSunk.Add(1)
	}
	ad := newHandoffAdapter(16)

	open := func(name string, cb sdk.DataCallback) sdk.Handle {
		h, err := s.OpenContext(context.Background(), "rtsp://"+w.ln.Addr().String()+"/"+name,
			sdk.OpenOptions{Transport: sdk.TransportTCP, OnData: cb})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	hn := open(naiveCam, naiveCB)
	hh := open(handoffCam, ad.onData)
	sent0 := cams.PacketsSent(handoffCam)
	const window = 200 // packets: 4 s
	testkit.WaitFor(t, 30*time.Second, "4 s of camera packets", func() bool {
		return cams.PacketsSent(handoffCam) >= sent0+window
	})
	sent := cams.PacketsSent(handoffCam) - sent0
	sn, _ := s.Stats(hn)
	sh, _ := s.Stats(hh)
	s.Close(hn)
	s.Close(hh)
	wireBytes := w.toReader.Load()
	ad.stop() // the sink takes what is queued

	t.Logf("camera sent %d packets per stream in the window; wire delivered %d bytes to the reader",
		sent, wireBytes)
	t.Logf("naive:   %d frames through the streaming thread, lag behind the camera %v", sn.Received, naive.lag().Round(time.Millisecond))
	t.Logf("handoff: %d frames through the streaming thread, lag %v; sink took %d, adapter dropped %d (counted)",
		sh.Received, ad.taken.lag().Round(time.Millisecond), ad.sunk.Load(), ad.dropped.Load())

	// The naive stream moves at the sink's pace, 5 times slower than the
	// camera, and its lag grows with the run.
	if naive.lag() < 2*time.Second {
		t.Errorf("naive lag %v, want the stream at least 2 s behind after 4 s", naive.lag())
	}
	if sn.Received > window/2 {
		t.Errorf("naive stream took %d frames of %d: the slow callback did not hold the thread", sn.Received, window)
	}
	// The handoff stream keeps the camera's pace, and loses only what it
	// counts.
	if lag := ad.taken.lag(); lag > time.Second {
		t.Errorf("handoff lag %v, want under 1 s", lag)
	}
	if sh.Received < window*9/10 {
		t.Errorf("handoff stream took %d frames of %d", sh.Received, window)
	}
	if ad.dropped.Load() == 0 {
		t.Errorf("the handoff counted no drops under a sink 5 times too slow")
	}
	if calls := int64(ad.taken.count()); calls != ad.dropped.Load()+ad.sunk.Load() {
		t.Errorf("handoff: %d callbacks != %d sunk + %d dropped", calls, ad.sunk.Load(), ad.dropped.Load())
	}
	// From the camera's side the naive reader never pushed back: the
	// bytes of both streams crossed the wire.
	if least := int64(2 * window * 160); wireBytes < least {
		t.Errorf("wire delivered %d bytes, want at least %d", wireBytes, least)
	}
}
