package sink_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/earshot/earshot/loadtest/testkit"
	"github.com/earshot/earshot/sink"
	"github.com/earshot/earshot/sink/schema"
)

// testPKI is a certificate authority with a broker and a client
// certificate, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	server                    tls.Certificate
	pool                      *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "earshot test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	p := testPKI{
		caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "client.pem"), keyFile: filepath.Join(dir, "client-key.pem"),
		pool: x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	serverCert, serverKey := issue(2, x509.ExtKeyUsageServerAuth)
	if p.server, err = tls.X509KeyPair(serverCert, serverKey); err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey := issue(3, x509.ExtKeyUsageClientAuth)
	for path, b := range map[string][]byte{
		p.caFile:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		p.certFile: clientCert, p.keyFile: clientKey,
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// deliverOne writes one record with sec against broker and reports whether
// Kafka acknowledged it within a few seconds, and the writer's health.
func deliverOne(t *testing.T, broker *sink.EmbeddedBroker, sec sink.Security) (bool, sink.Health, error) {
	t.Helper()
	w, err := sink.NewWriter(sink.WriterConfig{
		Brokers: []string{broker.Addr()}, Topic: deliveryTopic, Security: sec, Logger: discardLogger,
		StallTimeout: time.Second, CloseTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		return false, sink.Health{}, err
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // SCRAM is slow with -race on a loaded machine
	defer cancel()
	pingErr := w.Ping(ctx)
	if err := w.Write(context.Background(), streamRecord("cam-1", schema.KindStart, 1, 0, time.Now())); err != nil {
		t.Fatal(err)
	}
	var h sink.Health
	delivered := false
	testkit.Poll(30*time.Second, func() bool {
		h = w.Health()
		delivered = w.Stats().Delivered == 1
		return delivered || h.Stalled && h.Reason != "" && !strings.Contains(h.Reason, "no produce completed")
	})
	return delivered, h, pingErr
}

func TestMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	broker, err := sink.NewEmbeddedBroker(deliveryTopic, 1, kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	sec := sink.Security{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile}
	ok, h, err := deliverOne(t, broker, sec)
	if !ok || err != nil {
		t.Errorf("over mutual TLS: delivered %v, ping %v, health %+v", ok, err, h)
	}
	readOne(t, broker, sec)
	// Without the client certificate the broker refuses the handshake.
	if ok, _, _ := deliverOne(t, broker, sink.Security{CAFile: pki.caFile}); ok {
		t.Error("delivered without a client certificate")
	}
	// A CA that did not sign the broker's certificate fails verification.
	other := newTestPKI(t)
	if ok, h, _ := deliverOne(t, broker, sink.Security{CAFile: other.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile}); ok {
		t.Errorf("delivered to a broker with an unknown certificate: %+v", h)
	}
}

func TestSASL(t *testing.T) {
	const user, pass = "earshot", "s3cret-pass"
	for _, mech := range []struct{ kfake, sink string }{
		{"PLAIN", sink.SASLPlain},
		{"SCRAM-SHA-256", sink.SASLScramSHA256},
		{"SCRAM-SHA-512", sink.SASLScramSHA512},
	} {
		t.Run(mech.sink, func(t *testing.T) {
			broker, err := sink.NewEmbeddedBroker(deliveryTopic, 1, kfake.EnableSASL(), kfake.Superuser(mech.kfake, user, pass))
			if err != nil {
				t.Fatal(err)
			}
			defer broker.Close()
			sec := sink.Security{SASL: mech.sink, Username: user, Password: pass}
			ok, h, err := deliverOne(t, broker, sec)
			if !ok || err != nil {
				t.Errorf("delivered %v, ping %v, health %+v", ok, err, h)
			}
			readOne(t, broker, sec)
			const wrong = "wrong-pass-123"
			ok, h, err = deliverOne(t, broker, sink.Security{SASL: mech.sink, Username: user, Password: wrong})
			if ok {
				t.Fatal("delivered with a wrong password")
			}
			t.Logf("wrong password: ping %v; health %+v", err, h)
			for _, s := range []string{h.Reason, errString(err)} {
				if strings.Contains(s, wrong) || strings.Contains(s, pass) {
					t.Errorf("a password leaks: %q", s)
				}
			}
		})
	}
}

// readOne reads the record deliverOne wrote back with sink.Read over sec.
func readOne(t *testing.T, broker *sink.EmbeddedBroker, sec sink.Security) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errGot := errors.New("got it")
	err := sink.Read(ctx, sink.ReadConfig{Brokers: []string{broker.Addr()}, Topic: deliveryTopic, Security: sec}, func(r schema.Record) error {
		if r.Stream == "cam-1" {
			return errGot
		}
		return nil
	})
	if !errors.Is(err, errGot) {
		t.Errorf("reading back over the same connection settings: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestRecordLimitFollowsTheTopic(t *testing.T) {
	broker, err := sink.NewEmbeddedBroker(deliveryTopic, 1, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "4096"}))
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	w, err := sink.NewWriter(sink.WriterConfig{Brokers: []string{broker.Addr()}, Topic: deliveryTopic, Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	big := streamRecord("cam-1", schema.KindAudio, 1, 1, time.Now()) // 6400 bytes of PCM
	if err := w.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	err = w.Write(context.Background(), big)
	if !errors.Is(err, sink.ErrTooLarge) || !strings.Contains(err.Error(), `topic "audio" max.message.bytes (4096)`) {
		t.Errorf("Write of a record above max.message.bytes: %v", err)
	}
	small := big
	small.PCM = small.PCM[:1000]
	if err := w.Write(context.Background(), small); err != nil {
		t.Errorf("Write of a record that fits: %v", err)
	}

	// A writer that did not ask (no Ping) learns it from the broker: the
	// refused record is given up, the records behind it are delivered.
	w2, err := sink.NewWriter(sink.WriterConfig{Brokers: []string{broker.Addr()}, Topic: deliveryTopic, Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	next := small
	next.Seq = 2
	for _, r := range []schema.Record{big, next} {
		if err := w2.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w2.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if st := w2.Stats(); st.Failed != 1 || st.Delivered != 1 {
		t.Errorf("stats %+v, want the large record failed and the next delivered", st)
	}
}

func TestMissingTopicIsNamed(t *testing.T) {
	broker := newBroker(t)
	w, err := sink.NewWriter(sink.WriterConfig{Brokers: []string{broker.Addr()}, Topic: "no-such-topic", Logger: discardLogger, CloseTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	err = w.Ping(context.Background())
	if err == nil || !strings.Contains(err.Error(), `topic "no-such-topic"`) {
		t.Errorf("Ping of a missing topic: %v", err)
	}
}
