package audio

import (
	"bytes"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/earshot/earshot/audio/internal/aactest"
)

// latmCase is a depacketizerCase for a stream configured by cfg, or in-band
// when cfg is nil.
type latmCase struct {
	depacketizerCase
	cfg *mpeg4audio.StreamMuxConfig
}

// element marshals an AudioMuxElement with mediacommon: its payloads, one
// per subframe, and, in-band, the configuration unless same.
func element(cfg *mpeg4audio.StreamMuxConfig, inBand, same bool, payloads ...[]byte) []byte {
	e := mpeg4audio.AudioMuxElement{MuxConfigPresent: inBand, UseSameStreamMux: same, StreamMuxConfig: cfg}
	for _, p := range payloads {
		e.Payloads = append(e.Payloads, [][][]byte{{p}})
	}
	b, err := e.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// latmCfg returns a 48 kHz stereo StreamMuxConfig, modified by edit.
func latmCfg(edit func(*mpeg4audio.StreamMuxConfig)) *mpeg4audio.StreamMuxConfig {
	c := aactest.LATMConfig(48000, 2)
	if edit != nil {
		edit(c)
	}
	return c
}

var (
	plainLATM   = latmCfg(nil)
	twoSubLATM  = latmCfg(func(c *mpeg4audio.StreamMuxConfig) { c.NumSubFrames = 1 })
	otherLATM   = latmCfg(func(c *mpeg4audio.StreamMuxConfig) { c.OtherDataPresent, c.OtherDataLenBits = true, 16 })
	crcLATM     = latmCfg(func(c *mpeg4audio.StreamMuxConfig) { c.CRCCheckPresent, c.CRCCheckSum = true, 0x5A })
	latm32k     = aactest.LATMConfig(32000, 2)
	heAACLayer  = &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 24000, ChannelCount: 2, ExtensionType: mpeg4audio.ObjectTypeSBR, ExtensionSampleRate: 48000}
	heAACLATM   = latmCfg(func(c *mpeg4audio.StreamMuxConfig) { c.Programs[0].Layers[0].AudioSpecificConfig = heAACLayer })
	celpLATM    = latmCfg(func(c *mpeg4audio.StreamMuxConfig) { c.Programs[0].Layers[0].FrameLengthType = 1 })
	big         = seq(0, 300)
	latmAbsurd  = append(bytes.Repeat([]byte{255}, 25), 0)
	fragmentLen = len(element(plainLATM, false, false, big)) / 2
)

