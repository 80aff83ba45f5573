// Package decoder decodes RTP audio payloads of every codec in the audio
// registry to 16-bit mono PCM at one output rate. It is the cgo half of
// earshot's audio: Opus through libopus, AAC, G.722 and G.726 through
// libavcodec; G.711 and L16 expand in Go with the audio core's helpers.
//
// Decoders are owned by one stream worker and are not safe for concurrent
// use. Hot-path methods reuse internal buffers and do not allocate per
// packet.
package decoder

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"

	"github.com/earshot/earshot/audio"
)

// Output rates accepted by New.
const (
	minOutRate = 8000
	maxOutRate = 48000
)

// opusMaxFrame is the longest audio one Opus packet can carry (RFC 6716
// §3.2.5), in milliseconds.
const opusMaxFrame = 120

// aacMaxFrame is the most samples per channel libavcodec produces for one
// AAC access unit: 1024, doubled when it finds implicit SBR.
const aacMaxFrame = 2048

// mpaMaxFrame is the most samples per channel of an MPEG audio frame
// (Layer II and MPEG-1 Layer III); AMR frames hold 160 or 320.
const mpaMaxFrame = 1152

// maxASCSize is the capacity reserved for an AudioSpecificConfig: AAC-LC's
// is 2 bytes, 5 with extensions.
const maxASCSize = 16

// maxPacketSeconds bounds the audio one payload may decode to, and so the
// output buffer: an RTP packet lasts tens of milliseconds.
const maxPacketSeconds = 1

var (
	errEmptyPayload = errors.New("empty payload")
	// ErrClosed is returned by Decode after Close.
	ErrClosed = errors.New("decoder closed")
	// errWrongDuration is returned for an AAC access unit that does not
	// decode to one frame.
	errWrongDuration = errors.New("access unit decoded to the wrong duration")
)

// Decoder turns one track's RTP payloads into mono int16 PCM at an output
// rate. It is owned by one stream worker; the slices it returns alias its
// buffers. Close it to free the C memory of the libavcodec codecs.
//
// Opus decodes with libopus, G.711 and L16 in Go, and AAC, G.722 and G.726
// with libavcodec (see avdecoder.go); AAC payloads are first split into
// access units in Go (RFC 3640 AU headers, or LATM).
//
// Against the service's budget of 128 KiB a stream, TestStreamMemory
// measures a Decoder plus a 1 s Chunker at 16 kHz (32 KiB) at 54 KiB for
// Opus (18 KiB of libopus state and a 120 ms buffer), 35 KiB for G.711 and
// 104 KiB for L16 at 44.1 kHz, whose Resampler table is the largest. The
// libavcodec codecs add C memory that the Go heap does not show: 3 to 6 KiB
// for G.726 and G.722, but about 650 KiB for AAC, whose decoder context
// allocates SBR and parametric-stereo state for every channel element
// whether the stream uses them or not.
type Decoder struct {
	format  audio.Format
	outRate int
	// clock is the RTP clock rate, the unit of Ticks.
	clock int
	// decodeRate is the rate of pcm: the source rate, for Opus the rate
	// libopus decodes at, for AAC the rate libavcodec last produced (0
	// before the first in-band configuration).
	decodeRate int
	opus       *opusDecoder // nil unless format.Codec is CodecOpus
	// g711 is set for G.711, mulaw for its µ-law flavour.
	g711, mulaw bool
	// av decodes AAC, G.722 and G.726; nil for the other codecs.
	av *avDecoder
	// cleanup frees av if the Decoder is collected without Close.
	cleanup runtime.Cleanup
	// aac splits AAC, MPEG audio and AMR payloads into access units; nil
	// for other codecs.
	aac audio.Depacketizer
	// framed is set for MPEG audio and AMR, whose access units tell their
	// own duration (codec.AccessUnit); amrWB is set for AMR-WB.
	framed, amr, amrWB bool
	codec              audio.Codec
	// heldTicks is the duration of the frames of packets that ended inside
	// a frame: the packet that completes it carries the same timestamp,
	// so their duration counts in its Ticks.
	heldTicks int
	// avConfig is the AudioSpecificConfig av was opened with; aacFrame is
	// the samples per access unit and aacRate the sample rate it declares.
	avConfig          []byte
	aacFrame, aacRate int
	// codedBits is what one clock tick takes in a G.722 or G.726
	// payload (audio.Codec.CodedBits); 0 for other codecs.
	codedBits int
	// pcm holds one packet (for the libavcodec codecs, one frame) of mono
	// samples at decodeRate.
	pcm []int16
	// out collects the resampled frames of one libavcodec packet.
	out []int16
	// rs converts decodeRate to outRate; nil when they are equal.
	rs *audio.Resampler
	// ticks is the duration of the last decoded payload in RTP clock
	// units; tickRem carries the remainder of AAC's conversion to them,
	// in clock units times aacRate.
	ticks   int
	tickRem int
	closed  bool
}

