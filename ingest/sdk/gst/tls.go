//go:build gstreamer

package gst

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// verifyChain checks an rtsps server's certificate chain (DER, leaf first)
// against the handle's tls.Config as crypto/tls checks it for the
// gortsplib backend: roots from RootCAs (the system's when nil), the name
// from ServerName or else the URL's host; InsecureSkipVerify accepts any.
// A chain it refuses gives a *tls.CertificateVerificationError, as
// crypto/tls's.
func (h *handle) verifyChain(chain [][]byte) error {
	cfg := h.tls
	if cfg != nil && cfg.InsecureSkipVerify {
		return nil
	}
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("certificate %d: %w", i, err)
		}
		certs[i] = c
	}
	opts := x509.VerifyOptions{DNSName: h.host, Intermediates: x509.NewCertPool()}
	if cfg != nil {
		opts.Roots = cfg.RootCAs
		if cfg.ServerName != "" {
			opts.DNSName = cfg.ServerName
		}
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}
