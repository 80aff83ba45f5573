package loadtest

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/audio"
)

// configCases are configs NewServer must reject, each with a fragment of the
// message that pinpoints the problem.
var configCases = []struct {
	name    string
	cfg     ServerConfig
	wantMsg string
	wantIs  error // besides ErrInvalidConfig, if any
}{
	{
		name:    "an unknown codec is rejected naming the stream and codec",
		cfg:     ServerConfig{Streams: []StreamSpec{{Name: "cam", Codec: "aac"}}},
		wantMsg: `Streams[0] "cam": unsupported audio codec: "aac"`,
		wantIs:  audio.ErrUnsupportedCodec,
	},
	{
		name:    "an empty codec is rejected",
		cfg:     ServerConfig{Streams: []StreamSpec{{Name: "cam"}}},
		wantMsg: `unsupported audio codec: ""`,
		wantIs:  audio.ErrUnsupportedCodec,
	},
	{
		name:    "an empty name is rejected with its index",
		cfg:     ServerConfig{Streams: []StreamSpec{{Name: "a", Codec: audio.CodecPCMA}, {Codec: audio.CodecPCMA}}},
		wantMsg: "Streams[1]: empty name",
	},
	{
		name: "a duplicate name is rejected naming both indexes",
		cfg: ServerConfig{Streams: []StreamSpec{
			{Name: "cam", Codec: audio.CodecPCMA},
			{Name: "other", Codec: audio.CodecPCMA},
			{Name: "cam", Codec: audio.CodecOpus},
		}},
		wantMsg: `Streams[2]: duplicate name "cam" (also Streams[0])`,
	},
	{
		name:    "a name with a leading slash is rejected",
		cfg:     ServerConfig{Streams: []StreamSpec{{Name: "/cam", Codec: audio.CodecPCMA}}},
		wantMsg: "empty path segment",
	},
	{
		name:    "a name with a trailing slash is rejected",
		cfg:     ServerConfig{Streams: []StreamSpec{{Name: "cam/", Codec: audio.CodecPCMA}}},
		wantMsg: "empty path segment",
	},
	{
		name:    "a dot-dot segment is rejected",
		cfg:     ServerConfig{Streams: []StreamSpec{{Name: "a/../b", Codec: audio.CodecPCMA}}},
		wantMsg: `path segment ".." is not allowed`,
	},
	{
		name:    "a name with a space is rejected naming the character",
		cfg:     ServerConfig{Streams: []StreamSpec{{Name: "my cam", Codec: audio.CodecPCMA}}},
		wantMsg: `character ' ' is not allowed`,
	},
	{
		name:    "a name with a query character is rejected",
		cfg:     ServerConfig{Streams: []StreamSpec{{Name: "cam?x=1", Codec: audio.CodecPCMA}}},
		wantMsg: `character '?' is not allowed`,
	},
	{
		name:    "an address without a port is rejected",
		cfg:     ServerConfig{Address: "127.0.0.1"},
		wantMsg: `Address "127.0.0.1"`,
	},
	{
		name:    "a negative packet duration is rejected",
		cfg:     ServerConfig{PacketDuration: -time.Millisecond},
		wantMsg: "PacketDuration -1ms is not a positive whole number of milliseconds",
	},
	{
		name:    "a fractional-millisecond packet duration is rejected",
		cfg:     ServerConfig{PacketDuration: 2500 * time.Microsecond},
		wantMsg: "PacketDuration 2.5ms is not a positive whole number",
	},
	{
		name:    "an Opus stream needs an Opus frame size",
		cfg:     ServerConfig{PacketDuration: 30 * time.Millisecond, Streams: []StreamSpec{{Name: "o", Codec: audio.CodecOpus}}},
		wantMsg: "PacketDuration 30ms is not an Opus frame size",
	},
	{
		name:    "sender reports cannot be more frequent than packets",
		cfg:     ServerConfig{SenderReportPeriod: 10 * time.Millisecond},
		wantMsg: "SenderReportPeriod 10ms is shorter than PacketDuration 20ms",
	},
	{
		name:    "UDP is not offered with TLS",
		cfg:     ServerConfig{UDP: true, TLS: &tls.Config{}},
		wantMsg: "UDP with TLS",
	},
	{
		name:    "an unknown authentication method is rejected",
		cfg:     ServerConfig{AuthMethods: []AuthMethod{AuthDigest, "ntlm"}},
		wantMsg: `AuthMethods[1]: unknown method "ntlm" (want "basic" or "digest")`,
	},
	{
		name:    "a password without a user is rejected",
		cfg:     ServerConfig{Streams: []StreamSpec{{Name: "cam", Codec: audio.CodecPCMA, Password: "x"}}},
		wantMsg: `Streams[0] "cam": Password without User`,
	},
	{
		name:    "a user with a colon is rejected",
		cfg:     ServerConfig{Streams: []StreamSpec{{Name: "cam", Codec: audio.CodecPCMA, User: "a:b"}}},
		wantMsg: `Streams[0] "cam": User contains ':'`,
	},
	{
		name: "a password with a colon is rejected when only basic authentication is offered",
		cfg: ServerConfig{AuthMethods: []AuthMethod{AuthBasic}, Streams: []StreamSpec{
			{Name: "cam", Codec: audio.CodecPCMA, User: "admin", Password: "a:b"},
		}},
		wantMsg: `Password contains ':'`,
	},
	{
		name:    "an L16 packet must fit in one UDP datagram",
		cfg:     ServerConfig{PacketDuration: 40 * time.Millisecond, Streams: []StreamSpec{{Name: "l", Codec: audio.CodecL16}}},
		wantMsg: "needs a 2560-byte l16 payload, more than 1460",
	},
}

func TestNewServerRejectsInvalidConfig(t *testing.T) {
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewServer(tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("NewServer succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %q does not wrap ErrInvalidConfig", err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %q does not wrap %q", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestNewServerAcceptsValidConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  ServerConfig
	}{
		{name: "the zero config serves nothing on loopback", cfg: ServerConfig{}},
		{name: "slash-separated names are accepted", cfg: ServerConfig{Streams: []StreamSpec{
			{Name: "site-a/cam_1.main~x", Codec: audio.CodecPCMU},
		}}},
		{name: "60 ms Opus and G.711 packets are accepted", cfg: ServerConfig{
			PacketDuration: 60 * time.Millisecond,
			Streams: []StreamSpec{
				{Name: "o", Codec: audio.CodecOpus},
				{Name: "a", Codec: audio.CodecPCMA},
			},
		}},
		{name: "a password with a colon is accepted with digest authentication", cfg: ServerConfig{
			Streams: []StreamSpec{{Name: "cam", Codec: audio.CodecPCMA, User: "admin", Password: "a:b"}},
		}},
		{name: "scheduled faults of every kind are accepted", cfg: ServerConfig{
			Streams: []StreamSpec{{Name: "cam", Codec: audio.CodecPCMA, Video: true}},
			Faults: []Fault{
				{Stream: "cam", Kind: FaultUDPJitter, Jitter: 2 * time.Second, At: time.Hour},
				{Kind: FaultServerRestart, At: time.Hour, Duration: time.Second},
				{Stream: "cam", Kind: FaultTimestampJump, Jump: time.Millisecond},
			},
		}},
		{name: "10 ms L16 packets are accepted", cfg: ServerConfig{
			PacketDuration: 10 * time.Millisecond,
			Streams:        []StreamSpec{{Name: "l", Codec: audio.CodecL16}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewServer(tc.cfg)
			if err != nil {
				t.Fatalf("NewServer: %v", err)
			}
			s.Close()
		})
	}
}
