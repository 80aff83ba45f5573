package sdk

import "time"

// ntpEpochOffset is the number of seconds from 1900 (the NTP epoch) to
// 1970 (the Unix epoch).
const ntpEpochOffset = 2208988800

// senderReport maps the RTP clock of a track to wall-clock time, from an
// RTCP sender report. earshot decodes sender reports itself: gortsplib
// v4.16.2 reads the NTP fraction as nanoseconds instead of units of 2^-32 s
// (RFC 3550), which puts capture times from cameras off by up to 3.3 s.
type senderReport struct {
	ntp time.Time
	rtp uint32
}

// ntpTime converts a 64-bit NTP timestamp (RFC 3550, section 4): seconds
// since 1900 in the high 32 bits, the fraction of a second in the low 32.
func ntpTime(v uint64) time.Time {
	frac := (v & 0xFFFFFFFF) * uint64(time.Second) >> 32
	return time.Unix(int64(v>>32)-ntpEpochOffset, int64(frac))
}

// at returns the wall-clock time of RTP timestamp ts; packets up to half
// the 32-bit RTP range away from the report, either way, map correctly.
func (sr *senderReport) at(ts uint32, clockRate int) time.Time {
	units := int64(int32(ts - sr.rtp))
	return sr.ntp.Add(time.Duration(units * int64(time.Second) / int64(clockRate)))
}

// SenderReport is a senderReport for a backend that reads sender reports
// itself (package gst).
type SenderReport struct{ sr senderReport }

// NewSenderReport makes the mapping of a sender report's 64-bit NTP
// timestamp and RTP timestamp.
func NewSenderReport(ntp uint64, rtp uint32) *SenderReport {
	return &SenderReport{senderReport{ntp: ntpTime(ntp), rtp: rtp}}
}

// At returns the wall-clock time of RTP timestamp ts, as Frame.NTP.
func (r *SenderReport) At(ts uint32, clockRate int) time.Time { return r.sr.at(ts, clockRate) }
