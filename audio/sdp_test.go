package audio

import (
	"errors"
	"strings"
	"testing"
)

// identifyCases: SDP announcements as cameras send them, and the Format
// or the refusal they get. FuzzIdentify starts from them.
var identifyCases = []struct {
	name string
	sdp  SDP
	want Format // zero when refused
	err  string // in the refusal
}{
	{"opus mono", SDP{111, "opus/48000/2", map[string]string{"sprop-stereo": "0"}}, Format{Codec: CodecOpus, SampleRate: 48000, Channels: 1, ClockRate: 48000}, ""},
	{"opus stereo", SDP{111, "OPUS/48000/2", map[string]string{"sprop-stereo": "1"}}, Format{Codec: CodecOpus, SampleRate: 48000, Channels: 2, ClockRate: 48000}, ""},
	{"opus with a wrong rtpmap", SDP{111, "opus/16000/1", nil}, Format{}, "opus must be announced as opus/48000/2"},
	{"multiopus", SDP{111, "multiopus/48000/6", nil}, Format{}, `encoding "multiopus" is not a registered codec`},
	{"static PCMU", SDP{0, "", nil}, Format{Codec: CodecPCMU, SampleRate: 8000, Channels: 1, ClockRate: 8000}, ""},
	{"static PCMA", SDP{8, "", nil}, Format{Codec: CodecPCMA, SampleRate: 8000, Channels: 1, ClockRate: 8000}, ""},
	{"PCMA at 16 kHz stereo", SDP{97, "PCMA/16000/2", nil}, Format{Codec: CodecPCMA, SampleRate: 16000, Channels: 2, ClockRate: 16000}, ""},
	{"static G.722", SDP{9, "", nil}, Format{Codec: CodecG722, SampleRate: 16000, Channels: 1, ClockRate: 8000}, ""},
	{"static L16 stereo", SDP{10, "", nil}, Format{Codec: CodecL16, SampleRate: 44100, Channels: 2, ClockRate: 44100}, ""},
	{"L16 16 kHz stereo", SDP{96, "L16/16000/2", nil}, Format{Codec: CodecL16, SampleRate: 16000, Channels: 2, ClockRate: 16000}, ""},
	{"L24", SDP{96, "L24/48000/2", nil}, Format{}, `encoding "L24" is not a registered codec`},
	{"a dynamic type without rtpmap", SDP{96, "", nil}, Format{}, "no rtpmap, and not a static payload type"},
	{"a malformed rtpmap", SDP{96, "PCMA", nil}, Format{}, "rtpmap is not encoding/clock[/channels]"},
	{"a zero clock", SDP{96, "PCMA/0", nil}, Format{}, `invalid clock rate "0"`},
	{"G726-32", SDP{99, "G726-32/8000", nil}, Format{Codec: "g726-32", SampleRate: 8000, Channels: 1, ClockRate: 8000}, ""},
	{"AAL2-G726-16", SDP{99, "AAL2-G726-16/8000", nil}, Format{Codec: "aal2-g726-16", SampleRate: 8000, Channels: 1, ClockRate: 8000}, ""},
	{"mpeg4-generic AAC-LC", SDP{97, "mpeg4-generic/16000/1", map[string]string{"config": "1408", "sizelength": "13", "indexlength": "3", "indexdeltalength": "3", "mode": "AAC-hbr"}},
		Format{Codec: CodecAAC, SampleRate: 16000, Channels: 1, ClockRate: 16000, AAC: AACConfig{Config: "\x14\x08", SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}}, ""},
	{"mpeg4-generic HE-AAC", SDP{97, "mpeg4-generic/48000/2", map[string]string{"config": "2b118800", "sizelength": "13"}},
		Format{Codec: CodecAAC, SampleRate: 48000, Channels: 2, ClockRate: 48000, AAC: AACConfig{Config: "\x2b\x11\x88\x00", SizeLength: 13}}, ""},
	{"mpeg4-generic AAC Main", SDP{97, "mpeg4-generic/48000/2", map[string]string{"config": "0990", "sizelength": "13"}}, Format{}, "MPEG-4 audio object type 1"},
	{"mpeg4-generic without config", SDP{97, "mpeg4-generic/48000/2", map[string]string{"sizelength": "13"}}, Format{}, "fmtp has no config"},
	{"mpeg4-generic without sizelength", SDP{97, "mpeg4-generic/16000/1", map[string]string{"config": "1408"}}, Format{}, "fmtp has no sizelength"},
	{"mpeg4-generic with a bad indexlength", SDP{97, "mpeg4-generic/16000/1", map[string]string{"config": "1408", "sizelength": "13", "indexlength": "x"}}, Format{}, `invalid indexlength "x"`},
	{"mpeg4-generic with non-hex config", SDP{97, "mpeg4-generic/16000/1", map[string]string{"config": "zz", "sizelength": "13"}}, Format{}, "config is not hex"},
	{"MP4A-LATM in SDP", SDP{98, "MP4A-LATM/48000/2", map[string]string{"cpresent": "0", "config": "400023203fc0", "object": "2", "profile-level-id": "30"}},
		Format{Codec: CodecAACLATM, SampleRate: 48000, Channels: 2, ClockRate: 48000, AAC: AACConfig{Config: "\x40\x00\x23\x20\x3f\xc0"}}, ""},
	{"MP4A-LATM from GStreamer's rtpmp4apay", SDP{96, "MP4A-LATM/48000/2", map[string]string{"cpresent": "0", "config": "40002320adca00"}},
		Format{Codec: CodecAACLATM, SampleRate: 48000, Channels: 2, ClockRate: 48000, AAC: AACConfig{Config: "\x40\x00\x23\x20\xad\xca\x00"}}, ""},
	{"MP4A-LATM with implicit SBR", SDP{96, "MP4A-LATM/48000/2", map[string]string{"cpresent": "0", "config": "400026203fc0", "SBR-enabled": "1"}},
		Format{Codec: CodecAACLATM, SampleRate: 48000, Channels: 2, ClockRate: 48000, AAC: AACConfig{Config: "\x40\x00\x26\x20\x3f\xc0"}}, ""},
	{"MP4A-LATM in-band", SDP{98, "MP4A-LATM/90000/1", map[string]string{"cpresent": "1"}}, Format{Codec: CodecAACLATM, Channels: 1, ClockRate: 90000}, ""},
	{"MP4A-LATM in-band on the wrong clock", SDP{98, "MP4A-LATM/48000/2", nil}, Format{}, "clock rate 48000 with cpresent=1, want 90000"},
	{"MP4A-LATM without config", SDP{98, "MP4A-LATM/48000/2", map[string]string{"cpresent": "0"}}, Format{}, "cpresent=0 and fmtp has no config"},
	{"static MPA (RFC 2250)", SDP{14, "", nil}, Format{Codec: CodecMPA, Channels: 1, ClockRate: 90000}, ""},
	{"MPA stereo from GStreamer", SDP{96, "MPA/90000/2", nil}, Format{Codec: CodecMPA, Channels: 2, ClockRate: 90000}, ""},
	{"MPA on the wrong clock", SDP{96, "MPA/44100/2", nil}, Format{}, "clock rate 44100, want 90000 (RFC 2250)"},
	{"AMR bandwidth-efficient", SDP{96, "AMR/8000/1", nil}, Format{Codec: CodecAMR, SampleRate: 8000, Channels: 1, ClockRate: 8000}, ""},
	{"AMR octet-aligned", SDP{96, "AMR/8000/1", map[string]string{"octet-align": "1"}},
		Format{Codec: CodecAMR, SampleRate: 8000, Channels: 1, ClockRate: 8000, AMR: AMRConfig{OctetAligned: true}}, ""},
	{"AMR-WB octet-aligned", SDP{96, "AMR-WB/16000/1", map[string]string{"octet-align": "1"}},
		Format{Codec: CodecAMRWB, SampleRate: 16000, Channels: 1, ClockRate: 16000, AMR: AMRConfig{OctetAligned: true}}, ""},
	{"AMR with interleaving", SDP{96, "AMR/8000/1", map[string]string{"octet-align": "1", "interleaving": "4"}}, Format{}, "fmtp interleaving=4"},
	{"AMR stereo", SDP{96, "AMR/8000/2", nil}, Format{}, "AMR must be announced as AMR/8000/1"},
	{"H.264 in an audio track", SDP{96, "H264/90000", map[string]string{"packetization-mode": "1"}}, Format{}, `encoding "H264" is not a registered codec`},
}

