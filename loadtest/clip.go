package loadtest

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"gopkg.in/hraban/opus.v2"

	"github.com/earshot/earshot/audio"
)

// The speech clips are embedded so that binaries work from any directory.
var (
	//go:embed testdata/speech_16k.wav
	speech16kWAV []byte
	//go:embed testdata/speech_8k.wav
	speech8kWAV []byte
)

// opusMaxPacket is the largest Opus packet libopus may produce (RFC 6716).
const opusMaxPacket = 1275

// clip is one codec's rendition of the speech clip, as the RTP payloads of
// one loop, one per pacer round. It is built once per codec by NewServer
// and then shared read-only by every stream of that codec.
type clip struct {
	codec string
	// payloads holds one loop of the clip; stream round r plays
	// payloads[r%len(payloads)]. A nil payload sends nothing: AAC's access
	// units do not line up with rounds, and a round in which none starts
	// has no packet.
	payloads [][]byte
	// stamps holds each payload's RTP timestamp relative to the loop's
	// start, and leads how long after its round's due time its audio
	// starts (nil when always 0).
	stamps []uint32
	leads  []time.Duration
	// loopTicks is the RTP timestamp increment per loop.
	loopTicks uint32
	// marker is the RTP marker bit of every packet: set for AAC, whose
	// packets each end an access unit (RFC 3640, RFC 6416).
	marker bool
	// config is the AAC configuration announced in SDP; nil for other
	// codecs.
	config *mpeg4audio.AudioSpecificConfig
}

// evenClip returns a clip whose payloads each last ticks clock units.
func evenClip(codec string, payloads [][]byte, ticks int) *clip {
	stamps := make([]uint32, len(payloads))
	for i := range stamps {
		stamps[i] = uint32(i * ticks)
	}
	return &clip{codec: codec, payloads: payloads, stamps: stamps, loopTicks: uint32(len(payloads) * ticks)}
}

// packet returns round r's payload (nil for none), its RTP timestamp
// relative to round 0's, and its lead over the round's due time.
func (c *clip) packet(r int64) (payload []byte, ts uint32, lead time.Duration) {
	n := int64(len(c.payloads))
	i := r % n
	if c.leads != nil {
		lead = c.leads[i]
	}
	return c.payloads[i], uint32(r/n)*c.loopTicks + c.stamps[i], lead
}

// newFormat returns a fresh gortsplib format for c. Each stream gets its own
// instance so that descriptions are never shared between ServerStreams.
func (c *clip) newFormat() format.Format {
	return cameraCodecs()[c.codec].format(c) // c was made by newClip
}

// newClip encodes the reference speech for codec, in packets of d.
// speech16k and speech8k must already be padded to a whole loop (padToLoop).
func newClip(codec string, d time.Duration, speech16k, speech8k []int16) (*clip, error) {
	c, cc, err := cameraCodecOf(codec)
	if err != nil {
		return nil, err
	}
	return cc.encode(c, d, speech16k, speech8k)
}

// newOpusClip encodes 16 kHz mono speech with libopus. The clip is encoded
// twice and the second pass kept, so that the first packet of the loop was
// encoded with the encoder state left by the end of the clip and the loop
// seam decodes without a glitch.
func newOpusClip(d time.Duration, speech []int16) (*clip, error) {
	enc, err := opus.NewEncoder(16000, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("opus encoder: %w", err)
	}
	// In-band FEC lets a consumer recover a lost packet from the next one.
	if err := enc.SetInBandFEC(true); err != nil {
		return nil, fmt.Errorf("opus encoder: %w", err)
	}
	if err := enc.SetPacketLossPerc(5); err != nil {
		return nil, fmt.Errorf("opus encoder: %w", err)
	}

	frame := samplesPer(d, 16000)
	n := len(speech) / frame
	var buf [opusMaxPacket]byte
	var payloads [][]byte
	for pass := range 2 {
		for i := range n {
			size, err := enc.Encode(speech[i*frame:(i+1)*frame], buf[:])
			if err != nil {
				return nil, fmt.Errorf("frame %d: %w", i, err)
			}
			if pass == 1 {
				payloads = append(payloads, append([]byte(nil), buf[:size]...))
			}
		}
	}
	return evenClip(audio.CodecOpus, payloads, samplesPer(d, 48000)), nil // RFC 7587: 48 kHz RTP clock
}

// newG711Clip encodes 8 kHz mono speech as A-law or µ-law.
func newG711Clip(codec string, d time.Duration, speech []int16) (*clip, error) {
	enc, err := audio.EncodeG711(codec, speech)
	if err != nil {
		return nil, err
	}
	frame := samplesPer(d, 8000)
	return evenClip(codec, cut(enc, frame), frame), nil
}

// newL16Clip renders 16 kHz mono speech as 16-bit big-endian stereo with the
// same signal on both channels, so that consumers exercise their downmix.
func newL16Clip(d time.Duration, speech []int16) *clip {
	pcm := make([]byte, 4*len(speech))
	for i, v := range speech {
		binary.BigEndian.PutUint16(pcm[4*i:], uint16(v))
		binary.BigEndian.PutUint16(pcm[4*i+2:], uint16(v))
	}
	frame := samplesPer(d, 16000)
	return evenClip(audio.CodecL16, cut(pcm, 4*frame), frame)
}

// cut splits b into consecutive size-byte slices sharing b's backing array.
// len(b) must be a multiple of size.
func cut(b []byte, size int) [][]byte {
	out := make([][]byte, 0, len(b)/size)
	for i := 0; i+size <= len(b); i += size {
		out = append(out, b[i:i+size:i+size])
	}
	return out
}

// samplesPer returns how many samples at rate Hz last d.
func samplesPer(d time.Duration, rate int) int {
	return int(d * time.Duration(rate) / time.Second)
}

// loadSpeech decodes an embedded WAV clip and checks its format.
func loadSpeech(wav []byte, wantRate int) ([]int16, error) {
	rate, channels, samples, err := audio.ReadWAV(wav)
	if err != nil {
		return nil, fmt.Errorf("read %d Hz speech clip: %w", wantRate, err)
	}
	if rate != wantRate || channels != 1 {
		return nil, fmt.Errorf("speech clip is %d Hz %d channels, want %d Hz mono", rate, channels, wantRate)
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("%d Hz speech clip is empty", wantRate)
	}
	return samples, nil
}

// aacFrameDuration is the duration of an AAC access unit at 16 kHz; it is
// also 3 access units at 48 kHz.
const aacFrameDuration = 64 * time.Millisecond

// padToLoop returns samples at rate followed by silence up to one loop
// period: a whole number of packets of d, and of AAC access units at 16 and
// 48 kHz, so that every codec's stream loops without a jump in its RTP
// timestamps. With d = 20 ms the loop is a multiple of 320 ms.
func padToLoop(samples []int16, d time.Duration, rate int) []int16 {
	ms := int64(d / time.Millisecond)
	aac := int64(aacFrameDuration / time.Millisecond)
	quantum := int(ms * aac / gcd(ms, aac) * int64(rate) / 1000)
	n := (len(samples) + quantum - 1) / quantum * quantum
	out := make([]int16, n)
	copy(out, samples)
	return out
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
