package audio

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// SDP is how a session description announces one RTP audio format.
type SDP struct {
	// PayloadType is the RTP payload type.
	PayloadType uint8
	// RTPMap is the value of the rtpmap attribute after the payload type,
	// "encoding/clock[/channels]", or "" for a static payload type
	// announced without one.
	RTPMap string
	// FMTP holds the format parameters of the fmtp attribute; nil for none.
	FMTP map[string]string
}

// String renders s as the error messages quote it.
func (s SDP) String() string {
	fmtp := make([]string, 0, len(s.FMTP))
	for _, k := range slices.Sorted(maps.Keys(s.FMTP)) {
		fmtp = append(fmtp, k+"="+s.FMTP[k])
	}
	return fmt.Sprintf("payload type %d, rtpmap %q, fmtp %q", s.PayloadType, s.RTPMap, strings.Join(fmtp, ";"))
}

// rtpMap is a parsed rtpmap attribute.
type rtpMap struct {
	encoding string
	clock    int
	// channels is the announced channel count; 1 when the rtpmap gives
	// none.
	channels int
}

// Identify returns the Format of the codec s announces. A format that is
// not in the registry, or whose parameters earshot cannot decode, gives an
// *SDPError, which wraps ErrUnsupportedCodec and quotes the payload type,
// rtpmap and fmtp as given with the reason.
//
// Identify checks what the announcement says; Format.Validate and the
// decoder check the rest (sample rates, AU-header widths).
func Identify(s SDP) (Format, error) {
	f, err := identify(s)
	if err != nil {
		return Format{}, &SDPError{SDP: s, Reason: err}
	}
	return f, nil
}

func identify(s SDP) (Format, error) {
	registry := registry()
	text := s.RTPMap
	if text == "" {
		for _, c := range registry {
			for _, st := range c.static {
				if st.payloadType == s.PayloadType {
					text = st.rtpMap
				}
			}
		}
		if text == "" {
			return Format{}, errors.New("no rtpmap, and not a static payload type of a registered codec")
		}
	}
	m, err := parseRTPMap(text)
	if err != nil {
		return Format{}, err
	}
	for _, c := range registry {
		if strings.EqualFold(c.Encoding, m.encoding) {
			return c.identify(c, m, s.FMTP)
		}
	}
	return Format{}, fmt.Errorf("encoding %q is not a registered codec", m.encoding)
}

// parseRTPMap parses "encoding/clock[/channels]".
func parseRTPMap(s string) (rtpMap, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return rtpMap{}, errors.New("rtpmap is not encoding/clock[/channels]")
	}
	m := rtpMap{encoding: parts[0], channels: 1}
	var err error
	if m.clock, err = strconv.Atoi(parts[1]); err != nil || m.clock <= 0 {
		return rtpMap{}, fmt.Errorf("invalid clock rate %q", parts[1])
	}
	if len(parts) == 3 {
		if m.channels, err = strconv.Atoi(parts[2]); err != nil || m.channels <= 0 {
			return rtpMap{}, fmt.Errorf("invalid channel count %q", parts[2])
		}
	}
	return m, nil
}

// identifyOpus: RFC 7587 always announces opus/48000/2; sprop-stereo=1
// says the sender may send stereo.
func identifyOpus(c Codec, m rtpMap, fmtp map[string]string) (Format, error) {
	if m.clock != 48000 || m.channels != 2 {
		return Format{}, fmt.Errorf("opus must be announced as opus/48000/2 (RFC 7587)")
	}
	channels := 1
	if fmtp["sprop-stereo"] == "1" {
		channels = 2
	}
	return Format{Codec: c.Name, SampleRate: 48000, Channels: channels, ClockRate: 48000}, nil
}

// identifyLinear: G.711 and L16 run their clock at the sample rate.
func identifyLinear(c Codec, m rtpMap, _ map[string]string) (Format, error) {
	return Format{Codec: c.Name, SampleRate: m.clock, Channels: m.channels, ClockRate: m.clock}, nil
}

