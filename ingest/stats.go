package ingest

import "sync/atomic"

// State is a stream's connection state.
type State string

// States.
const (
	StateConnecting State = "connecting"
	StateStreaming  State = "streaming"
	StateBackoff    State = "backoff"
	StateStopped    State = "stopped"
)

// StreamStats are one stream's counters, for the status API and metrics.
type StreamStats struct {
	ID             string
	State          State
	LastError      string // credentials redacted
	Epoch          uint64
	Packets        uint64 // frames that reached the worker
	HandoffDropped uint64 // frames dropped because the worker was behind
	DecodeErrors   uint64
	Late           uint64 // late or duplicate packets discarded
	Concealed      uint64 // lost packets concealed by the decoder
	Chunks         uint64
	AudioSamples   uint64 // samples at the output rate written in audio records
	Gaps           uint64
	Reconnects     uint64
	SinkErrors     uint64
	Overruns       uint64 // SDK callback overruns reported for this stream
}

// counters are written by the stream's worker and adapter and read by
// anyone.
type counters struct {
	packets, handoffDropped, decodeErrors, late, concealed atomic.Uint64
	chunks, audioSamples, gaps, reconnects, sinkErrors     atomic.Uint64
	overruns, epoch                                        atomic.Uint64
}
