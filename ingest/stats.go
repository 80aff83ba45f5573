package ingest

import (
	"sync/atomic"
	"time"

	"github.com/earshot/earshot/ingest/sdk"
)

// State is a stream's connection state.
type State string

// States.
const (
	StateConnecting State = "connecting"
	StateStreaming  State = "streaming"
	// StateBackoff: the last attempt failed or the session ended; the
	// stream reconnects after a pause.
	StateBackoff State = "backoff"
	// StateError: the last attempt failed for a reason retrying soon
	// cannot fix (see Failure); the stream retries after PermanentRetry.
	StateError   State = "error"
	StateStopped State = "stopped"
)

// StreamStats are one stream's state and counters, for the status API and
// metrics. Nothing in it holds credentials.
type StreamStats struct {
	ID        string `json:"id"`
	URL       string `json:"url"` // credentials redacted
	Transport string `json:"transport"`
	State     State  `json:"state"`
	LastError string `json:"last_error,omitempty"` // credentials redacted
	// Failure is the kind of the last error (sdk.Classify), empty while
	// streaming.
	Failure string `json:"failure,omitempty"`
	// StateSince is when the stream entered State.
	StateSince time.Time `json:"state_since"`
	// Codec is the codec of the current (or last) session.
	Codec string `json:"codec,omitempty"`
	// Stall is the stall in progress, if any.
	Stall *Stall `json:"stall,omitempty"`
	// Silent is true while the stream is stalled with silent_audio: the
	// microphone is muted or dead, audio still flows.
	Silent bool `json:"silent"`
	// Level is the audio level of the last 100 ms, while streaming.
	Level *Level `json:"level,omitempty"`
	// GapsLastHour and StallsLastHour count the gaps and stalls of the
	// last hour (Supervisor.Events lists them).
	GapsLastHour   int `json:"gaps_last_hour"`
	StallsLastHour int `json:"stalls_last_hour"`
	// Listeners is the number of listen-in listeners now.
	Listeners int `json:"listeners"`
	// LastPacket is when the worker last took an RTP audio packet.
	LastPacket time.Time `json:"last_packet,omitzero"`
	// ClockDriftPPM estimates how much faster than real time the source's
	// RTP clock runs, in parts per million, over the current timeline.
	ClockDriftPPM float64 `json:"clock_drift_ppm"`

	// Epoch is the current (or last) epoch's number: unique across
	// streams and restarts, increasing, not consecutive. Epochs counts the
	// epochs this stream has had since it was added.
	Epoch          uint64 `json:"epoch"`
	Epochs         uint64 `json:"epochs"`
	Packets        uint64 `json:"packets"`         // frames that reached the worker
	HandoffDropped uint64 `json:"handoff_dropped"` // frames dropped because the worker was behind
	SDKDropped     uint64 `json:"sdk_dropped"`     // frames the SDK dropped because callbacks were behind
	DecodeErrors   uint64 `json:"decode_errors"`
	Late           uint64 `json:"late"`      // late or duplicate packets discarded
	Concealed      uint64 `json:"concealed"` // lost packets concealed by the decoder
	// Trimmed counts packets whose audio was cut: the previous payload
	// was longer than its RTP slot and overlapped them, or they decoded
	// to more than 300 ms. TrimmedSamples is the output samples cut.
	Trimmed        uint64 `json:"trimmed"`
	TrimmedSamples uint64 `json:"trimmed_samples"`
	// Discontinuities counts timeline restarts: SSRC changes, timestamp
	// jumps, sequence jumps beyond the reorder window.
	Discontinuities uint64 `json:"discontinuities"`
	// ClockTooFast counts sessions ended because the source's RTP clock ran
	// ahead of real time (gap reason clock_too_fast).
	ClockTooFast uint64 `json:"clock_too_fast"`
	// CeilingSamples counts output samples refused by the output ceiling
	// (gap reason output_ceiling).
	CeilingSamples uint64 `json:"ceiling_samples"`
	Chunks         uint64 `json:"chunks"`
	AudioSamples   uint64 `json:"audio_samples"` // samples at the output rate written in audio records
	Gaps           uint64 `json:"gaps"`
	Reconnects     uint64 `json:"reconnects"`
	SinkErrors     uint64 `json:"sink_errors"`
	Overruns       uint64 `json:"overruns"` // SDK callback overruns reported for this stream
	Stalls         uint64 `json:"stalls"`   // stalls detected
	// AudioSeconds is AudioSamples in seconds.
	AudioSeconds float64 `json:"audio_seconds"`
	// GapReasons counts the gap records written, by reason.
	GapReasons map[string]uint64 `json:"gap_reasons,omitempty"`
	// HandoffQueued is the number of frames waiting for the worker now.
	HandoffQueued int `json:"handoff_queued"`

	// The SDK's counters (sdk.HandleStats), summed over every session.
	RTPReceived uint64 `json:"rtp_received"` // RTP audio packets read from the connection
	RTPLost     uint64 `json:"rtp_lost"`     // RTP packets missing from the sequence
	RTPErrors   uint64 `json:"rtp_errors"`   // RTP or RTCP data that could not be parsed
}

// rtpTotals sums the SDK counters of a stream's sessions.
type rtpTotals struct {
	received, lost, errors uint64
}

func (t *rtpTotals) add(hs sdk.HandleStats) {
	t.received += hs.Received
	t.lost += hs.Lost
	t.errors += hs.DecodeErrors
}

// counters are written by the stream's worker, adapter and watchdog and
// read by anyone.
type counters struct {
	packets, handoffDropped, sdkDropped, decodeErrors, late, concealed atomic.Uint64
	chunks, audioSamples, gaps, reconnects, sinkErrors                 atomic.Uint64
	overruns, epoch, epochs, stalls                                    atomic.Uint64
	trimmed, trimmedSamples, discontinuities, clockTooFast             atomic.Uint64
	ceilingSamples                                                     atomic.Uint64
}