// New returns a decoder for f producing mono audio at outRate Hz, which
// must be within 8000..48000. Codecs outside the registry, and registry
// codecs without an opener here, give an error wrapping
// audio.ErrUnsupportedCodec.
//
// Opus decodes directly at outRate when libopus supports it (8, 12, 16, 24
// or 48 kHz) and otherwise at 48 kHz through a Resampler, which makes the
// sample count per packet vary by one.
func New(f audio.Format, outRate int) (*Decoder, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("new decoder: %w", err)
	}
	if outRate < minOutRate || outRate > maxOutRate {
		return nil, fmt.Errorf("new decoder: output rate %d Hz is outside %d..%d", outRate, minOutRate, maxOutRate)
	}
	codec, _ := audio.LookupCodec(f.Codec) // validated
	open, ok := openers()[f.Codec]
	if !ok {
		return nil, fmt.Errorf("new decoder: %w: no decoder for %q", audio.ErrUnsupportedCodec, f.Codec)
	}
	d := &Decoder{format: f, outRate: outRate, clock: f.RTPClockRate(), decodeRate: f.SampleRate}
	err := open(d, codec)
	if err == nil {
		err = d.setDecodeRate(d.decodeRate)
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("new decoder: %s: %w", f.Codec, err)
	}
	return d, nil
}

// openOpus sets up libopus, at outRate when it can.
func (d *Decoder) openOpus(audio.Codec) error {
	d.decodeRate = 48000
	switch d.outRate {
	case 8000, 12000, 16000, 24000, 48000:
		d.decodeRate = d.outRate
	}
	dec, err := newOpusDecoder(d.decodeRate)
	if err != nil {
		return fmt.Errorf("opus at %d Hz: %w", d.decodeRate, err)
	}
	d.opus = dec
	d.pcm = make([]int16, d.decodeRate*opusMaxFrame/1000)
	return nil
}

// openG711 selects the expansion table.
func (d *Decoder) openG711(c audio.Codec) error {
	d.g711, d.mulaw = true, c.Name == audio.CodecPCMU
	return nil
}

// openL16 needs nothing: L16 is the default branch of Decode.
func (d *Decoder) openL16(audio.Codec) error { return nil }

// openAAC sets up the depacketizer and, unless the configuration is
// in-band, the libavcodec decoder.
func (d *Decoder) openAAC(audio.Codec) error {
	p, err := audio.NewDepacketizer(d.format)
	if err != nil {
		return err
	}
	d.aac = p
	asc := p.Config()
	av, err := newAVDecoder(avParams{codec: avCodecAAC, sampleRate: d.format.SampleRate, channels: d.format.Channels})
	if err != nil {
		return err
	}
	d.setAV(av)
	d.avConfig = make([]byte, 0, maxASCSize)
	d.pcm = make([]int16, aacMaxFrame)
	if asc != nil {
		return d.configureAAC(asc)
	}
	return nil
}

// openFramed sets up MPEG audio or AMR: the depacketizer and libavcodec.
func (d *Decoder) openFramed(c audio.Codec) error {
	p, err := audio.NewDepacketizer(d.format)
	if err != nil {
		return err
	}
	d.aac, d.framed, d.codec = p, true, c
	d.amr, d.amrWB = c.Name == audio.CodecAMR || c.Name == audio.CodecAMRWB, c.Name == audio.CodecAMRWB
	// libavcodec's MP3 decoder decodes Layer I and II frames too.
	params := avParams{codec: avCodecMP3, sampleRate: d.format.SampleRate, channels: 1}
	switch c.Name {
	case audio.CodecAMR:
		params.codec = avCodecAMRNB
	case audio.CodecAMRWB:
		params.codec = avCodecAMRWB
	}
	av, err := newAVDecoder(params)
	if err != nil {
		return err
	}
	d.setAV(av)
	d.pcm = make([]int16, mpaMaxFrame)
	return nil
}

// openADPCM opens libavcodec for G.722 or G.726.
func (d *Decoder) openADPCM(c audio.Codec) error {
	d.codedBits = c.CodedBits
	p := avParams{codec: avCodecG722, sampleRate: d.format.SampleRate, channels: 1, bitsPerCodedSample: c.CodedBits}
	if c.Name != audio.CodecG722 {
		p.codec = avCodecG726LE
		if c.AAL2 {
			p.codec = avCodecG726
		}
	}
	av, err := newAVDecoder(p)
	if err != nil {
		return err
	}
	d.setAV(av)
	return nil
}

// setAV adopts av, with a cleanup that frees it should Close be forgotten.
func (d *Decoder) setAV(av *avDecoder) {
	d.av = av
	d.cleanup = runtime.AddCleanup(d, func(av *avDecoder) { av.free() }, av)
}