func TestIdentify(t *testing.T) {
	for _, tc := range identifyCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Identify(tc.sdp)
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("Identify = %+v, %v; want %+v", got, err, tc.want)
				}
				if err := got.Validate(); err != nil {
					t.Fatalf("identified format does not validate: %v", err)
				}
				return
			}
			var sdpErr *SDPError
			if !errors.Is(err, ErrUnsupportedCodec) || !errors.As(err, &sdpErr) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Identify error %v, want an SDPError wrapping ErrUnsupportedCodec containing %q", err, tc.err)
			}
			// The refusal quotes the announcement as given.
			if want := tc.sdp.String(); !strings.Contains(err.Error(), want) || !strings.HasPrefix(want, "payload type ") {
				t.Fatalf("Identify error %q does not quote %q", err, want)
			}
			if strings.Count(err.Error(), ErrUnsupportedCodec.Error()) != 1 {
				t.Fatalf("Identify error %q repeats %q", err, ErrUnsupportedCodec)
			}
		})
	}
}

// FuzzIdentify: whatever the announcement, Identify returns a Format that
// names a registry codec or an SDPError, and never panics.
func FuzzIdentify(f *testing.F) {
	for _, tc := range identifyCases {
		f.Add(tc.sdp.PayloadType, tc.sdp.RTPMap, tc.sdp.FMTP["config"], tc.sdp.FMTP["cpresent"], tc.sdp.FMTP["sizelength"])
	}
	f.Fuzz(func(t *testing.T, pt uint8, rtpmap, config, cpresent, sizelength string) {
		fmtp := map[string]string{"config": config, "cpresent": cpresent, "sizelength": sizelength}
		got, err := Identify(SDP{PayloadType: pt, RTPMap: rtpmap, FMTP: fmtp})
		var sdpErr *SDPError
		switch {
		case err != nil && !errors.As(err, &sdpErr):
			t.Fatalf("error %v is not an SDPError", err)
		case err == nil:
			if _, ok := LookupCodec(got.Codec); !ok {
				t.Fatalf("identified %+v, not a registry codec", got)
			}
		}
	})
}
