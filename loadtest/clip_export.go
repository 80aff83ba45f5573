package loadtest

import (
	"time"

	"github.com/earshot/earshot/audio"
)

// Clip returns what a synthetic camera of codec sends in packets of d
// (0: 20 ms, the cameras' default): the SDP of its track and the RTP payloads of
// one loop of the reference speech, in order (nil where a round carries no
// packet). Benchmarks and the load test's decode-only figure decode it.
func Clip(codec string, d time.Duration) (audio.SDP, [][]byte, error) {
	if d == 0 {
		d = 20 * time.Millisecond
	}
	if err := validatePacketDuration(codec, d); err != nil {
		return audio.SDP{}, nil, err
	}
	speech16k, speech8k, err := referenceSpeech(d)
	if err != nil {
		return audio.SDP{}, nil, err
	}
	c, err := newClip(codec, d, speech16k, speech8k)
	if err != nil {
		return audio.SDP{}, nil, err
	}
	f := c.newFormat()
	return audio.SDP{PayloadType: f.PayloadType(), RTPMap: f.RTPMap(), FMTP: f.FMTP()}, c.payloads, nil
}

// referenceSpeech returns the embedded speech at 16 and 8 kHz, each padded
// to a whole loop of packets of d, as newClip wants it.
func referenceSpeech(d time.Duration) (speech16k, speech8k []int16, err error) {
	if speech16k, err = loadSpeech(speech16kWAV, 16000); err != nil {
		return nil, nil, err
	}
	if speech8k, err = loadSpeech(speech8kWAV, 8000); err != nil {
		return nil, nil, err
	}
	return padToLoop(speech16k, d, 16000), padToLoop(speech8k, d, 8000), nil
}
