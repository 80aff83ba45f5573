package loadtest

import (
	"errors"
	"math"
	"testing"
)

func TestToneIsAtToneDBFS(t *testing.T) {
	for _, rate := range []int{8000, 16000} {
		s := tone(rate, rate) // one second
		var sum float64
		for _, v := range s {
			sum += float64(v) * float64(v)
		}
		db := 20 * math.Log10(math.Sqrt(sum/float64(len(s)))/32768)
		if math.Abs(db-ToneDBFS) > 0.05 {
			t.Errorf("%d Hz tone is %.2f dBFS, want %d", rate, db, ToneDBFS)
		}
	}
}

func TestServerRejectsUnknownSignal(t *testing.T) {
	_, err := NewServer(ServerConfig{Streams: []StreamSpec{{Name: "a", Codec: "pcmu", Signal: "noise"}}})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("signal noise: err %v, want ErrInvalidConfig", err)
	}
	for _, sig := range []string{SignalSpeech, SignalTone, SignalSilence} {
		if _, err := NewServer(ServerConfig{Streams: []StreamSpec{{Name: "a", Codec: "opus", Signal: sig}}}); err != nil {
			t.Errorf("signal %q: %v", sig, err)
		}
	}
}
