package sink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL mechanisms of Security.SASL.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// Security configures how earshot connects to the brokers: TLS and SASL.
// The zero value is a plaintext connection without authentication.
type Security struct {
	// TLS turns TLS on. It is implied by any of the TLS fields below. It
	// defaults to false.
	TLS bool
	// CAFile is a PEM file of the certificate authorities that sign the
	// brokers' certificates. It defaults to "": the system's roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key, for
	// brokers that authenticate clients by certificate. Both or neither. They
	// default to "": no client certificate.
	CertFile string
	KeyFile  string
	// ServerName is the name the brokers' certificates must carry. It
	// defaults to "": the host of each broker address.
	ServerName string
	// InsecureSkipVerify accepts any broker certificate: for tests only,
	// never in production. It defaults to false.
	InsecureSkipVerify bool

	// SASL is the SASL mechanism: "" (none), SASLPlain, SASLScramSHA256 or
	// SASLScramSHA512. PLAIN sends the password in clear: use it over TLS.
	// It defaults to "": no SASL.
	SASL string
	// Username and Password are the SASL credentials. They never appear in
	// logs or errors.
	Username string
	Password string
}

// tlsOn reports whether TLS is used.
func (s Security) tlsOn() bool {
	return s.TLS || s.CAFile != "" || s.CertFile != "" || s.KeyFile != "" || s.ServerName != "" || s.InsecureSkipVerify
}

// validate reports every problem of s without reading files.
func (s Security) validate() error {
	var errs []error
	if (s.CertFile == "") != (s.KeyFile == "") {
		errs = append(errs, errors.New("sink: Security.CertFile and Security.KeyFile must be set together"))
	}
	switch s.SASL {
	case "":
		if s.Username != "" || s.Password != "" {
			errs = append(errs, errors.New("sink: Security.Username and Password are set but Security.SASL is not"))
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if s.Username == "" {
			errs = append(errs, fmt.Errorf("sink: Security.SASL %s needs a Username", s.SASL))
		}
		if s.Password == "" {
			errs = append(errs, fmt.Errorf("sink: Security.SASL %s needs a Password", s.SASL))
		}
	default:
		errs = append(errs, fmt.Errorf(`sink: Security.SASL must be "", %q, %q or %q, got %q`, SASLPlain, SASLScramSHA256, SASLScramSHA512, s.SASL))
	}
	return errors.Join(errs...)
}

// tlsConfig loads the TLS files; nil when TLS is off.
func (s Security) tlsConfig() (*tls.Config, error) {
	if !s.tlsOn() {
		return nil, nil
	}
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         s.ServerName,
		InsecureSkipVerify: s.InsecureSkipVerify,
	}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("sink: TLS CA file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sink: TLS CA file %s holds no PEM certificate", s.CAFile)
		}
	}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("sink: TLS client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// mechanism returns the SASL mechanism; nil without SASL.
func (s Security) mechanism() (sasl.Mechanism, error) {
	switch s.SASL {
	case "":
		return nil, nil
	case SASLPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case SASLScramSHA256, SASLScramSHA512:
		algo := scram.SHA256
		if s.SASL == SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			// The error names the mechanism, never the password.
			return nil, fmt.Errorf("sink: SASL %s: %w", s.SASL, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("sink: unknown SASL mechanism %q", s.SASL)
}

// dialOptions are the TLS configuration and SASL mechanism of s, loaded.
type dialOptions struct {
	tls  *tls.Config
	sasl sasl.Mechanism
}

func (s Security) load() (dialOptions, error) {
	if err := s.validate(); err != nil {
		return dialOptions{}, err
	}
	t, err := s.tlsConfig()
	if err != nil {
		return dialOptions{}, err
	}
	m, err := s.mechanism()
	if err != nil {
		return dialOptions{}, err
	}
	return dialOptions{tls: t, sasl: m}, nil
}

// TLSConfig loads the TLS files, for other Kafka clients of the same
// brokers (the fleet's franz-go clients); nil when TLS is off.
func (s Security) TLSConfig() (*tls.Config, error) { return s.tlsConfig() }
