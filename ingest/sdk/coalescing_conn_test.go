package sdk_test

import (
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest/loadtesttest"
)

// countingConn counts the reads that returned data.
type countingConn struct {
	net.Conn
	reads *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.reads.Add(1)
	}
	return n, err
}

// TestReadCoalescingTakesSeveralPacketsPerRead: with a 60 ms delay after
// PLAY, a camera sending a packet every 20 ms is read about three packets
// at a time, and every frame still arrives, in order. (Load only makes
// reads rarer, so the bound cannot fail because the machine is busy.)
func TestReadCoalescingTakesSeveralPacketsPerRead(t *testing.T) {
	srv := loadtesttest.Cameras(t, "pcma")
	s := newSDK(t, sdk.Options{})
	var reads atomic.Int64
	frames := make(chan copied, 256)
	h, err := s.Open(srv.URL("pcma"), sdk.OpenOptions{
		Transport:    sdk.TransportTCP,
		ReadCoalesce: 60 * time.Millisecond,
		OnData:       collect(frames),
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			return countingConn{c, &reads}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(h)
	prev := receive(t, frames, "first frame")
	r0 := reads.Load()
	const n = 50
	for range n {
		f := receive(t, frames, "frame")
		if f.seq != prev.seq+1 {
			t.Fatalf("seq %d after %d", f.seq, prev.seq)
		}
		prev = f
	}
	if perPacket := float64(reads.Load()-r0) / n; perPacket > 0.6 {
		t.Errorf("%.2f reads per packet, want at most 0.6 with 60 ms coalescing", perPacket)
	}
}

func TestReadCoalescingIsBounded(t *testing.T) {
	s := newSDK(t, sdk.Options{})
	if _, err := s.Open("rtsp://127.0.0.1:1/x", sdk.OpenOptions{ReadCoalesce: time.Second}); err == nil {
		t.Error("1 s of read coalescing accepted, want an error")
	}
	// Negative is off, as in ingest.Config: the stream plays.
	srv := loadtesttest.Cameras(t, "pcma")
	frames := make(chan copied, 16)
	h, err := s.Open(srv.URL("pcma"), sdk.OpenOptions{Transport: sdk.TransportTCP, ReadCoalesce: -time.Millisecond, OnData: collect(frames)})
	if err != nil {
		t.Fatalf("negative read coalescing (off) refused: %v", err)
	}
	defer s.Close(h)
	receive(t, frames, "frame without coalescing")
}

// stallingConn holds one read back for a while when told to (a scheduling
// hiccup of the reader), so that a backlog builds in the socket, and
// records, for every read after that, when it was called and whether it
// filled its buffer.
type stallingConn struct {
	net.Conn
	stall chan time.Duration // receives the next read's hiccup
	mu    sync.Mutex
	reads []stalledRead // the reads since the hiccup
	began bool
}

type stalledRead struct {
	called, returned time.Time
	full             bool
}

func (c *stallingConn) Read(p []byte) (int, error) {
	select {
	case d := <-c.stall:
		time.Sleep(d) // the hiccup itself, not synchronisation
		c.mu.Lock()
		c.began = true
		c.mu.Unlock()
	default:
	}
	called := time.Now()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if c.began {
		c.reads = append(c.reads, stalledRead{called: called, returned: time.Now(), full: n == len(p)})
	}
	c.mu.Unlock()
	return n, err
}

// TestReadCoalescingDrainsABacklogAtFullSpeed: after the reader was held
// back for 2 s, the camera's packets wait in the socket, more than one of
// gortsplib's 4 KiB buffers; a read that fills its buffer is followed at
// once by the next, rather than one buffer per coalescing delay (which
// drained a backlog slowly enough, on a loaded machine, for gaps to be
// declared). Every frame of the backlog arrives, in order.
func TestReadCoalescingDrainsABacklogAtFullSpeed(t *testing.T) {
	const delay = 100 * time.Millisecond
	srv := loadtesttest.Cameras(t, "pcma")
	s := newSDK(t, sdk.Options{})
	conn := make(chan *stallingConn, 1)
	frames := make(chan copied, 1024)
	h, err := s.Open(srv.URL("pcma"), sdk.OpenOptions{
		Transport:    sdk.TransportTCP,
		ReadCoalesce: delay,
		OnData:       collect(frames),
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			sc := &stallingConn{Conn: c, stall: make(chan time.Duration, 1)}
			conn <- sc
			return sc, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(h)
	prev := receive(t, frames, "first frame")
	sc := receive(t, conn, "connection")
	sc.stall <- 2 * time.Second
	// 2 s of PCMA is 100 packets of 176 bytes on the wire: 17 KiB.
	for range 150 {
		f := receive(t, frames, "frame")
		if f.seq != prev.seq+1 {
			t.Fatalf("seq %d after %d", f.seq, prev.seq)
		}
		prev = f
	}
	sc.mu.Lock()
	reads := slices.Clone(sc.reads)
	sc.mu.Unlock()
	var after []time.Duration // how long each read after a full one waited
	for i := 1; i < len(reads); i++ {
		if reads[i-1].full {
			after = append(after, reads[i].called.Sub(reads[i-1].returned))
		}
	}
	if len(after) < 2 {
		t.Fatalf("%d reads filled their buffer after the hiccup, want a backlog of several", len(after))
	}
	slices.Sort(after)
	if m := after[len(after)/2]; m >= delay/2 {
		t.Errorf("reads after a full read waited %v (median of %d), want well under the %v delay: the backlog drains one buffer per delay", m, len(after), delay)
	}
}