// identifyFixed: G.722 and G.726 have one sample rate, clock rate and
// channel count whatever the rtpmap says.
func identifyFixed(c Codec, _ rtpMap, _ map[string]string) (Format, error) {
	f := Format{Codec: c.Name, SampleRate: c.SampleRate, Channels: 1, ClockRate: c.ClockRate}
	f.ClockRate = f.RTPClockRate()
	return f, nil
}

// identifyAAC reads MPEG4-GENERIC's fmtp (RFC 3640): the hex
// AudioSpecificConfig, AAC-LC with or without SBR and PS (HE-AAC v1 and
// v2), and the AU-header widths. The RTP clock is the rtpmap's.
func identifyAAC(c Codec, m rtpMap, fmtp map[string]string) (Format, error) {
	raw, ok := fmtp["config"]
	if !ok {
		return Format{}, errors.New("fmtp has no config")
	}
	cfg, err := hexConfig(raw)
	if err != nil {
		return Format{}, err
	}
	asc, err := ParseAudioSpecificConfig(cfg)
	if err != nil {
		return Format{}, err
	}
	f := Format{Codec: c.Name, SampleRate: asc.OutputRate(), Channels: asc.Channels, ClockRate: m.clock,
		AAC: AACConfig{Config: string(cfg)}}
	for _, p := range []struct {
		key string
		v   *int
	}{{"sizelength", &f.AAC.SizeLength}, {"indexlength", &f.AAC.IndexLength}, {"indexdeltalength", &f.AAC.IndexDeltaLength}} {
		s, ok := fmtp[p.key]
		if !ok {
			continue
		}
		if *p.v, err = strconv.Atoi(s); err != nil || *p.v < 0 {
			return Format{}, fmt.Errorf("invalid %s %q", p.key, s)
		}
	}
	if f.AAC.SizeLength == 0 {
		return Format{}, errors.New("fmtp has no sizelength")
	}
	return f, nil
}

// identifyLATM reads MP4A-LATM's fmtp (RFC 6416): with cpresent=1 (the
// default) the configuration travels in-band on a 90 kHz clock; with
// cpresent=0 config holds the hex StreamMuxConfig (audioMuxVersion 0 or 1),
// one program of one AAC layer, HE-AAC included. SBR-enabled=1 announces
// SBR that the config leaves implicit.
func identifyLATM(c Codec, m rtpMap, fmtp map[string]string) (Format, error) {
	raw, hasConfig := fmtp["config"]
	if cp, ok := fmtp["cpresent"]; !ok || cp == "1" {
		if hasConfig {
			return Format{}, errors.New("config and cpresent=1 together")
		}
		if m.clock != 90000 {
			return Format{}, fmt.Errorf("clock rate %d with cpresent=1, want 90000", m.clock)
		}
		return Format{Codec: c.Name, Channels: 1, ClockRate: 90000}, nil
	}
	if !hasConfig {
		return Format{}, errors.New("cpresent=0 and fmtp has no config")
	}
	cfg, err := hexConfig(raw)
	if err != nil {
		return Format{}, err
	}
	smc, err := parseStreamMuxConfig(&bitReader{buf: cfg}, true)
	if err != nil {
		return Format{}, fmt.Errorf("config: %w", err)
	}
	rate := smc.info.OutputRate()
	if fmtp["SBR-enabled"] == "1" && !smc.info.SBR {
		rate *= 2
	}
	return Format{Codec: c.Name, SampleRate: rate, Channels: smc.info.Channels, ClockRate: m.clock,
		AAC: AACConfig{Config: string(cfg)}}, nil
}

// hexConfig decodes an fmtp config.
func hexConfig(config string) ([]byte, error) {
	b, err := hex.DecodeString(config)
	if err != nil {
		return nil, fmt.Errorf("config is not hex: %w", err)
	}
	return b, nil
}