var latmDepacketizerCases = []latmCase{
	{cfg: plainLATM, depacketizerCase: depacketizerCase{
		name:    "one element",
		packets: []payload{{data: element(plainLATM, false, false, seq(1, 5)), marker: true}},
		want:    [][]byte{seq(1, 5)},
	}},
	{cfg: plainLATM, depacketizerCase: depacketizerCase{
		name:    "two elements share a packet",
		packets: []payload{{data: append(element(plainLATM, false, false, seq(1, 5)), element(plainLATM, false, false, seq(9, 2))...), marker: true}},
		want:    [][]byte{seq(1, 5), seq(9, 2)},
	}},
	{cfg: plainLATM, depacketizerCase: depacketizerCase{
		name:    "a 300-byte payload length escapes with 255",
		packets: []payload{{data: element(plainLATM, false, false, big), marker: true}},
		want:    [][]byte{big},
	}},
	{cfg: twoSubLATM, depacketizerCase: depacketizerCase{
		name:    "two subframes per element",
		packets: []payload{{data: element(twoSubLATM, false, false, seq(1, 3), seq(7, 4)), marker: true}},
		want:    [][]byte{seq(1, 3), seq(7, 4)},
	}},
	{cfg: otherLATM, depacketizerCase: depacketizerCase{
		name:    "other data after the payload is skipped",
		packets: []payload{{data: append(element(plainLATM, false, false, seq(1, 3)), 0xEE, 0xEE), marker: true}},
		want:    [][]byte{seq(1, 3)},
	}},
	{cfg: crcLATM, depacketizerCase: depacketizerCase{
		name:    "a config with a CRC checksum",
		packets: []payload{{data: element(crcLATM, false, false, seq(1, 3)), marker: true}},
		want:    [][]byte{seq(1, 3)},
	}},
	{depacketizerCase: depacketizerCase{
		name:    "an in-band configuration shifts the payload off byte boundaries",
		packets: []payload{{data: element(plainLATM, true, false, seq(1, 5)), marker: true}},
		want:    [][]byte{seq(1, 5)},
	}},
	{depacketizerCase: depacketizerCase{
		name: "in-band, later elements use the same configuration",
		packets: []payload{
			{data: element(plainLATM, true, false, seq(1, 5)), marker: true},
			{data: append(element(plainLATM, true, true, seq(7, 3)), element(plainLATM, true, true, big)...), marker: true},
		},
		want: [][]byte{seq(7, 3), big},
	}},
	{depacketizerCase: depacketizerCase{
		name:    "in-band, nothing decodes before the first configuration",
		packets: []payload{{data: element(plainLATM, true, true, seq(1, 5)), marker: true}},
		err:     "AudioMuxElement at byte 0 of 7: no StreamMuxConfig received yet",
	}},
	{depacketizerCase: depacketizerCase{
		name: "in-band, the configuration changes between packets",
		packets: []payload{
			{data: element(plainLATM, true, false, seq(1, 5)), marker: true},
			{data: element(latm32k, true, false, seq(3, 2)), marker: true},
		},
		want: [][]byte{seq(3, 2)},
	}},
	{depacketizerCase: depacketizerCase{
		name:    "in-band, the configuration changes within a packet",
		packets: []payload{{data: append(element(plainLATM, true, false, seq(1, 5)), element(latm32k, true, false, seq(3, 2))...), marker: true}},
		err:     "StreamMuxConfig changes within a packet",
	}},
	{depacketizerCase: depacketizerCase{
		name:    "in-band HE-AAC (explicit SBR) is accepted",
		packets: []payload{{data: element(heAACLATM, true, false, seq(1, 5)), marker: true}},
		want:    [][]byte{seq(1, 5)},
	}},
	{depacketizerCase: depacketizerCase{
		name:    "in-band CELP framing is refused",
		packets: []payload{{data: configOnly(celpLATM), marker: true}},
		err:     "frameLengthType 1 is not supported",
	}},
	{depacketizerCase: depacketizerCase{
		name:    "in-band audioMuxVersionA 1 is refused",
		packets: []payload{{data: []byte{0x60, 0, 0, 0, 0, 0}, marker: true}},
		err:     "StreamMuxConfig: audioMuxVersionA 1 is reserved",
	}},
	{cfg: plainLATM, depacketizerCase: depacketizerCase{
		name: "an element fragmented over two packets is reassembled",
		packets: []payload{
			{data: element(plainLATM, false, false, big)[:fragmentLen]},
			{data: element(plainLATM, false, false, big)[fragmentLen:], marker: true},
		},
		want: [][]byte{big},
	}},
	{cfg: plainLATM, depacketizerCase: depacketizerCase{
		name:    "a truncated element with the marker bit",
		packets: []payload{{data: element(plainLATM, false, false, big)[:fragmentLen], marker: true}},
		err:     "AudioMuxElement at byte 0 of 151: access unit of 300 bytes: truncated",
	}},
	{cfg: plainLATM, depacketizerCase: depacketizerCase{
		name:    "a truncated second element is not a fragment",
		packets: []payload{{data: append(element(plainLATM, false, false, seq(1, 5)), element(plainLATM, false, false, big)[:fragmentLen]...)}},
		err:     "AudioMuxElement at byte 6 of 157: access unit of 300 bytes: truncated",
	}},
	{cfg: plainLATM, depacketizerCase: depacketizerCase{
		name:    "an absurd payload length",
		packets: []payload{{data: latmAbsurd, marker: true}},
		err:     "access unit of more than 6144 bytes",
	}},
	{cfg: plainLATM, depacketizerCase: depacketizerCase{
		name:    "a zero payload length",
		packets: []payload{{data: []byte{0, 1, 2}, marker: true}},
		err:     "AudioMuxElement at byte 0 of 3: empty access unit",
	}},
	{cfg: plainLATM, depacketizerCase: depacketizerCase{
		name: "fragments beyond 8 KiB are dropped",
		packets: []payload{
			{data: append(append(bytes.Repeat([]byte{255}, 23), 135), make([]byte, 4000)...)},
			{data: make([]byte, 5000)},
		},
		err: "fragmented AudioMuxElement exceeds 8192 bytes",
	}},
	{cfg: plainLATM, depacketizerCase: depacketizerCase{
		name:    "more than 64 access units in a packet",
		packets: []payload{{data: bytes.Repeat(element(plainLATM, false, false, seq(1, 1)), 65), marker: true}},
		err:     "more than 64 access units in one packet",
	}},
}

