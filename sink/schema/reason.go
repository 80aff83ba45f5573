package schema

// Reasons, the value of the earshot.reason header of gap and end records,
// and the gap reasons that readers of a topic add to a stream's timeline.
// Every reason earshot and its tools use is one of these constants.

// Gap reasons earshot writes when audio of a connected stream is missing.
const (
	// ReasonRTPLoss: RTP packets were lost (a sequence number or timestamp
	// skipped ahead).
	ReasonRTPLoss = "rtp_loss"
	// ReasonHandoffDrop: earshot dropped frames because the stream's worker
	// fell behind the SDK's callbacks.
	ReasonHandoffDrop = "handoff_drop"
	// ReasonSDKQueueFull: the SDK dropped frames because its queue reached
	// its frame bound while holding less than its duration of audio
	// (packets far shorter than usual, or timestamps that do not advance);
	// callbacks that fall behind leave callback_blocked instead.
	ReasonSDKQueueFull = "sdk_queue_full"
	// ReasonDecodeError: the codec rejected a frame.
	ReasonDecodeError = "decode_error"
	// ReasonDiscontinuity: the source's clock jumped (a timestamp jump or a
	// new SSRC) or a session ended that way; as an end reason, the epoch
	// ended because the source restarted its stream.
	ReasonDiscontinuity = "discontinuity"
	// ReasonSinkDrop: earshot's sink dropped records from its full spool;
	// the gap replaces them.
	ReasonSinkDrop = "sink_drop"
	// ReasonOutputCeiling: audio beyond the stream's output ceiling (1.1x
	// real time after a 5 s burst) was not written; the last line of
	// defence against a source that sends more audio than real time.
	ReasonOutputCeiling = "output_ceiling"
)

// Stall reasons: gap reasons of the watchdog, which found a stage that
// stopped making progress while work waited for it.
const (
	// ReasonNoRTP: no RTP audio and no RTCP arrive.
	ReasonNoRTP = "no_rtp"
	// ReasonRTCPOnly: RTCP still arrives, RTP audio does not.
	ReasonRTCPOnly = "rtcp_only"
	// ReasonTimestampsFrozen: packets arrive, the timeline does not advance.
	ReasonTimestampsFrozen = "timestamps_frozen"
	// ReasonClockTooFast: the source's RTP clock ran ahead of the arrival
	// clock by more than 2 s, or by more than 5 % over 10 s or more; the
	// session ends and the stream reconnects after as long as it ran ahead.
	ReasonClockTooFast = "clock_too_fast"
	// ReasonCallbackBlocked: an SDK callback runs too long, or none runs
	// while frames wait.
	ReasonCallbackBlocked = "callback_blocked"
	// ReasonWorkerStuck: one step of a stream's worker takes too long.
	ReasonWorkerStuck = "worker_stuck"
	// ReasonSinkStalled: a write to the sink takes too long.
	ReasonSinkStalled = "sink_stalled"
)

// End reasons: why an epoch ended.
const (
	// ReasonDisconnected: the session failed or the connection was lost
	// (also the reason of a stream that could not connect).
	ReasonDisconnected = "disconnected"
	// ReasonShutdown: earshot stopped.
	ReasonShutdown = "shutdown"
	// ReasonRemoved: the stream was removed from earshot's configuration
	// or through its API.
	ReasonRemoved = "removed"
	// ReasonMoved: the stream moved to another earshot instance of a fleet
	// (its registry partition was revoked or lost, the instance left the
	// fleet or fenced itself), which continues it with a new epoch.
	ReasonMoved = "moved"
)

// Gap reasons a consumer's Reassembler (package sink/consumer) adds to those
// of earshot's gap records.
const (
	// ReasonMissing is a hole no record explains: records were lost
	// between earshot and the consumer.
	ReasonMissing = "missing"
	// ReasonBetweenEpochs is the time between the end of one epoch and the
	// start of the next (a reconnection, or a restart of earshot), measured
	// on the capture clock.
	ReasonBetweenEpochs = "between_epochs"
)

// Gap reasons the load test's verifier (package loadtest/harness) gives to
// time no record accounts for.
const (
	// ReasonUnreported: time that passed without audio or a gap record: the
	// samples' offsets go on, their capture times jump. A new epoch whose
	// source sends nothing yet leaves one.
	ReasonUnreported = "unreported"
	// ReasonStoppedEarly: the timeline ends before the stream was stopped.
	ReasonStoppedEarly = "stopped_early"
	// ReasonNoAudio: the stream delivered no audio at all.
	ReasonNoAudio = "no_audio"
)
