package daemon_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/internal/testpki"
	"github.com/sadb-dev/sadb/wfp"
)

// validityCA is a certificate authority that issues client certificates
// with any validity period (testpki's are valid from an hour ago to a day
// from now).
type validityCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newValidityCA(t testing.TB, name string) *validityCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &validityCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a client certificate for name valid from notBefore to
// notAfter.
func (ca *validityCA) issue(t testing.TB, name string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// The TCP listener serves only callers with a certificate from the
// configured CA that is valid now. Every other caller fails with an RPC
// status code and no session reaches the engine; a valid certificate's
// caller is identified as cert:<CN>.
func TestTLSClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, err := testpki.NewCA("sadbd test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue("localhost", true)
	if err != nil {
		t.Fatal(err)
	}
	// A second trusted CA, whose certificates can be expired.
	vca := newValidityCA(t, "sadbd test validity CA")
	cfg := newConfig(t)
	cfg.Listen = "127.0.0.1:0"
	if cfg.TLSCert, cfg.TLSKey, err = testpki.WritePEM(dir, "server", srv); err != nil {
		t.Fatal(err)
	}
	cfg.TLSClientCA = filepath.Join(dir, "clients.pem")
	if err := os.WriteFile(cfg.TLSClientCA, bytes.Join([][]byte{ca.PEM, vca.pem}, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logRecorder{}
	d := startInProc(t, cfg, slog.New(logs))
	addr, ok := logs.find("listening", "tcp")
	if !ok {
		t.Fatal("sadbd did not log its TCP address")
	}

	issue := func(name string) tls.Certificate {
		c, err := ca.Issue(name, false)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	other, err := testpki.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.Issue("mallory", false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// The client presents its certificate whatever CAs the server names
	// (crypto/tls would otherwise withhold one from another CA).
	tlsWith := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", MinVersion: tls.VersionTLS13,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if len(certs) == 0 {
					return &tls.Certificate{}, nil
				}
				return &certs[0], nil
			}}
	}

	for _, tc := range []struct {
		name string
		tls  *tls.Config
		want wfp.SID // "" for refused
	}{
		{"NoCertificate", tlsWith(), ""},
		{"AnotherCA", tlsWith(stranger), ""},
		{"Expired", tlsWith(vca.issue(t, "eve", now.Add(-48*time.Hour), now.Add(-time.Hour))), ""},
		{"NotYetValid", tlsWith(vca.issue(t, "eve", now.Add(time.Hour), now.Add(48*time.Hour))), ""},
		{"Valid", tlsWith(issue("alice")), wfp.CertSID("alice")},
		// The expired certificate's CA is trusted: only the dates refused it.
		{"ValidFromSecondCA", tlsWith(vca.issue(t, "bob", now.Add(-time.Hour), now.Add(time.Hour))), wfp.CertSID("bob")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			api, err := client.Open(ctx, addr, nil, client.WithTLS(tc.tls), client.WithDialTimeout(10*time.Second))
			if tc.want == "" {
				if err == nil {
					api.FwpmEngineClose0()
					t.Fatalf("a session opened with %s", tc.name)
				}
				if !isRPC(err) {
					t.Errorf("refused with %v, want an RPC status code", err)
				}
				t.Logf("refused: %v", err)
				if n := d.Engine().Stats().Sessions; n != 0 {
					t.Errorf("%d sessions reached the engine", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("a valid certificate was refused: %v", err)
			}
			defer api.FwpmEngineClose0()
			if s := api.Session(); s.SID != tc.want || s.ProcessID != 0 {
				t.Errorf("identified as %s pid %d, want %s pid 0", s.SID, s.ProcessID, tc.want)
			}
			if n := d.Engine().Stats().Sessions; n != 1 {
				t.Errorf("%d sessions in the engine, want 1", n)
			}
			// The identity is what access control sees: a certificate
			// user holds no rights on the SA database by default.
			tr := plumbing{}.outbound()
			if _, _, err := api.IPsecSaContextCreate1(&tr, nil); wfp.Code(err) != wfp.ErrorAccessDenied {
				t.Errorf("IPsecSaContextCreate1 as %s: %v, want ERROR_ACCESS_DENIED", tc.want, err)
			}
		})
	}
}