// configOnly returns an in-band element that holds cfg and nothing after.
func configOnly(cfg *mpeg4audio.StreamMuxConfig) []byte {
	c := must(cfg.Marshal())
	b := make([]byte, len(c)+1)
	for i, v := range c { // useSameStreamMux 0, then the config
		b[i] |= v >> 1
		b[i+1] = v << 7
	}
	return b
}

func newTestLATM(tb testing.TB, cfg *mpeg4audio.StreamMuxConfig) *latmDepacketizer {
	tb.Helper()
	var b []byte
	if cfg != nil {
		var err error
		if b, err = cfg.Marshal(); err != nil {
			tb.Fatal(err)
		}
	}
	p, err := newLATMDepacketizer(b)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestLATMDepacketizer(t *testing.T) {
	for _, tc := range latmDepacketizerCases {
		t.Run(tc.name, func(t *testing.T) {
			checkDepacketizer(t, newTestLATM(t, tc.cfg), tc.depacketizerCase)
		})
	}
}

func TestLATMConfigIsTheAudioSpecificConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  *mpeg4audio.StreamMuxConfig
	}{{"48 kHz stereo", plainLATM}, {"44.1 kHz mono", aactest.LATMConfig(44100, 1)}, {"with a CRC", crcLATM}} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tc.cfg.Programs[0].Layers[0].AudioSpecificConfig.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if got := newTestLATM(t, tc.cfg).Config(); !bytes.Equal(got, want) {
				t.Errorf("config %x, want %x", got, want)
			}
			p := newTestLATM(t, nil)
			if _, err := p.Depacketize(element(tc.cfg, true, false, seq(1, 4)), true); err != nil {
				t.Fatal(err)
			}
			if got := p.Config(); !bytes.Equal(got, want) {
				t.Errorf("in-band config %x, want %x", got, want)
			}
		})
	}
}

func TestNewLATMDepacketizerRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name, config, want string
	}{
		{"a truncated config", "\x40", "StreamMuxConfig: truncated"},
		{"CELP framing", string(must(celpLATM.Marshal())), "frameLengthType 1 is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := newLATMDepacketizer([]byte(tc.config)); err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzLATMDepacketizer feeds two payloads in a row to a depacketizer
// configured by SDP or in-band. Seeds: the table above, and in testdata
// the LATM cases of audio/decoder.
func FuzzLATMDepacketizer(f *testing.F) {
	for _, tc := range latmDepacketizerCases {
		first := tc.packets[0]
		last := tc.packets[len(tc.packets)-1]
		f.Add(tc.cfg == nil, first.data, first.marker, last.data, last.marker)
	}
	f.Fuzz(func(t *testing.T, inBand bool, a []byte, markerA bool, b []byte, markerB bool) {
		cfg := plainLATM
		if inBand {
			cfg = nil
		}
		p := newTestLATM(t, cfg)
		p.Depacketize(a, markerA)
		aus, err := p.Depacketize(b, markerB)
		checkAccessUnits(t, aus, err, len(a)+len(b))
		if c := p.Config(); len(c) > maxASCSize || (c == nil) != !p.hasCfg {
			t.Fatalf("config %x", c)
		}
	})
}
