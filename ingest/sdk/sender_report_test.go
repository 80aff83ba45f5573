package sdk

import (
	"testing"
	"time"
)

// senderReportCases: NTP timestamps as cameras write them, and RTP
// timestamps around the report's.
var senderReportCases = []struct {
	name      string
	ntp       uint64
	rtp, ts   uint32
	clockRate int
	want      time.Time
}{
	{"the fraction is in units of 2^-32 s", 0xEC9B_1D00_8000_0000, 1000, 1000, 8000,
		time.Unix(0xEC9B1D00-ntpEpochOffset, 500_000_000)},
	{"a packet after the report", 0xEC9B_1D00_4000_0000, 1000, 1000 + 8000, 8000,
		time.Unix(0xEC9B1D00-ntpEpochOffset+1, 250_000_000)},
	{"a packet before the report, across the RTP wrap", 0xEC9B_1D00_0000_0000, 100, 1<<32 + 100 - 48000, 48000,
		time.Unix(0xEC9B1D00-ntpEpochOffset-1, 0)},
}

func TestSenderReportMapsRTPToWallClock(t *testing.T) {
	for _, c := range senderReportCases {
		sr := senderReport{ntp: ntpTime(c.ntp), rtp: c.rtp}
		if got := sr.at(c.ts, c.clockRate); !got.Equal(c.want) {
			t.Errorf("%s: %s, want %s", c.name, got.UTC(), c.want.UTC())
		}
	}
}
