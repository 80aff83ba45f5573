package audio

import (
	"encoding/binary"
	"errors"
	"fmt"

	"gopkg.in/hraban/opus.v2"
)

// Output rates accepted by NewDecoder.
const (
	minOutRate = 8000
	maxOutRate = 48000
)

// opusMaxFrame is the longest audio one Opus packet can carry (RFC 6716
// §3.2.5), in milliseconds.
const opusMaxFrame = 120

var errEmptyPayload = errors.New("empty payload")

// Decoder turns one track's RTP payloads into mono int16 PCM at an output
// rate. It is owned by one stream worker; the slices it returns alias its
// buffers.
//
// Against the service's budget of 128 KiB a stream, TestStreamMemory
// measures a Decoder plus a 1 s Chunker at 16 kHz (32 KiB) at 54 KiB for
// Opus (18 KiB of libopus state and a 120 ms buffer), 35 KiB for G.711 and
// 104 KiB for L16 at 44.1 kHz, whose Resampler table is the largest.
type Decoder struct {
	format  Format
	outRate int
	// decodeRate is the rate of pcm: the source rate, or for Opus the rate
	// libopus decodes at.
	decodeRate int
	opus       *opus.Decoder // nil unless format.Codec is CodecOpus
	// table expands G.711 bytes; nil unless the codec is G.711.
	table *[256]int16
	// pcm holds one packet of mono samples at decodeRate.
	pcm []int16
	// rs converts decodeRate to outRate; nil when they are equal.
	rs *Resampler
}

// NewDecoder returns a decoder for f producing mono audio at outRate Hz,
// which must be within 8000..48000. Unknown codecs give an error wrapping
// ErrUnsupportedCodec.
//
// Opus decodes directly at outRate when libopus supports it (8, 12, 16, 24
// or 48 kHz) and otherwise at 48 kHz through a Resampler, which makes the
// sample count per packet vary by one.
func NewDecoder(f Format, outRate int) (*Decoder, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("new decoder: %w", err)
	}
	if outRate < minOutRate || outRate > maxOutRate {
		return nil, fmt.Errorf("new decoder: output rate %d Hz is outside %d..%d", outRate, minOutRate, maxOutRate)
	}
	d := &Decoder{format: f, outRate: outRate, decodeRate: f.SampleRate}
	switch f.Codec {
	case CodecOpus:
		d.decodeRate = 48000
		switch outRate {
		case 8000, 12000, 16000, 24000, 48000:
			d.decodeRate = outRate
		}
		dec, err := opus.NewDecoder(d.decodeRate, 1)
		if err != nil {
			return nil, fmt.Errorf("new decoder: opus at %d Hz: %w", d.decodeRate, err)
		}
		d.opus = dec
		d.pcm = make([]int16, d.decodeRate*opusMaxFrame/1000)
	case CodecPCMA:
		d.table = alawTable
	case CodecPCMU:
		d.table = mulawTable
	}
	if d.decodeRate != outRate {
		rs, err := NewResampler(d.decodeRate, outRate)
		if err != nil {
			return nil, fmt.Errorf("new decoder: %w", err)
		}
		d.rs = rs
	}
	return d, nil
}

// Format returns the source format d decodes.
func (d *Decoder) Format() Format { return d.format }

// OutRate returns the sample rate of d's output in Hz.
func (d *Decoder) OutRate() int { return d.outRate }

// Decode decodes one RTP payload into mono samples at the output rate. The
// returned slice is valid until the next call on d. A malformed payload
// returns an error and leaves d usable; the caller treats its duration as
// lost.
//
// Buffers grow to the largest packet seen and are then reused, so
// steady-state calls do not allocate.
func (d *Decoder) Decode(payload []byte) ([]int16, error) {
	if len(payload) == 0 {
		return nil, fmt.Errorf("decode %s: %w", d.format.Codec, errEmptyPayload)
	}
	var n int
	switch {
	case d.opus != nil:
		var err error
		if n, err = d.opus.Decode(payload, d.pcm); err != nil {
			return nil, fmt.Errorf("decode opus payload of %d bytes: %w", len(payload), err)
		}
	case d.table != nil:
		ch := d.format.Channels
		if len(payload)%ch != 0 {
			return nil, fmt.Errorf("decode %s: payload of %d bytes is not a whole number of %d-channel frames",
				d.format.Codec, len(payload), ch)
		}
		n = len(payload) / ch
		d.expandG711(payload, d.grow(n))
	default:
		ch := d.format.Channels
		if len(payload)%(2*ch) != 0 {
			return nil, fmt.Errorf("decode l16: payload of %d bytes is not a whole number of %d-channel 16-bit frames",
				len(payload), ch)
		}
		n = len(payload) / (2 * ch)
		d.unpackL16(payload, d.grow(n))
	}
	return d.resample(d.pcm[:n]), nil
}

