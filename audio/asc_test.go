package audio

import (
	"encoding/hex"
	"strings"
	"testing"
)

// bitsOf packs binary digits ("0", "1"; spaces ignored) into bytes, the
// last padded with zeros.
func bitsOf(fields ...string) []byte {
	s := strings.ReplaceAll(strings.Join(fields, ""), " ", "")
	b := make([]byte, (len(s)+7)/8)
	for i, c := range s {
		if c == '1' {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	return b
}

// Fields of the hand-built StreamMuxConfigs below.
const (
	smcV0Head = "0 1 000000 0000 000"               // audioMuxVersion 0, one program, one layer
	smcV1Head = "1 0 00 11111111 1 000000 0000 000" // audioMuxVersion 1, taraBufferFullness 0xff
	smcTail   = "000 11111111 0 0"                  // frameLengthType 0, latmBufferFullness, no other data, no CRC
	ascLC48k2 = "00010 0011 0010 000"               // AAC-LC 48 kHz stereo
	ascLC24k2 = "00010 0110 0010 000"               // AAC-LC 24 kHz stereo
	ascSBR    = "00101 0110 0010 0011 00010 000"    // explicit hierarchical: SBR, 24 kHz core, 48 kHz out
	ascPS     = "11101 0110 0001 0011 00010 000"    // explicit hierarchical: PS, mono core
	// ascSyncSBR: AAC-LC 24 kHz stereo, then the sync extension of SBR
	// (48 kHz); ascSyncSBRPS adds that of PS.
	ascSyncSBR   = ascLC24k2 + " 01010110111 00101 1 0011"
	ascSyncSBRPS = ascSyncSBR + " 10101001000 1"
)

// streamMuxConfigCases: StreamMuxConfigs as SDP carries them (config=),
// with what they configure. The first three are GStreamer's (avenc_aac,
// rtpmp4apay): a 5-byte AudioSpecificConfig, AAC-LC and the backward-
// compatible SBR sync extension with sbrPresentFlag 0, copied in whole so
// that the config ends after frameLengthType. FuzzStreamMuxConfig starts
// from them; TestIdentify's LATM cases announce them.
var streamMuxConfigCases = []struct {
	name   string
	config []byte
	asc    AudioSpecificConfig
	ascHex string // the AudioSpecificConfig handed to libavcodec
	other  int    // otherDataLenBits
	err    string
}{
	{name: "GStreamer 48 kHz stereo", config: mustHex("40002320adca00"),
		asc: AudioSpecificConfig{SampleRate: 48000, Channels: 2}, ascHex: "119056e500"},
	{name: "GStreamer 16 kHz mono", config: mustHex("40002810adca00"),
		asc: AudioSpecificConfig{SampleRate: 16000, Channels: 1}, ascHex: "140856e500"},
	{name: "GStreamer 44.1 kHz mono", config: mustHex("40002410adca00"),
		asc: AudioSpecificConfig{SampleRate: 44100, Channels: 1}, ascHex: "120856e500"},
	{name: "ffmpeg 48 kHz stereo", config: mustHex("400023203fc0"),
		asc: AudioSpecificConfig{SampleRate: 48000, Channels: 2}, ascHex: "1190"},
	{name: "explicit hierarchical SBR", config: bitsOf(smcV0Head, ascSBR, smcTail),
		asc:    AudioSpecificConfig{SampleRate: 24000, Channels: 2, SBR: true, ExtensionSampleRate: 48000},
		ascHex: hex.EncodeToString(bitsOf(ascSBR))},
	{name: "explicit hierarchical PS", config: bitsOf(smcV0Head, ascPS, smcTail),
		asc:    AudioSpecificConfig{SampleRate: 24000, Channels: 1, SBR: true, PS: true, ExtensionSampleRate: 48000},
		ascHex: hex.EncodeToString(bitsOf(ascPS))},
	{name: "backward-compatible SBR and PS", config: bitsOf(smcV0Head, ascSyncSBRPS, smcTail),
		asc:    AudioSpecificConfig{SampleRate: 24000, Channels: 2, SBR: true, PS: true, ExtensionSampleRate: 48000},
		ascHex: hex.EncodeToString(bitsOf(ascSyncSBRPS))},
	{name: "audioMuxVersion 1 with LatmGetValue lengths and other data", config: bitsOf(smcV1Head, "00 00010000", ascLC48k2, "000 11111111 1 00 00001000 0"),
		asc: AudioSpecificConfig{SampleRate: 48000, Channels: 2}, ascHex: "1190", other: 8},
	{name: "audioMuxVersion 1 skips the fill bits after the AudioSpecificConfig", config: bitsOf(smcV1Head, "00 00011000", ascLC48k2, "10101010", smcTail),
		asc: AudioSpecificConfig{SampleRate: 48000, Channels: 2}, ascHex: "1190aa"},
	{name: "audioMuxVersion 1 with a backward-compatible SBR extension in ascLen", config: bitsOf(smcV1Head, "00 00100101", ascSyncSBR, smcTail),
		asc:    AudioSpecificConfig{SampleRate: 24000, Channels: 2, SBR: true, ExtensionSampleRate: 48000},
		ascHex: hex.EncodeToString(bitsOf(ascSyncSBR))},
	{name: "an AAC Main core is refused", config: bitsOf(smcV0Head, "00001 0011 0010 000", smcTail), err: "MPEG-4 audio object type 1"},
	{name: "a program config element is refused", config: bitsOf(smcV0Head, "00010 0011 0000 000", smcTail), err: "channelConfiguration 0"},
	{name: "CELP framing is refused", config: bitsOf(smcV0Head, ascLC48k2, "001 11111111 0 0"), err: "frameLengthType 1 is not supported"},
	{name: "audioMuxVersionA 1 is refused", config: bitsOf("1 1", smcTail), err: "audioMuxVersionA 1 is reserved"},
	{name: "a config ending in the AudioSpecificConfig", config: mustHex("400023"), err: "StreamMuxConfig: AudioSpecificConfig: truncated"},
	{name: "ascLen shorter than the AudioSpecificConfig", config: bitsOf(smcV1Head, "00 00001000", ascLC48k2, smcTail), err: "truncated"},
}

func mustHex(s string) []byte { return must(hex.DecodeString(s)) }

func TestStreamMuxConfig(t *testing.T) {
	for _, tc := range streamMuxConfigCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseStreamMuxConfig(&bitReader{buf: tc.config}, true)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.info != tc.asc {
				t.Errorf("AudioSpecificConfig %+v, want %+v", c.info, tc.asc)
			}
			if got := hex.EncodeToString(c.asc[:c.ascLen]); got != tc.ascHex {
				t.Errorf("AudioSpecificConfig bits %s, want %s", got, tc.ascHex)
			}
			if c.otherDataBits != tc.other {
				t.Errorf("otherDataLenBits %d, want %d", c.otherDataBits, tc.other)
			}
			// What libavcodec is handed parses alike on its own.
			if a, err := ParseAudioSpecificConfig(c.asc[:c.ascLen]); err != nil || a != tc.asc {
				t.Errorf("ParseAudioSpecificConfig(%x) = %+v, %v; want %+v", c.asc[:c.ascLen], a, err, tc.asc)
			}
			// Identify announces the same configuration from SDP.
			f, err := Identify(SDP{PayloadType: 96, RTPMap: "MP4A-LATM/48000/2", FMTP: map[string]string{"cpresent": "0", "config": hex.EncodeToString(tc.config)}})
			if err != nil || f.SampleRate != tc.asc.OutputRate() || f.Channels != tc.asc.Channels || f.ClockRate != 48000 {
				t.Errorf("Identify = %+v, %v", f, err)
			}
		})
	}
}

