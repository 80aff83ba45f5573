package sdk_test

import (
	"testing"
	"time"

	"github.com/earshot/earshot/ingest/sdk"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
)

// burstFrame is what the burst test keeps of a frame.
type burstFrame struct {
	arrival    time.Time
	dropped    uint64
	dropReason string
}

// burstLen is the burst the test waits for: more than the 32 frames the
// SDK's queue used to hold, fewer than the 64 gortsplib's UDP reorder
// buffer releases at once after a loss.
const burstLen = 48

func TestBurstAfterUDPLoss(t *testing.T) {
	cases := []struct {
		name      string
		opts      sdk.Options
		wantDrops bool
	}{
		{name: "the default queue absorbs the reorder buffer's burst", opts: sdk.Options{}},
		{name: "a 32-frame queue drops part of it, as callbacks behind", opts: sdk.Options{QueueLen: 32}, wantDrops: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := loadtesttest.NewServer(t, loadtest.ServerConfig{UDP: true, Streams: []loadtest.StreamSpec{{Name: "opus", Codec: "opus"}}})
			tc.opts.Workers = 1
			s := newSDK(t, tc.opts)
			frames := make(chan burstFrame, 4096)
			h, err := s.Open(srv.URL("opus"), sdk.OpenOptions{Transport: sdk.TransportUDP, OnData: func(_ sdk.Handle, f *sdk.Frame) {
				// A callback doing 1 ms of work: well within its 10 ms
				// budget, far slower than a burst arrives.
				time.Sleep(time.Millisecond)
				select {
				case frames <- burstFrame{arrival: f.Arrival, dropped: f.Dropped, dropReason: f.DropReason}:
				default:
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(h)
			receive(t, frames, "a first frame")
			clear, err := srv.Inject(loadtest.Fault{Kind: loadtest.FaultUDPLoss, Stream: "opus", Loss: 0.1})
			if err != nil {
				t.Fatal(err)
			}
			defer clear()
			// A burst: frames whose arrivals lie within 5 ms (packets are
			// 20 ms apart otherwise).
			var runStart time.Time
			run, longest, drops := 0, 0, uint64(0)
			deadline := time.After(waitTimeout)
			// A 32-frame queue cannot deliver such a burst: it drops its end.
			for tc.wantDrops && drops == 0 || !tc.wantDrops && run < burstLen {
				var f burstFrame
				select {
				case f = <-frames:
				case <-deadline:
					st, _ := s.Stats(h)
					t.Fatalf("no burst of %d frames (longest %d), or no drops where expected, after %s: %+v", burstLen, longest, waitTimeout, st)
				}
				if f.dropped > 0 {
					drops += f.dropped
					if f.dropReason != sdk.DropCallbacksBehind {
						t.Fatalf("frames dropped for %q, want %q", f.dropReason, sdk.DropCallbacksBehind)
					}
				}
				if f.arrival.Sub(runStart) > 5*time.Millisecond {
					runStart, run = f.arrival, 0
				}
				run++
				longest = max(longest, run)
			}
			st, err := s.Stats(h)
			if err != nil {
				t.Fatal(err)
			}
			if st.Lost == 0 {
				t.Fatal("no packet lost, yet a burst arrived")
			}
			if !tc.wantDrops && (drops > 0 || st.Dropped > 0) {
				t.Fatalf("%d frames of the burst dropped (Stats.Dropped %d), want none", drops, st.Dropped)
			}
		})
	}
}
