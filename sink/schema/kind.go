package schema

// Kind says what a Record carries: audio, or one of the control events that
// frame a stream's epochs.
type Kind string

// Record kinds, as they appear in the earshot.kind header.
const (
	// KindAudio carries PCM.
	KindAudio Kind = "audio"
	// KindStart opens an epoch: the stream connected and its first audio
	// follows.
	KindStart Kind = "start"
	// KindGap says GapMS milliseconds of audio starting at Offset are missing
	// (packet loss, a stalled camera); Reason says why.
	KindGap Kind = "gap"
	// KindEnd closes an epoch: the stream disconnected or was stopped; Reason
	// says why.
	KindEnd Kind = "end"
)

// Known reports whether k is one of the Kind constants.
func (k Kind) Known() bool {
	switch k {
	case KindAudio, KindStart, KindGap, KindEnd:
		return true
	}
	return false
}

// Control reports whether k is a control kind, which carries no PCM.
func (k Kind) Control() bool {
	return k != KindAudio
}
