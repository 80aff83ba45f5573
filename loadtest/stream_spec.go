package loadtest

import (
	"fmt"
	"strings"
)

// StreamSpec describes one synthetic camera stream.
type StreamSpec struct {
	// Name is the RTSP path the stream is served at, rtsp://host:port/<Name>.
	// It is one or more segments of letters, digits, '-', '.', '_' or '~'
	// separated by single slashes, such as "cam1" or "site-a/cam.1".
	// It has no default.
	Name string
	// Codec is one of audio.Codecs(): "opus", "pcma", "pcmu", "l16"
	// (16 kHz stereo), "aac" (MPEG4-GENERIC, 16 kHz mono), "aac-latm"
	// (MP4A-LATM, 48 kHz stereo), "g722", or G.726 as "g726-16" …
	// "g726-40" (RFC 3551 packing) and "aal2-g726-16" … "aal2-g726-40"
	// (AAL2 packing). It has no default.
	Codec string
	// Signal is what the camera's microphone hears: SignalSpeech (the
	// embedded speech clip), SignalTone (a 1 kHz sine at −20 dBFS RMS) or
	// SignalSilence (digital zero, a muted microphone). It defaults to
	// SignalSpeech.
	Signal string
	// Video adds an H.264 video track before the audio track in the SDP,
	// sending a tiny dummy access unit every 40 ms; FaultAudioStopVideo
	// needs it. It defaults to false: audio only.
	Video bool
	// User, if set, requires RTSP authentication (the schemes of
	// ServerConfig.AuthMethods) with User and Password. It defaults to "":
	// no authentication.
	User string
	// Password goes with User. It defaults to "".
	Password string
}

// validate checks s on its own; i is its index in ServerConfig.Streams.
func (s StreamSpec) validate(i int) error {
	if s.Name == "" {
		return fmt.Errorf("%w: Streams[%d]: empty name", ErrInvalidConfig, i)
	}
	if err := validateName(s.Name); err != nil {
		return fmt.Errorf("%w: Streams[%d]: name %q: %w", ErrInvalidConfig, i, s.Name, err)
	}
	if _, _, err := cameraCodecOf(s.Codec); err != nil {
		return fmt.Errorf("%w: Streams[%d] %q: %w", ErrInvalidConfig, i, s.Name, err)
	}
	switch s.Signal {
	case SignalSpeech, SignalTone, SignalSilence:
	default:
		return fmt.Errorf("%w: Streams[%d] %q: signal %q is not %q, %q or %q", ErrInvalidConfig, i, s.Name, s.Signal, SignalSpeech, SignalTone, SignalSilence)
	}
	return nil
}

// validateName reports why name cannot be served as an RTSP path.
func validateName(name string) error {
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case "":
			return fmt.Errorf("empty path segment (leading, trailing or double slash)")
		case ".", "..":
			return fmt.Errorf("path segment %q is not allowed", seg)
		}
		for _, r := range seg {
			if !isNameRune(r) {
				return fmt.Errorf("character %q is not allowed (use letters, digits, '-', '.', '_', '~' and '/')", r)
			}
		}
	}
	return nil
}

// isNameRune reports whether r is an RFC 3986 unreserved character, which
// needs no escaping in an RTSP URL.
func isNameRune(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
		r == '-' || r == '.' || r == '_' || r == '~'
}
