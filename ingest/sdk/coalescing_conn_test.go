package sdk_test

import (
	"context"
	"net"
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
}
