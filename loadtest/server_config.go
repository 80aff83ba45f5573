package loadtest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/auth"
)

// ErrInvalidConfig is wrapped by every error NewServer returns for a
// ServerConfig it rejects.
var ErrInvalidConfig = errors.New("invalid loadtest server config")

// Limits checked by validate.
const (
	// maxRTPPayload is gortsplib's largest outgoing packet (the UDP MTU,
	// 1472 bytes) minus the 12-byte RTP header.
	maxRTPPayload = 1472 - 12
)

// ServerConfig configures a Server. The zero value is usable (and serves no
// streams).
type ServerConfig struct {
	// Address is the TCP listen address of the RTSP server.
	// It defaults to "127.0.0.1:0" (a free port on loopback; see Server.Addr).
	Address string
	// Streams lists the synthetic cameras to serve. Names must be unique.
	// It defaults to none.
	Streams []StreamSpec
	// PacketDuration is the audio duration carried by each RTP packet, and
	// the pacer's tick. It must be a whole number of milliseconds; with an
	// Opus stream it must be 10, 20, 40 or 60 ms, with an L16 stream at
	// most 22 ms (a 16 kHz stereo packet must fit in 1472 bytes), and with
	// an AAC stream at most 60 ms. AAC packets carry the access units that
	// start within one PacketDuration, so their duration varies.
	// It defaults to 20 ms.
	PacketDuration time.Duration
	// UDP also offers the UDP transport, on an even/odd pair of free ports on
	// the host of Address. It cannot be combined with TLS. It defaults to
	// false: TCP (interleaved) only.
	UDP bool
	// TLS, if set, serves RTSPS (rtsps:// URLs): RTSP, and RTP/AVP
	// interleaved, inside TLS, as most cameras do; readers must use TCP.
	// LoopbackTLS makes a config for tests. It defaults to nil: plain RTSP.
	TLS *tls.Config
	// AuthMethods are the authentication schemes offered to streams with a
	// StreamSpec.User. It defaults to both AuthBasic and AuthDigest.
	AuthMethods []AuthMethod
	// SenderReportPeriod is how often each track sends an RTCP sender
	// report. It must be at least PacketDuration. It defaults to 1 second.
	SenderReportPeriod time.Duration
	// GortsplibNTP encodes the fraction of a second in sender reports' NTP
	// timestamps in nanoseconds, as gortsplib v4.16.2 does (its
	// rtcpreceiver, and so Client.PacketNTP, reads them so too, and so
	// misreads cameras' sender reports by up to 3.3 s). It defaults to
	// false: units of 2^-32 s, as RFC 3550 and cameras do.
	GortsplibNTP bool
	// Faults are scheduled from Start, each at its Fault.At; see Fault and
	// Server.Inject. It defaults to none.
	Faults []Fault
	// Logger receives one line when a fault begins or ends, and errors
	// the server cannot return. It defaults to slog.Default().
	Logger *slog.Logger
}

// AuthMethod is an RTSP authentication scheme.
type AuthMethod string

// The authentication schemes. Digest uses MD5, the scheme cameras offer.
const (
	AuthBasic  AuthMethod = "basic"
	AuthDigest AuthMethod = "digest"
)

// setDefaults sets every zero field of c to its default. It is the only
// place defaults are applied.
func (c *ServerConfig) setDefaults() {
	if c.Address == "" {
		c.Address = "127.0.0.1:0"
	}
	if c.PacketDuration == 0 {
		c.PacketDuration = 20 * time.Millisecond
	}
	if len(c.AuthMethods) == 0 {
		c.AuthMethods = []AuthMethod{AuthBasic, AuthDigest}
	}
	if c.SenderReportPeriod == 0 {
		c.SenderReportPeriod = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// verifyMethods returns AuthMethods as gortsplib's.
func (c *ServerConfig) verifyMethods() []auth.VerifyMethod {
	var out []auth.VerifyMethod
	for _, m := range c.AuthMethods {
		if m == AuthBasic {
			out = append(out, auth.VerifyMethodBasic)
		} else {
			out = append(out, auth.VerifyMethodDigestMD5)
		}
	}
	return out
}

// validate checks a config that already has its defaults.
func (c ServerConfig) validate() error {
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return fmt.Errorf("%w: Address %q: %w", ErrInvalidConfig, c.Address, err)
	}
	d := c.PacketDuration
	if d < time.Millisecond || d%time.Millisecond != 0 {
		return fmt.Errorf("%w: PacketDuration %v is not a positive whole number of milliseconds", ErrInvalidConfig, d)
	}
	if c.SenderReportPeriod < d {
		return fmt.Errorf("%w: SenderReportPeriod %v is shorter than PacketDuration %v", ErrInvalidConfig, c.SenderReportPeriod, d)
	}
	if c.UDP && c.TLS != nil {
		return fmt.Errorf("%w: UDP with TLS: RTSPS readers use TCP here", ErrInvalidConfig)
	}
	for i, m := range c.AuthMethods {
		if m != AuthBasic && m != AuthDigest {
			return fmt.Errorf("%w: AuthMethods[%d]: unknown method %q (want %q or %q)", ErrInvalidConfig, i, m, AuthBasic, AuthDigest)
		}
	}
	seen := make(map[string]int, len(c.Streams))
	for i, s := range c.Streams {
		if err := s.validate(i); err != nil {
			return err
		}
		if err := c.validateCredentials(s); err != nil {
			return fmt.Errorf("%w: Streams[%d] %q: %w", ErrInvalidConfig, i, s.Name, err)
		}
		if j, dup := seen[s.Name]; dup {
			return fmt.Errorf("%w: Streams[%d]: duplicate name %q (also Streams[%d])", ErrInvalidConfig, i, s.Name, j)
		}
		seen[s.Name] = i
		if err := validatePacketDuration(s.Codec, d); err != nil {
			return fmt.Errorf("%w: Streams[%d] %q: %w", ErrInvalidConfig, i, s.Name, err)
		}
	}
	return nil
}

// validateCredentials reports why s's credentials cannot be checked.
func (c ServerConfig) validateCredentials(s StreamSpec) error {
	switch {
	case s.Password != "" && s.User == "":
		//lint:ignore ST1005 the message begins with the field's name
		return errors.New("Password without User")
	case strings.Contains(s.User, ":"):
		//lint:ignore ST1005 the message begins with the field's name
		return errors.New("User contains ':'")
	case strings.Contains(s.Password, ":") && len(c.AuthMethods) == 1 && c.AuthMethods[0] == AuthBasic:
		// gortsplib v4.16.2 splits basic credentials at every ':'.
		//lint:ignore ST1005 the message begins with the field's name
		return errors.New("Password contains ':', which basic authentication cannot carry here (offer AuthDigest too)")
	}
	return nil
}

// validatePacketDuration reports whether codec can carry d per RTP packet.
func validatePacketDuration(codec string, d time.Duration) error {
	c, cc, err := cameraCodecOf(codec)
	if err != nil {
		return err
	}
	if cc.checkDuration != nil {
		return cc.checkDuration(d)
	}
	if payload := samplesPer(d, cc.clockRate) * c.CodedBits * cc.channels / 8; payload > maxRTPPayload {
		return fmt.Errorf("PacketDuration %v needs a %d-byte %s payload, more than %d", d, payload, codec, maxRTPPayload)
	}
	return nil
}
