//go:build gstreamer

package gst

import (
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/loadtest/loadtesttest"
)

// TestFrameNTPComesFromSenderReports: through either backend, frames carry
// the capture time the camera's RTCP sender reports give their RTP
// timestamps: near the arrival time on loopback, and advancing exactly
// with the RTP clock.
func TestFrameNTPComesFromSenderReports(t *testing.T) {
	cams := loadtesttest.NewServer(t, loadtest.ServerConfig{
		Streams:            []loadtest.StreamSpec{{Name: "cam", Codec: audio.CodecPCMU}},
		SenderReportPeriod: 100 * time.Millisecond,
	})
	backends := map[string]backend{"gstreamer": newGst(t, Options{}), "gortsplib": newGortsplib(t)}
	for name, b := range backends {
		t.Run(name, func(t *testing.T) {
			_, frames := collect(t, b, cams.URL("cam"), 50) // 1 s
			first := -1
			for i, f := range frames {
				if f.NTP.IsZero() {
					if first >= 0 {
						t.Fatalf("frame %d has no NTP time after frame %d had one", i, first)
					}
					continue
				}
				if first < 0 {
					first = i
					t.Logf("first NTP time on frame %d: %s before arrival", i, f.Arrival.Sub(f.NTP))
				}
				if d := f.Arrival.Sub(f.NTP); d < -50*time.Millisecond || d > time.Second {
					t.Errorf("frame %d: captured %s before its arrival, want within -50 ms..1 s", i, d)
				}
				prev := frames[i-1]
				if i == first || prev.NTP.IsZero() {
					continue
				}
				want := time.Duration(int64(f.Timestamp-prev.Timestamp) * int64(time.Second) / 8000)
				// Consecutive reports may disagree by the camera's clock
				// reading: a millisecond.
				if got := f.NTP.Sub(prev.NTP); got-want > time.Millisecond || want-got > time.Millisecond {
					t.Errorf("frame %d: NTP advanced %s for %s of RTP", i, got, want)
				}
			}
			if first < 0 {
				t.Fatal("no frame has an NTP time")
			}
		})
	}
}
