package loadtest

import "time"

// faultSet is what a stream's active faults add up to, as the pacer, the
// RTSP handler and the readers' connections read it. It is immutable once
// published; a stream with no active fault has none (nil), which is the
// pacer's fast path.
type faultSet struct {
	// Read by the pacer.
	audioOff bool    // no audio RTP
	videoOff bool    // no video RTP
	rtcpOff  bool    // no sender reports
	frozen   bool    // audio timestamps stop advancing
	loss     float64 // fraction of audio packets dropped
	reorder  float64 // probability of swapping an audio packet with the next
	jitter   int64   // largest delay of an audio packet, in rounds
	size     int     // audio payload length, 0 for the clip's
	speed    int64   // audio packets per round, 0 for one

	// Read by the readers' connections.
	garbage bool

	// Read by the RTSP handler.
	reset        bool         // reset connections that ask for the stream
	unauthorized bool         // answer 401
	notFound     bool         // answer 404
	redirectAway bool         // answer DESCRIBE with 302 to Server.Decoy
	redirectLoop bool         // answer DESCRIBE with 302 to itself
	slow         *activeFault // hold DESCRIBE until this fault ends
}

// newFaultSet adds up active (in the order they began), or returns nil if
// none of them acts on packets or requests. packet is the pacer's round.
// Overlapping faults of one kind combine by taking the strongest
// parameter.
func newFaultSet(active []*activeFault, packet time.Duration) *faultSet {
	var fs faultSet
	for _, af := range active {
		switch af.f.Kind {
		case FaultAudioStopVideo, FaultAudioStopRTCP:
			fs.audioOff = true
		case FaultSilent:
			fs.audioOff, fs.videoOff, fs.rtcpOff = true, true, true
		case FaultTimestampsFrozen:
			fs.frozen = true
		case FaultTCPReset:
			fs.reset = true
		case FaultUnauthorized:
			fs.unauthorized = true
		case FaultNotFound:
			fs.notFound = true
		case FaultRedirectOtherHost:
			fs.redirectAway = true
		case FaultRedirectLoop:
			fs.redirectLoop = true
		case FaultGarbage:
			fs.garbage = true
		case FaultUDPLoss:
			fs.loss = max(fs.loss, af.f.Loss)
		case FaultUDPReorder:
			fs.reorder = max(fs.reorder, af.f.Reorder)
		case FaultUDPJitter:
			fs.jitter = max(fs.jitter, int64(af.f.Jitter/packet))
		case FaultOversizedPayload:
			fs.size = max(fs.size, af.f.Size)
		case FaultFastClock:
			fs.speed = max(fs.speed, int64(af.f.Speed))
		case FaultSlowDescribe:
			if fs.slow == nil {
				fs.slow = af
			}
		}
		// The SDP faults act through the stream's variant instead.
	}
	if fs == (faultSet{}) {
		return nil
	}
	return &fs
}
