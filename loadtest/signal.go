package loadtest

import "math"

// Signals a synthetic camera's microphone can hear (StreamSpec.Signal).
const (
	SignalSpeech  = ""        // the embedded speech clip
	SignalTone    = "tone"    // a 1 kHz sine at ToneDBFS
	SignalSilence = "silence" // digital zero: a muted or unplugged microphone
)

// ToneDBFS is the RMS level of SignalTone in dBFS, relative to a full-scale
// square wave (the convention of ingest's level meter): a full-scale sine is
// −3 dBFS.
const ToneDBFS = -20

// toneHz is SignalTone's frequency: a whole number of cycles in every loop
// period (a multiple of 320 ms), so the loop has no seam.
const toneHz = 1000

// signalSamples returns the 16 and 8 kHz loops of signal, as long as the
// padded speech loops it replaces.
func signalSamples(signal string, speech16k, speech8k []int16) (s16, s8 []int16) {
	switch signal {
	case SignalTone:
		return tone(len(speech16k), 16000), tone(len(speech8k), 8000)
	case SignalSilence:
		return make([]int16, len(speech16k)), make([]int16, len(speech8k))
	}
	return speech16k, speech8k
}

// tone returns n samples at rate Hz of a toneHz sine whose RMS is ToneDBFS.
func tone(n, rate int) []int16 {
	amp := 32768 * math.Pow(10, ToneDBFS/20.0) * math.Sqrt2
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * math.Sin(2*math.Pi*toneHz*float64(i)/float64(rate))))
	}
	return out
}
