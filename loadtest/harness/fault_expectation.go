package harness

import (
	"slices"

	"github.com/earshot/earshot/ingest"
	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/sink/consumer"
)

// faultExpectation is what a fault of the synthetic cameras must and may
// leave in a stream's timeline (as earshot's ingest fault tests establish).
type faultExpectation struct {
	// required is the gap reason the fault must leave, "" for none: the
	// watchdog's stall reason, or how the session ended.
	required string
	// allowed are the other reasons its gaps may have.
	allowed []string
	// permanent faults make earshot wait ingest.permanent_retry before it
	// tries again.
	permanent bool
}

// reconnecting are the further gaps of a fault after which earshot
// reconnects: the time between the epochs, and the time a new epoch waits
// for audio while the fault lasts (shorter than the liveness timeout, so
// not a stall).
var reconnecting = []string{consumer.ReasonBetweenEpochs, reasonUnreported}

var faultExpectations = map[loadtest.FaultKind]faultExpectation{
	loadtest.FaultAudioStopVideo:   {required: ingest.ReasonRTCPOnly, allowed: reconnecting},
	loadtest.FaultAudioStopRTCP:    {required: ingest.ReasonRTCPOnly, allowed: reconnecting},
	loadtest.FaultSilent:           {required: ingest.ReasonNoRTP, allowed: append(reconnecting, ingest.ReasonDisconnected)},
	loadtest.FaultTimestampsFrozen: {required: ingest.ReasonTimestampsFrozen, allowed: append(reconnecting, ingest.ReasonRTPLoss, ingest.ReasonDiscontinuity)},
	loadtest.FaultTCPReset:         {required: ingest.ReasonDisconnected, allowed: reconnecting},
	loadtest.FaultServerRestart:    {required: ingest.ReasonDisconnected, allowed: reconnecting},
	loadtest.FaultUnauthorized:     {required: ingest.ReasonDisconnected, allowed: reconnecting, permanent: true},
	loadtest.FaultNotFound:         {required: ingest.ReasonDisconnected, allowed: reconnecting, permanent: true},
	loadtest.FaultNoAudio:          {required: ingest.ReasonDisconnected, allowed: reconnecting, permanent: true},
	loadtest.FaultUnsupportedCodec: {required: ingest.ReasonDisconnected, allowed: reconnecting, permanent: true},
	loadtest.FaultGarbage:          {allowed: []string{ingest.ReasonRTPLoss, ingest.ReasonDecodeError}},
	loadtest.FaultUDPLoss:          {required: ingest.ReasonRTPLoss},
	loadtest.FaultUDPReorder:       {allowed: []string{ingest.ReasonRTPLoss}},
	loadtest.FaultUDPJitter:        {allowed: []string{ingest.ReasonRTPLoss, reasonUnreported}},
	loadtest.FaultTimestampJump:    {allowed: []string{ingest.ReasonDiscontinuity, ingest.ReasonRTPLoss}},
	loadtest.FaultSSRCChange:       {required: ingest.ReasonDiscontinuity, allowed: append(reconnecting, ingest.ReasonDisconnected)},
	loadtest.FaultSDPChange:        {required: ingest.ReasonDisconnected, allowed: reconnecting},
	loadtest.FaultSlowDescribe:     {required: ingest.ReasonDisconnected, allowed: reconnecting},
	// earshot refuses a redirect to another host by default, and gives up
	// a redirect loop after 3: permanent failures either way.
	loadtest.FaultRedirectOtherHost: {required: ingest.ReasonDisconnected, allowed: reconnecting, permanent: true},
	loadtest.FaultRedirectLoop:      {required: ingest.ReasonDisconnected, allowed: reconnecting, permanent: true},
}

// explains reports whether a gap with reason may come from a fault of this
// kind.
func (e faultExpectation) explains(reason string) bool {
	return reason == e.required && reason != "" || slices.Contains(e.allowed, reason)
}
