package harness

import (
	"slices"

	"github.com/earshot/earshot/loadtest"
	"github.com/earshot/earshot/sink/schema"
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
var reconnecting = []string{schema.ReasonBetweenEpochs, schema.ReasonUnreported}

var faultExpectations = map[loadtest.FaultKind]faultExpectation{
	loadtest.FaultAudioStopVideo:   {required: schema.ReasonRTCPOnly, allowed: reconnecting},
	loadtest.FaultAudioStopRTCP:    {required: schema.ReasonRTCPOnly, allowed: reconnecting},
	loadtest.FaultSilent:           {required: schema.ReasonNoRTP, allowed: append(reconnecting, schema.ReasonDisconnected)},
	loadtest.FaultTimestampsFrozen: {required: schema.ReasonTimestampsFrozen, allowed: append(reconnecting, schema.ReasonRTPLoss, schema.ReasonDiscontinuity)},
	loadtest.FaultTCPReset:         {required: schema.ReasonDisconnected, allowed: reconnecting},
	loadtest.FaultServerRestart:    {required: schema.ReasonDisconnected, allowed: reconnecting},
	loadtest.FaultUnauthorized:     {required: schema.ReasonDisconnected, allowed: reconnecting, permanent: true},
	loadtest.FaultNotFound:         {required: schema.ReasonDisconnected, allowed: reconnecting, permanent: true},
	loadtest.FaultNoAudio:          {required: schema.ReasonDisconnected, allowed: reconnecting, permanent: true},
	loadtest.FaultUnsupportedCodec: {required: schema.ReasonDisconnected, allowed: reconnecting, permanent: true},
	loadtest.FaultGarbage:          {allowed: []string{schema.ReasonRTPLoss, schema.ReasonDecodeError}},
	loadtest.FaultUDPLoss:          {required: schema.ReasonRTPLoss},
	loadtest.FaultUDPReorder:       {allowed: []string{schema.ReasonRTPLoss}},
	loadtest.FaultUDPJitter:        {allowed: []string{schema.ReasonRTPLoss, schema.ReasonUnreported}},
	loadtest.FaultTimestampJump:    {allowed: []string{schema.ReasonDiscontinuity, schema.ReasonRTPLoss}},
	loadtest.FaultSSRCChange:       {required: schema.ReasonDiscontinuity, allowed: append(reconnecting, schema.ReasonDisconnected)},
	loadtest.FaultSDPChange:        {required: schema.ReasonDisconnected, allowed: reconnecting},
	loadtest.FaultSlowDescribe:     {required: schema.ReasonDisconnected, allowed: reconnecting},
}

// explains reports whether a gap with reason may come from a fault of this
// kind.
func (e faultExpectation) explains(reason string) bool {
	return reason == e.required && reason != "" || slices.Contains(e.allowed, reason)
}
