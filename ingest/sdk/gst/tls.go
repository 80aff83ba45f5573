//go:build gstreamer

package gst

/*
#include <stdlib.h>
#include "glue.h"
*/
import "C"

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
	"unsafe"
)

// noRoots returns a GIO trust store whose only anchor is a certificate
// made here and thrown away, which signs nothing: GIO then trusts no
// server, and rtspsrc asks goAcceptCertificate about every chain. GIO
// loads a trust store only from a PEM file holding at least one
// certificate; the file is removed once loaded.
func (s *SDK) noRoots() (*C.GTlsDatabase, error) {
	s.rootsOnce.Do(func() {
		s.roots, s.rootsErr = loadNoRoots()
	})
	return s.roots, s.rootsErr
}

func loadNoRoots() (*C.GTlsDatabase, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("rtsps trust store: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "earshot: trusts nothing"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(100 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("rtsps trust store: %w", err)
	}
	f, err := os.CreateTemp("", "earshot-no-roots-*.pem")
	if err != nil {
		return nil, fmt.Errorf("rtsps trust store: %w", err)
	}
	defer os.Remove(f.Name())
	err = pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("rtsps trust store: %w", err)
	}
	path := C.CString(f.Name())
	defer C.free(unsafe.Pointer(path))
	db := C.es_tls_database(path)
	if db == nil {
		return nil, errors.New("rtsps trust store: GIO could not load it")
	}
	return db, nil
}

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