// configureAAC (re)opens libavcodec with the AudioSpecificConfig asc.
func (d *Decoder) configureAAC(asc []byte) error {
	c, err := audio.ParseAudioSpecificConfig(asc)
	if err != nil {
		return err
	}
	if err := d.av.configure(asc); err != nil {
		return err
	}
	d.avConfig = append(d.avConfig[:0], asc...)
	// Access units hold aacFrame samples at the core rate; SBR doubles
	// both, which leaves their duration alone.
	d.aacRate, d.aacFrame = c.SampleRate, c.FrameSamples()
	d.tickRem = 0
	return nil
}

// setDecodeRate switches the resampler to a new source rate. It allocates,
// which happens at construction and when an AAC stream changes rate.
func (d *Decoder) setDecodeRate(rate int) error {
	d.decodeRate = rate
	d.rs = nil
	if rate == 0 || rate == d.outRate {
		return nil
	}
	rs, err := audio.NewResampler(rate, d.outRate)
	if err != nil {
		return err
	}
	d.rs = rs
	return nil
}

// Close frees the decoder's C memory. It is idempotent; Decode returns
// ErrClosed afterwards.
func (d *Decoder) Close() {
	if d.av != nil {
		d.cleanup.Stop()
		d.av.free()
		d.av = nil
		d.aac = nil
	}
	d.closed = true
}

// Format returns the source format d decodes.
func (d *Decoder) Format() audio.Format { return d.format }

// OutRate returns the sample rate of d's output in Hz.
func (d *Decoder) OutRate() int { return d.outRate }

// Decode decodes one RTP payload into mono samples at the output rate;
// marker is the packet's RTP marker bit, which AAC uses to tell the last
// fragment of an access unit from a truncated one. The returned slice is
// valid until the next call on d. A malformed payload returns an error and
// leaves d usable; the caller treats its duration as lost. A fragment of an
// AAC access unit decodes to no samples.
//
// Buffers grow to the largest packet seen and are then reused, so
// steady-state calls do not allocate.
func (d *Decoder) Decode(payload []byte, marker bool) ([]int16, error) {
	d.ticks = 0
	switch {
	case d.closed:
		return nil, fmt.Errorf("decode %s: %w", d.format.Codec, ErrClosed)
	case len(payload) == 0:
		return nil, fmt.Errorf("decode %s: %w", d.format.Codec, errEmptyPayload)
	case d.av != nil:
		return d.decodeAV(payload, marker)
	}
	var n int
	switch {
	case d.opus != nil:
		var err error
		if n, err = d.opus.decode(payload, d.pcm, false); err != nil {
			return nil, fmt.Errorf("decode opus payload of %d bytes: %w", len(payload), err)
		}
		// libopus decodes at a rate dividing the 48 kHz clock.
		d.ticks = n * d.clock / d.decodeRate
	case d.g711:
		ch := d.format.Channels
		if len(payload)%ch != 0 {
			return nil, fmt.Errorf("decode %s: payload of %d bytes is not a whole number of %d-channel frames",
				d.format.Codec, len(payload), ch)
		}
		n = len(payload) / ch
		audio.ExpandG711(d.grow(n), payload, d.mulaw, ch)
		d.ticks = n
	default:
		ch := d.format.Channels
		if len(payload)%(2*ch) != 0 {
			return nil, fmt.Errorf("decode l16: payload of %d bytes is not a whole number of %d-channel 16-bit frames",
				len(payload), ch)
		}
		n = len(payload) / (2 * ch)
		audio.UnpackL16(d.grow(n), payload, ch)
		d.ticks = n
	}
	return d.resample(d.pcm[:n]), nil
}

// Ticks returns the duration of the payload the last successful Decode
// took, in RTP clock units: what the next packet's timestamp should have
// advanced by. It is exact even where resampling makes the output's
// sample count vary by one, and 0 after a fragment of an AAC access unit.
func (d *Decoder) Ticks() int { return d.ticks }

