package audio

import (
	"os"
	"testing"
)

// payload is one RTP packet's payload and marker bit.
type payload struct {
	data   []byte
	marker bool
}

// speech16k returns the 16 kHz reference clip of the loadtest fixtures.
func speech16k(tb testing.TB) []int16 {
	tb.Helper()
	b, err := os.ReadFile("../loadtest/testdata/speech_16k.wav")
	if err != nil {
		tb.Fatal(err)
	}
	rate, channels, samples, err := ReadWAV(b)
	if err != nil || rate != 16000 || channels != 1 {
		tb.Fatalf("speech_16k.wav: %d Hz, %d channels, %v; want 16 kHz mono", rate, channels, err)
	}
	return samples
}
