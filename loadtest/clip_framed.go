package loadtest

import (
	_ "embed"
	"fmt"
	"slices"
	"time"

	"github.com/earshot/earshot/audio"
	"github.com/earshot/earshot/loadtest/avenc"
)

// The AMR renditions of the speech clips, pre-encoded: Debian's libavcodec
// has no AMR encoder, so GStreamer's made them once (RFC 4867 §5 files):
//
//	gst-launch-1.0 filesrc location=speech_8k.wav ! wavparse ! audioconvert ! \
//	  audio/x-raw,format=S16LE,rate=8000,channels=1 ! amrnbenc band-mode=MR122 ! filesink location=nb
//	gst-launch-1.0 filesrc location=speech_16k.wav ! wavparse ! audioconvert ! \
//	  audio/x-raw,format=S16LE,rate=16000,channels=1 ! voamrwbenc band-mode=MR2305 ! filesink location=wb
//
// then "#!AMR\n" and "#!AMR-WB\n" prefixed. voamrwbenc's MR2305 names frame
// type 6, 19.85 kbit/s.
var (
	//go:embed testdata/speech_8k.amr
	speech8kAMR []byte
	//go:embed testdata/speech_16k.awb
	speech16kAWB []byte
)

// The MPEG audio rendition: MPEG-1 Layer II at 48 kHz mono, 96 kbit/s;
// its 1152-sample frames last 24 ms on a 90 kHz clock.
const (
	mpaRate      = 48000
	mpaFrame     = 1152
	mpaFrameTick = mpaFrame * 90000 / mpaRate
)

// newMPAClip encodes the speech as MP2 and packs, in each round, the
// frames that start during it after RFC 2250's 4-byte header. A loop of
// 24 ms frames spans as many speech loops as make it whole frames; the
// encoding is run twice over and the second pass kept, so that the loop's
// seam decodes smoothly.
func newMPAClip(d time.Duration, speech16k []int16) (*clip, error) {
	one, err := loopAt(speech16k, mpaRate)
	if err != nil {
		return nil, err
	}
	loops := 1
	for len(one)*loops%mpaFrame != 0 {
		loops++
	}
	loop := slices.Repeat(one, loops)
	s, err := avenc.Encode(avenc.Config{Codec: "mp2", SampleRate: mpaRate, Channels: 1, BitRate: 96000}, slices.Repeat(loop, 3))
	if err != nil {
		return nil, err
	}
	n := len(loop) / mpaFrame
	if s.FrameSize != mpaFrame || len(s.Packets) < 2*n {
		return nil, fmt.Errorf("mpa: %d frames of %d samples, want %d of %d", len(s.Packets), s.FrameSize, 2*n, mpaFrame)
	}
	frames := s.Packets[n : 2*n]
	round := samplesPer(d, mpaRate)
	rounds := len(loop) / round
	c := &clip{
		codec:     audio.CodecMPA,
		payloads:  make([][]byte, rounds),
		stamps:    make([]uint32, rounds),
		leads:     make([]time.Duration, rounds),
		loopTicks: uint32(n * mpaFrameTick),
	}
	for first := 0; first < n; {
		r := first * mpaFrame / round
		last := first + 1
		for last < n && last*mpaFrame/round == r {
			last++
		}
		p := slices.Concat(append([][]byte{{0, 0, 0, 0}}, frames[first:last]...)...)
		if len(p) > maxRTPPayload {
			return nil, fmt.Errorf("mpa: round %d: %d frames take %d bytes, more than %d", r, last-first, len(p), maxRTPPayload)
		}
		start := first * mpaFrame
		c.payloads[r], c.stamps[r] = p, uint32(first*mpaFrameTick)
		c.leads[r] = time.Duration(start-r*round) * time.Second / mpaRate
		first = last
	}
	return c, nil
}

// newAMRClip packs the pre-encoded AMR (8 kHz) or AMR-WB (16 kHz) speech,
// padded with NO_DATA frames to the loop of speech (samples at the codec's
// rate), d/20 ms frames a payload: AMR octet-aligned, AMR-WB
// bandwidth-efficient, so that the cameras serve both packings.
func newAMRClip(codec string, d time.Duration, speech []int16) (*clip, error) {
	file, octet := speech8kAMR, true
	if codec == audio.CodecAMRWB {
		file, octet = speech16kAWB, false
	}
	frames, wb, err := audio.ReadAMR(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", codec, err)
	}
	c, _ := audio.LookupCodec(codec)
	perFrame := c.SampleRate / 50
	total := len(speech) / perFrame
	if len(frames) > total {
		frames = frames[:total]
	}
	for len(frames) < total {
		frames = append(frames, []byte{15<<3 | 4}) // NO_DATA
	}
	per := int(d / (20 * time.Millisecond))
	payloads := make([][]byte, 0, total/per)
	for i := 0; i+per <= total; i += per {
		p, err := audio.AMRPayload(frames[i:i+per], wb, octet)
		if err != nil {
			return nil, fmt.Errorf("%s: frame %d: %w", codec, i, err)
		}
		payloads = append(payloads, p)
	}
	return evenClip(codec, payloads, per*perFrame), nil
}

// checkAMRDuration accepts whole 20 ms AMR frames, up to 100 ms.
func checkAMRDuration(d time.Duration) error {
	if d%(20*time.Millisecond) != 0 || d <= 0 || d > 100*time.Millisecond {
		return fmt.Errorf("PacketDuration %v is not 20 to 100 ms of whole 20 ms AMR frames", d)
	}
	return nil
}