// decodeAV decodes a payload of the libavcodec codecs.
func (d *Decoder) decodeAV(payload []byte, marker bool) ([]int16, error) {
	d.out = d.out[:0]
	if d.aac == nil {
		if _, _, err := d.decodeFrame(payload); err != nil {
			return nil, fmt.Errorf("decode %s payload of %d bytes: %w", d.format.Codec, len(payload), err)
		}
		// G.722 codes each tick of its 8 kHz clock in one byte; G.726 packs
		// code words of 2 to 5 bits.
		d.ticks = 8 * len(payload) / d.codedBits
		return d.out, nil
	}
	aus, err := d.aac.Depacketize(payload, marker)
	if err != nil {
		d.heldTicks = 0
		return nil, fmt.Errorf("decode %s payload of %d bytes: %w", d.format.Codec, len(payload), err)
	}
	if d.framed {
		defer d.holdTicks()
	}
	if len(aus) == 0 {
		return d.out, nil
	}
	if asc := d.aac.Config(); !bytes.Equal(asc, d.avConfig) {
		if err := d.configureAAC(asc); err != nil {
			return nil, fmt.Errorf("decode %s: %w", d.format.Codec, err)
		}
	}
	for i, au := range aus {
		if err := d.decodeAU(au); err != nil {
			return nil, fmt.Errorf("decode %s access unit %d of %d (%d bytes): %w", d.format.Codec, i+1, len(aus), len(au), err)
		}
	}
	if d.framed {
		return d.out, nil
	}
	// Access units last aacFrame samples at aacRate; the remainder keeps a
	// 90 kHz clock exact in the long run.
	d.tickRem += len(aus) * d.aacFrame * d.clock
	d.ticks = d.tickRem / d.aacRate
	d.tickRem -= d.ticks * d.aacRate
	return d.out, nil
}

// partial is a depacketizer whose last payload may have ended inside a
// frame (MPEG audio).
type partial interface{ Partial() bool }

// holdTicks defers the duration of a packet that ended inside a frame to
// the packet that completes the frame, which carries the same timestamp.
func (d *Decoder) holdTicks() {
	if p, ok := d.aac.(partial); ok && p.Partial() {
		d.heldTicks += d.ticks
		d.ticks = 0
		return
	}
	d.ticks += d.heldTicks
	d.heldTicks = 0
}

// decodeAU decodes one access unit, which must yield its frame: one that
// decodes to nothing, or to another duration, would shorten the audio
// without the gap the timestamps cannot show. MPEG audio and AMR frames
// add their duration to d.ticks here.
func (d *Decoder) decodeAU(au []byte) error {
	want, wantRate := d.aacFrame, d.aacRate
	if d.framed {
		var err error
		if want, wantRate, err = d.codec.AccessUnit(au); err != nil {
			return err
		}
		d.tickRem += want * d.clock
		d.ticks += d.tickRem / wantRate
		d.tickRem %= wantRate
	}
	if d.amr && !audio.AMRFrameIsSpeech(au, d.amrWB) {
		// Comfort noise and missing frames: libavcodec decodes neither, and
		// silence is what the sender stopped sending.
		return d.silence(want, wantRate)
	}
	n, rate, err := d.decodeFrame(au)
	if err == nil && (n == 0 || n*wantRate != want*rate) {
		err = fmt.Errorf("%w: %d samples at %d Hz, want %d at %d Hz", errWrongDuration, n, rate, want, wantRate)
	}
	return err
}

// silence appends n samples of silence at rate to d.out.
func (d *Decoder) silence(n, rate int) error {
	if rate != d.decodeRate {
		if err := d.setDecodeRate(rate); err != nil {
			return err
		}
	}
	pcm := d.grow(n)
	clear(pcm)
	d.out = append(d.out, d.resample(pcm)...)
	return nil
}

// decodeFrame decodes one packet or access unit with libavcodec, appends
// it, resampled, to d.out, and returns the samples it held and their rate.
func (d *Decoder) decodeFrame(data []byte) (n, rate int, err error) {
	// G.722 makes 2 samples of each byte, G.726 at most 4.
	n, rate, err = d.av.decode(data, d.grow(max(len(d.pcm), 4*len(data))))
	if err != nil || n == 0 {
		return n, rate, err
	}
	if rate != d.decodeRate {
		if err := d.setDecodeRate(rate); err != nil {
			return 0, 0, err
		}
	}
	s := d.resample(d.pcm[:n])
	if len(d.out)+len(s) > maxPacketSeconds*d.outRate {
		return 0, 0, fmt.Errorf("payload decodes to more than %d s of audio", maxPacketSeconds)
	}
	d.out = append(d.out, s...)
	return n, rate, nil
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
	// FEC and PLC must be given exactly the missing duration.
	n := int(steps) * d.decodeRate / stepsPerSecond
	pcm := d.pcm[:n:n]
	if len(next) > 0 {
		if _, err := d.opus.decode(next, pcm, true); err == nil {
			return d.resample(pcm), true
		}
	}
	if _, err := d.opus.decode(nil, pcm, false); err != nil {
		return nil, false
	}
	return d.resample(pcm), true
}

// Reset drops decoder and resampler history, as after a gap or reconnect.
// Opus clears its state in place (OPUS_RESET_STATE), without allocating;
// libavcodec codecs are reopened, in C. AAC drops partly received access
// units but keeps an in-band configuration.
func (d *Decoder) Reset() {
	d.tickRem, d.heldTicks = 0, 0
	if d.aac != nil {
		d.aac.Reset()
	}
	if d.av != nil {
		d.av.reset()
	}
	if d.opus != nil {
		d.opus.reset()
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
