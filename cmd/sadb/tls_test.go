package main

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/sadb-dev/sadb/clock"
	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/rpcserver"
	"github.com/sadb-dev/sadb/internal/sadbdtest"
	"github.com/sadb-dev/sadb/internal/testpki"
	"github.com/sadb-dev/sadb/wfp"
)

// TestTLSTarget runs commands against a TCP listener with mutual TLS: the
// CLI presents its client certificate and sadbd knows it as cert:NAME.
func TestTLSTarget(t *testing.T) {
	ca, err := testpki.NewCA("sadb test CA")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := ca.Issue("localhost", true)
	if err != nil {
		t.Fatal(err)
	}
	cliCert, err := ca.Issue("operator", false)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile, err := testpki.WritePEM(dir, "operator", cliCert)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}

	op := wfp.CertSID("operator")
	sd := &wfp.SecurityDescriptor{Owner: op, DACL: &wfp.ACL{{Type: wfp.AccessAllowed, Mask: wfp.GenericAll, SID: op}}}
	e, err := engine.New(engine.Options{Clock: clock.NewFake(sadbdtest.T0), EngineSD: sd, SADBSD: sd.Clone()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{srvCert}, ClientCAs: ca.Pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	g := grpc.NewServer(append(rpcserver.ServerOptions(), grpc.Creds(creds))...)
	rpcserver.New(e, rpcserver.Options{}).Register(g)
	go g.Serve(l)
	t.Cleanup(func() {
		g.Stop()
		e.Close()
	})

	run := func(args ...string) result {
		var out, errb syncBuffer
		a := &app{ctx: t.Context(), stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
		code := a.execute(append([]string{"--target", l.Addr().String(), "--tls-cert", certFile, "--tls-key", keyFile, "--tls-ca", caFile}, args...))
		return result{out.String(), errb.String(), code}
	}
	r := run("-o", "json", "session")
	if r.code != 0 || !strings.Contains(r.stdout, `"sid": "cert:operator"`) {
		t.Fatalf("session over TLS: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run("filter", "add-pair", "--local", "192.0.2.1", "--remote", "192.0.2.2"); r.code != 0 {
		t.Errorf("filter add-pair over TLS: exit %d: %s", r.code, r.stderr)
	}
	if r := run("acl", "show"); r.code != 0 || !strings.Contains(r.stdout, "cert:operator") {
		t.Errorf("acl show over TLS: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
}
