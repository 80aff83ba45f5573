package audio

import "fmt"

// Codec is one entry of the codec registry: what earshot knows about a
// codec without cgo. The cgo halves live in tables keyed by Name: the
// decoder in audio/decoder, the synthetic camera's encoder in loadtest.
// Entries are values; LookupCodec and Codecs return copies.
type Codec struct {
	// Name is the earshot codec name, as in the earshot.codec Kafka header
	// and Format.Codec.
	Name string
	// Encoding is the encoding name of the SDP rtpmap attribute, matched
	// case-insensitively ("opus", "PCMA", "mpeg4-generic", "G726-32").
	Encoding string
	// SampleRate is the only sample rate the codec has (16000 for G.722,
	// 8000 for G.726), or 0 when SDP or the codec configuration tells it.
	SampleRate int
	// ClockRate is the RTP clock rate when it differs from the sample rate
	// whatever SDP says (8000 for G.722), else 0.
	ClockRate int
	// Mono is set for codecs that carry one channel only.
	Mono bool
	// CodedBits is what one tick of the RTP clock takes on the wire per
	// channel, in bits, for constant-bit-rate codecs: 8 for G.711 and
	// G.722, 16 for L16, 2 to 5 for G.726. It is 0 for Opus and AAC.
	CodedBits int
	// AAL2 is set for G.726 in the AAL2 packing (ITU-T I.366.2), most
	// significant bits first; the RFC 3551 packing starts from the least.
	AAL2 bool
	// Fidelity is the lowest correlation with the source clip a decoded
	// synthetic stream of this codec must reach (loadtest.Fidelity): what
	// the codec reaches end to end, with margin. A byte-order, rate or
	// channel mistake scores below 0.3.
	Fidelity float64

	// static lists the RFC 3551 static payload types announcing this codec
	// without an rtpmap.
	static []staticType
	// identify turns the SDP of a track of this codec into its Format.
	identify func(c Codec, m rtpMap, fmtp map[string]string) (Format, error)
	// depacketizer returns the Depacketizer of a Format; nil for codecs
	// whose every payload is whole frames.
	depacketizer func(f Format) (Depacketizer, error)
	// accessUnit returns the samples and rate of one access unit of a
	// depacketized codec other than AAC, whose configuration says them.
	accessUnit func(au []byte) (samples, rate int, err error)
}

// AccessUnit returns the duration of au, an access unit that c's
// Depacketizer returned, as samples per channel at rate Hz: what the
// decoder must make of it. Codecs whose configuration sets the duration
// (AAC), and those without a depacketizer, give an error.
func (c Codec) AccessUnit(au []byte) (samples, rate int, err error) {
	if c.accessUnit == nil {
		return 0, 0, fmt.Errorf("%s access units have no duration of their own", c.Name)
	}
	return c.accessUnit(au)
}

// staticType is an RFC 3551 static payload type and the rtpmap it stands
// for.
type staticType struct {
	payloadType uint8
	rtpMap      string
}

// NeedsDepacketizer reports whether c's payloads must be split into access
// units by a Depacketizer before decoding.
func (c Codec) NeedsDepacketizer() bool { return c.depacketizer != nil }

// NewDepacketizer returns the Depacketizer of f, a format of a codec whose
// registry entry has one (AAC), after checking f's configuration. Other
// codecs give an error wrapping ErrUnsupportedCodec.
func NewDepacketizer(f Format) (Depacketizer, error) {
	c, ok := LookupCodec(f.Codec)
	if !ok || c.depacketizer == nil {
		return nil, fmt.Errorf("%w: %q has no depacketizer", ErrUnsupportedCodec, f.Codec)
	}
	return c.depacketizer(f)
}
