package loadtest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/earshot/earshot/sink/schema"
)

// FaultExpectation is what a fault of the synthetic cameras must and may
// leave in the timeline of a stream earshot pulls, as its consumer sees it
// (package sink/consumer; gap reasons from package sink/schema). earshot's
// ingest fault tests and the load test's verifier both judge by it.
type FaultExpectation struct {
	// Required is the gap reason the fault must leave, "" for none: the
	// watchdog's stall reason, or how the session ended.
	Required string
	// Allowed are the other reasons its gaps may have. The ingest fault
	// tests, one fault on an idle loopback, see no gap at all from the
	// faults without a Required reason.
	Allowed []string
	// Permanent faults make earshot wait its permanent retry pause
	// (ingest.permanent_retry) before it tries again.
	Permanent bool
}

// reconnecting are the further gaps of a fault after which earshot
// reconnects: the time between the epochs, and the time a new epoch waits
// for audio while the fault lasts (shorter than the liveness timeout, so
// not a stall).
var reconnecting = []string{schema.ReasonBetweenEpochs, schema.ReasonUnreported}

// faultExpectations has one entry per fault kind.
var faultExpectations = map[FaultKind]FaultExpectation{
	FaultAudioStopVideo:   {Required: schema.ReasonRTCPOnly, Allowed: reconnecting},
	FaultAudioStopRTCP:    {Required: schema.ReasonRTCPOnly, Allowed: reconnecting},
	FaultSilent:           {Required: schema.ReasonNoRTP, Allowed: with(reconnecting, schema.ReasonDisconnected)},
	FaultTimestampsFrozen: {Required: schema.ReasonTimestampsFrozen, Allowed: with(reconnecting, schema.ReasonRTPLoss, schema.ReasonDiscontinuity)},
	FaultTCPReset:         {Required: schema.ReasonDisconnected, Allowed: reconnecting},
	FaultServerRestart:    {Required: schema.ReasonDisconnected, Allowed: reconnecting},
	FaultUnauthorized:     {Required: schema.ReasonDisconnected, Allowed: reconnecting, Permanent: true},
	FaultNotFound:         {Required: schema.ReasonDisconnected, Allowed: reconnecting, Permanent: true},
	FaultNoAudio:          {Required: schema.ReasonDisconnected, Allowed: reconnecting, Permanent: true},
	FaultUnsupportedCodec: {Required: schema.ReasonDisconnected, Allowed: reconnecting, Permanent: true},
	FaultGarbage:          {Allowed: []string{schema.ReasonRTPLoss, schema.ReasonDecodeError}},
	FaultUDPLoss:          {Required: schema.ReasonRTPLoss},
	FaultUDPReorder:       {Allowed: []string{schema.ReasonRTPLoss}},
	FaultUDPJitter:        {Allowed: []string{schema.ReasonRTPLoss, schema.ReasonUnreported}},
	FaultTimestampJump:    {Allowed: []string{schema.ReasonDiscontinuity, schema.ReasonRTPLoss}},
	FaultSSRCChange:       {Required: schema.ReasonDiscontinuity, Allowed: with(reconnecting, schema.ReasonDisconnected)},
	FaultSDPChange:        {Required: schema.ReasonDisconnected, Allowed: reconnecting},
	FaultSlowDescribe:     {Required: schema.ReasonDisconnected, Allowed: reconnecting},
	// Payloads longer than their slot are trimmed, silently but counted;
	// codecs other than PCM may not decode them.
	FaultOversizedPayload: {Allowed: []string{schema.ReasonDecodeError, schema.ReasonRTPLoss}},
	// The session ends as the clock gets ahead; a packet flood may overrun
	// the queues on its way, and the output ceiling may refuse some audio.
	FaultFastClock: {Required: schema.ReasonClockTooFast, Allowed: with(reconnecting,
		schema.ReasonOutputCeiling, schema.ReasonHandoffDrop, schema.ReasonCallbackBlocked, schema.ReasonRTPLoss)},
	// earshot refuses a redirect to another host by default, and gives up
	// a redirect loop after 3 redirects: permanent failures either way.
	FaultRedirectOtherHost: {Required: schema.ReasonDisconnected, Allowed: reconnecting, Permanent: true},
	FaultRedirectLoop:      {Required: schema.ReasonDisconnected, Allowed: reconnecting, Permanent: true},
}

// with returns a new slice of base followed by more.
func with(base []string, more ...string) []string {
	return append(slices.Clip(base), more...)
}

// Expectation returns what a fault of kind k must and may leave; ok is
// false for a kind the server does not implement.
func (k FaultKind) Expectation() (e FaultExpectation, ok bool) {
	e, ok = faultExpectations[k]
	return e, ok
}

// Explains reports whether a gap with reason may come from the fault.
func (e FaultExpectation) Explains(reason string) bool {
	return reason != "" && (reason == e.Required || slices.Contains(e.Allowed, reason))
}

// FaultExpectationTable renders the expectations as a markdown table, one
// row per group of fault kinds with the same expectation, in the order of
// FaultKinds: fault, the reason it must leave, the reasons it may also
// leave.
func FaultExpectationTable() string {
	type row struct {
		kinds []string
		exp   FaultExpectation
	}
	var rows []row
	for _, k := range FaultKinds() {
		e := faultExpectations[k]
		i := slices.IndexFunc(rows, func(r row) bool {
			return r.exp.Required == e.Required && slices.Equal(r.exp.Allowed, e.Allowed)
		})
		if i < 0 {
			rows = append(rows, row{exp: e})
			i = len(rows) - 1
		}
		rows[i].kinds = append(rows[i].kinds, string(k))
	}
	var b strings.Builder
	b.WriteString("| fault | must leave | may also leave |\n|---|---|---|\n")
	for _, r := range rows {
		required := "nothing"
		if r.exp.Required != "" {
			required = code(r.exp.Required)
		}
		fmt.Fprintf(&b, "| %s| %s | %s|\n", codeList(r.kinds), required, codeList(r.exp.Allowed))
	}
	return b.String()
}

// code formats s as markdown code.
func code(s string) string { return "`" + s + "`" }

// codeList formats each of ss as markdown code, separated by commas, and
// followed by a space unless ss is empty.
func codeList(ss []string) string {
	var b strings.Builder
	for i, s := range ss {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(code(s))
	}
	if len(ss) > 0 {
		b.WriteByte(' ')
	}
	return b.String()
}
