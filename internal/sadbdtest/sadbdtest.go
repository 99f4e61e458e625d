// Package sadbdtest runs the engine behind the RPC server on a Unix socket
// inside a test process: what the CLI and client tests talk to when they do
// not need a separate sadbd process.
package sadbdtest

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/sadb-dev/sadb/clock"
	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/peercred"
	"github.com/sadb-dev/sadb/internal/rpcserver"
	"github.com/sadb-dev/sadb/wfp"
)

// T0 is when every test server's fake clock starts.
var T0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Server is a running test server.
type Server struct {
	Engine *engine.Engine
	Clock  *clock.Fake
	Socket string // path of the Unix socket
	Target string // "unix://" + Socket
}

// Options adjust Start. The zero value gives the calling user ownership of
// the engine and the SA database, and a fake clock at T0.
type Options struct {
	Engine engine.Options // Clock, EngineSD and SADBSD are filled in when nil
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	clk := clock.NewFake(T0)
	eo := opts.Engine
	if eo.Clock == nil {
		eo.Clock = clk
	}
	me := wfp.UserSID(uint32(os.Getuid()))
	if eo.EngineSD == nil {
		eo.EngineSD = &wfp.SecurityDescriptor{Owner: me, DACL: &wfp.ACL{
			{Type: wfp.AccessAllowed, Mask: wfp.GenericAll, SID: me},
			{Type: wfp.AccessAllowed, Mask: wfp.ActrlOpen | wfp.ActrlClassify, SID: wfp.Everyone},
		}}
	}
	if eo.SADBSD == nil {
		eo.SADBSD = &wfp.SecurityDescriptor{Owner: me, DACL: &wfp.ACL{{Type: wfp.AccessAllowed, Mask: wfp.GenericAll, SID: me}}}
	}
	e, err := engine.New(eo)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sadbdtest")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sadbd.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(append(rpcserver.ServerOptions(), grpc.Creds(peercred.Credentials()))...)
	rpcserver.New(e, rpcserver.Options{}).Register(g)
	go g.Serve(l)
	t.Cleanup(func() {
		g.Stop()
		e.Close()
		os.RemoveAll(dir)
	})
	return &Server{Engine: e, Clock: clk, Socket: path, Target: "unix://" + path}
}