// Conceal returns audio standing in for one lost packet that lasted lost
// samples of the source clock (RTP timestamp units). For Opus it uses the
// in-band FEC carried by next, the payload that arrived after the loss, when
// next is not nil and carries it, and packet loss concealment otherwise; call
// Decode(next) afterwards as usual. The returned slice is valid until the
// next call on d.
//
// libopus conceals in steps of 2.5 ms up to 120 ms, so lost is rounded to
// the nearest 2.5 ms. ok is false when nothing can be concealed: for G.711
// and L16, which carry no redundancy, for lost outside 2.5..120 ms, or when
// libopus fails. The caller then records a gap.
func (d *Decoder) Conceal(next []byte, lost int) (samples []int16, ok bool) {
	if d.opus == nil || lost <= 0 {
		return nil, false
	}
	const stepsPerSecond = 400 // 2.5 ms steps
	clock := int64(d.format.SampleRate)
	steps := (int64(lost)*stepsPerSecond + clock/2) / clock
	if steps < 1 || steps > opusMaxFrame*stepsPerSecond/1000 {
		return nil, false
	}
	// The binding passes cap(pcm) to libopus as the frame size, and FEC and
	// PLC must be given exactly the missing duration.
	n := int(steps) * d.decodeRate / stepsPerSecond
	pcm := d.pcm[:n:n]
	if len(next) > 0 && d.opus.DecodeFEC(next, pcm) == nil {
		return d.resample(pcm), true
	}
	if d.opus.DecodePLC(pcm) != nil {
		return nil, false
	}
	return d.resample(pcm), true
}

// Reset drops decoder and resampler history, as after a gap or reconnect.
// For Opus it allocates fresh libopus state (18 KiB), because the binding
// exposes no OPUS_RESET_STATE.
func (d *Decoder) Reset() {
	if d.opus != nil {
		// Construction succeeded with the same parameters; should it fail
		// now, the old state still decodes, only with stale history.
		if dec, err := opus.NewDecoder(d.decodeRate, 1); err == nil {
			d.opus = dec
		}
	}
	if d.rs != nil {
		d.rs.Reset()
	}
}

// grow returns d.pcm resliced to n samples, reallocating only when a packet
// is larger than any before.
func (d *Decoder) grow(n int) []int16 {
	if cap(d.pcm) < n {
		d.pcm = make([]int16, n)
	}
	return d.pcm[:n]
}

func (d *Decoder) resample(pcm []int16) []int16 {
	if d.rs == nil {
		return pcm
	}
	return d.rs.Process(pcm)
}

// expandG711 decodes interleaved G.711 frames into mono, averaging channels.
func (d *Decoder) expandG711(payload []byte, pcm []int16) {
	t := d.table
	ch := d.format.Channels
	if ch == 1 {
		for i, b := range payload[:len(pcm)] {
			pcm[i] = t[b]
		}
		return
	}
	for i := range pcm {
		var sum int32
		for _, b := range payload[i*ch : (i+1)*ch] {
			sum += int32(t[b])
		}
		pcm[i] = int16(sum / int32(ch))
	}
}

// unpackL16 decodes interleaved big-endian 16-bit frames into mono,
// averaging channels in int32 so that no sum overflows.
func (d *Decoder) unpackL16(payload []byte, pcm []int16) {
	ch := d.format.Channels
	if ch == 1 {
		for i := range pcm {
			pcm[i] = int16(binary.BigEndian.Uint16(payload[2*i:]))
		}
		return
	}
	for i := range pcm {
		var sum int32
		frame := payload[2*ch*i : 2*ch*(i+1)]
		for c := range ch {
			sum += int32(int16(binary.BigEndian.Uint16(frame[2*c:])))
		}
		pcm[i] = int16(sum / int32(ch))
	}
}