// TestLATMElementsAfterGStreamerConfig: the payloads of GStreamer's
// rtpmp4apay (one AudioMuxElement, PayloadLengthInfo then the access unit)
// split under its 7-byte config.
func TestLATMElementsAfterGStreamerConfig(t *testing.T) {
	for _, tc := range streamMuxConfigCases[:3] {
		p, err := newLATMDepacketizer(tc.config)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		au := seq(3, 200)
		aus, err := p.Depacketize(append([]byte{200}, au...), true)
		if err != nil || len(aus) != 1 || string(aus[0]) != string(au) {
			t.Fatalf("%s: Depacketize = %d access units, %v", tc.name, len(aus), err)
		}
	}
}

// FuzzStreamMuxConfig: whatever the config, parsing returns an error or an
// AAC configuration that ParseAudioSpecificConfig reads alike, and never
// panics.
func FuzzStreamMuxConfig(f *testing.F) {
	for _, tc := range streamMuxConfigCases {
		f.Add(tc.config, true)
	}
	f.Fuzz(func(t *testing.T, config []byte, fromSDP bool) {
		c, err := parseStreamMuxConfig(&bitReader{buf: config}, fromSDP)
		if err != nil {
			return
		}
		a, err := ParseAudioSpecificConfig(c.asc[:c.ascLen])
		if err != nil || a != c.info {
			t.Fatalf("config %x: ASC %x reads as %+v, %v; want %+v", config, c.asc[:c.ascLen], a, err, c.info)
		}
	})
}
