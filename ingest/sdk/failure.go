package sdk

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"syscall"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
)

// Failure kinds returned by Classify.
const (
	FailUnauthorized     = "unauthorized"      // 401 or 403: wrong or missing credentials
	FailNotFound         = "not_found"         // 404: no such stream
	FailNoAudio          = "no_audio"          // the source offers no audio track
	FailUnsupportedCodec = "unsupported_codec" // no audio track in a codec earshot decodes
	FailBadFormat        = "bad_format"        // the decoder refuses the track's parameters
	FailRedirect         = "redirect"          // a redirect refused by policy, or too many
	FailTLS              = "tls"               // the source's certificate is not trusted
	FailTimeout          = "timeout"           // a request or the connection timed out
	FailUnreachable      = "unreachable"       // connection refused, reset or unroutable
	FailOther            = "error"
)

// ErrBadFormat is returned by Open for an audio track whose SDP parameters
// the decoder refuses (such as L16/48000/255), and wrapped by consumers
// whose decoder refuses the track's configuration: like an unsupported
// codec, only a change at the source fixes it.
var ErrBadFormat = errors.New("audio format refused by the decoder")

// Classify names the kind of an Open or connection error and reports
// whether it is permanent: one that retrying soon cannot fix (credentials,
// a missing path, what the source offers), so callers should retry it only
// rarely instead of hammering the source.
func Classify(err error) (kind string, permanent bool) {
	var status liberrors.ErrClientBadStatusCode
	var unsupported *UnsupportedCodecError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	switch {
	case err == nil:
		return "", false
	case errors.As(err, &status):
		switch status.Code {
		case base.StatusUnauthorized, base.StatusForbidden:
			return FailUnauthorized, true
		case base.StatusNotFound:
			return FailNotFound, true
		}
		return FailOther, false
	case errors.As(err, &certErr):
		return FailTLS, true
	case errors.Is(err, ErrNoAudio):
		return FailNoAudio, true
	case errors.As(err, &unsupported):
		return FailUnsupportedCodec, true
	case errors.Is(err, ErrBadFormat):
		return FailBadFormat, true
	case errors.Is(err, ErrRedirectRefused), errors.Is(err, ErrTooManyRedirects):
		return FailRedirect, true
	case errors.Is(err, ErrRequestTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &liberrors.ErrClientTCPTimeout{}),
		errors.As(err, &liberrors.ErrClientUDPTimeout{}),
		errors.As(err, &netErr) && netErr.Timeout():
		return FailTimeout, false
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return FailUnreachable, false
	}
	return FailOther, false
}
