package client_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/clock"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/peercred"
	"github.com/sadb-dev/sadb/internal/rpcserver"
	"github.com/sadb-dev/sadb/internal/testpki"
	"github.com/sadb-dev/sadb/wfp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// rpcHarness runs an engine behind rpcserver in the test process and opens
// sessions over a real socket with the client package.
type rpcHarness struct {
	t      *testing.T
	clk    *clock.Fake
	target string
	admin  wfp.Token
	users  []wfp.Token
	tls    map[wfp.SID]*tls.Config // TCP only: the certificate per principal
}

func (h *rpcHarness) Open(tok wfp.Token, s *wfp.FwpmSession0) (wfp.API, error) {
	var opts []client.Option
	if h.tls != nil {
		cfg, ok := h.tls[tok.User]
		if !ok {
			return nil, fmt.Errorf("harness has no certificate for %s", tok.User)
		}
		opts = append(opts, client.WithTLS(cfg))
	} else if tok.User != h.admin.User {
		return nil, fmt.Errorf("the Unix-socket harness can only be %s", h.admin.User)
	}
	return client.Open(context.Background(), h.target, s, opts...)
}

func (h *rpcHarness) Admin() wfp.Token        { return h.admin }
func (h *rpcHarness) Users() int              { return len(h.users) }
func (h *rpcHarness) User(i int) wfp.Token    { return h.users[i] }
func (h *rpcHarness) Now() time.Time          { return h.clk.Now() }
func (h *rpcHarness) Advance(d time.Duration) { h.clk.Advance(d) }

// startEngine starts an engine whose descriptors make admin the owner.
func startEngine(t *testing.T, admin wfp.SID) (*engine.Engine, *clock.Fake) {
	clk := clock.NewFake(t0)
	sd := func(extra ...wfp.ACE) *wfp.SecurityDescriptor {
		acl := append(wfp.ACL{{Type: wfp.AccessAllowed, Mask: wfp.GenericAll, SID: admin}}, extra...)
		return &wfp.SecurityDescriptor{Owner: admin, DACL: &acl}
	}
	e, err := engine.New(engine.Options{Clock: clk,
		EngineSD: sd(wfp.ACE{Type: wfp.AccessAllowed, Mask: wfp.ActrlOpen | wfp.ActrlClassify, SID: wfp.Everyone}),
		SADBSD:   sd()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, clk
}

func serve(t *testing.T, e *engine.Engine, l net.Listener, creds credentials.TransportCredentials) {
	g := grpc.NewServer(append(rpcserver.ServerOptions(), grpc.Creds(creds))...)
	rpcserver.New(e, rpcserver.Options{}).Register(g)
	go g.Serve(l)
	t.Cleanup(g.Stop)
}

func newUnixHarness(t *testing.T) conformance.Harness {
	admin := wfp.UserSID(uint32(os.Getuid()))
	e, clk := startEngine(t, admin)
	path := filepath.Join(t.TempDir(), "sadbd.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, e, l, peercred.Credentials())
	return &rpcHarness{t: t, clk: clk, target: "unix://" + path, admin: wfp.Token{User: admin}}
}

func newTLSHarness(t *testing.T) conformance.Harness {
	ca, err := testpki.NewCA("sadb test CA")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := ca.Issue("localhost", true)
	if err != nil {
		t.Fatal(err)
	}
	h := &rpcHarness{t: t, admin: wfp.Token{User: wfp.CertSID("admin")}, tls: map[wfp.SID]*tls.Config{}}
	names := []string{"admin", "user0", "user1", "user2"}
	for i, n := range names {
		c, err := ca.Issue(n, false)
		if err != nil {
			t.Fatal(err)
		}
		h.tls[wfp.CertSID(n)] = &tls.Config{Certificates: []tls.Certificate{c}, RootCAs: ca.Pool, ServerName: "localhost", MinVersion: tls.VersionTLS13}
		if i > 0 {
			h.users = append(h.users, wfp.Token{User: wfp.CertSID(n)})
		}
	}
	e, clk := startEngine(t, h.admin.User)
	h.clk = clk
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.target = l.Addr().String()
	serve(t, e, l, credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{srvCert}, ClientCAs: ca.Pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}))
	return h
}

func TestConformanceUnixSocket(t *testing.T) {
	conformance.Run(t, newUnixHarness)
}

func TestConformanceMutualTLS(t *testing.T) {
	conformance.Run(t, newTLSHarness)
}
