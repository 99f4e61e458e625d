// Package client is wfp.API over RPC to sadbd: the same keying code runs in
// process (package engine) or against a daemon, local or remote.
//
//	api, err := client.Open(ctx, "unix:///run/sadb/sadbd.sock", nil)
//	defer api.FwpmEngineClose0()
//	id, _, err := api.IPsecSaContextCreate1(&traffic, nil)
//
// One API value is one WFP session over one gRPC stream. If the connection
// is lost the session ends on the server (its transaction is aborted, as
// when a session closes) and every later call fails with an RPC status code
// (RPC_E_DISCONNECTED, RPC_S_SERVER_UNAVAILABLE, ...). Results are the same
// structures the engine returns; errors are wfp.Error values.
package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	pb "github.com/sadb-dev/sadb/api/sadb/v1"
	"github.com/sadb-dev/sadb/internal/peercred"
	"github.com/sadb-dev/sadb/internal/wire"
	"github.com/sadb-dev/sadb/wfp"
)

// maxPage mirrors the server's page limit: enumeration asks in pieces.
const maxPage = 1024

// Flow-control windows, the server's (rpcserver.StreamWindow, ConnWindow).
const (
	streamWindow = 1 << 20
	connWindow   = 4 << 20
)

// Option configures Open.
type Option func(*options)

type options struct {
	tls         *tls.Config
	callTimeout time.Duration
	dialTimeout time.Duration
	conn        *grpc.ClientConn
}

// WithTLS sets the TLS configuration (with the client certificate) for a
// TCP target. It is required for TCP targets.
func WithTLS(c *tls.Config) Option { return func(o *options) { o.tls = c } }

// WithCallTimeout bounds each call (default: none; the session's
// txnWaitTimeoutInMSec still applies on the server). A call that times out
// fails with RPC_E_TIMEOUT.
func WithCallTimeout(d time.Duration) Option { return func(o *options) { o.callTimeout = d } }

// WithDialTimeout bounds connecting (default 10 s).
func WithDialTimeout(d time.Duration) Option { return func(o *options) { o.dialTimeout = d } }

// WithConn opens the session on an existing connection, which the session
// then does not close.
func WithConn(c *grpc.ClientConn) Option { return func(o *options) { o.conn = c } }

// Dial connects to sadbd. target is "unix:///path/to/socket" or
// "host:port" (which needs WithTLS).
func Dial(target string, opts ...Option) (*grpc.ClientConn, error) {
	o := options{dialTimeout: 10 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	return dial(target, &o)
}

func dial(target string, o *options) (*grpc.ClientConn, error) {
	dopts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(16<<20)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Static windows, as the server's (rpcserver.ServerOptions): no
		// bandwidth-estimation PING for every reply.
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(connWindow),
	}
	switch {
	case strings.HasPrefix(target, "unix://"):
		path := strings.TrimPrefix(target, "unix://")
		dopts = append(dopts, grpc.WithTransportCredentials(peercred.Credentials()),
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			}))
		target = "passthrough:///sadbd"
	case o.tls != nil:
		dopts = append(dopts, grpc.WithTransportCredentials(credentials.NewTLS(o.tls)))
		target = "passthrough:///" + target
	default:
		return nil, wfp.Errorf(wfp.RPCSUnknownAuthnService, "target %q is not a unix:// socket and no TLS configuration was given", target)
	}
	c, err := grpc.NewClient(target, dopts...)
	if err != nil {
		return nil, wfp.Errorf(wfp.RPCSInvalidBinding, "%v", err)
	}
	return c, nil
}

// Open dials target and opens a session (FwpmEngineOpen0). session may be nil.
func Open(ctx context.Context, target string, session *wfp.FwpmSession0, opts ...Option) (wfp.API, error) {
	o := options{dialTimeout: 10 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	conn, owned := o.conn, false
	if conn == nil {
		var err error
		if conn, err = dial(target, &o); err != nil {
			return nil, err
		}
		owned = true
	}
	s, err := openSession(ctx, conn, session, &o)
	if err != nil {
		if owned {
			conn.Close()
		}
		return nil, err
	}
	if owned {
		s.conn = conn
	}
	return s, nil
}

// FwpmEngineOpen0 is Open in WFP's words: serverName is the target, the
// authentication service must be RPC_C_AUTHN_WINNT or RPC_C_AUTHN_DEFAULT,
// and authIdentity, if not nil, is the TLS configuration for TCP targets.
func FwpmEngineOpen0(serverName string, authnService uint32, authIdentity *tls.Config, session *wfp.FwpmSession0) (wfp.API, error) {
	if authnService != wfp.RPCCAuthnWinNT && authnService != wfp.RPCCAuthnDefault {
		return nil, wfp.Errorf(wfp.RPCSUnknownAuthnService, "authentication service %d is not supported", authnService)
	}
	var opts []Option
	if authIdentity != nil {
		opts = append(opts, WithTLS(authIdentity))
	}
	return Open(context.Background(), serverName, session, opts...)
}

// pendingCall is a call awaiting its reply. hook, if set, runs in the
// receiving goroutine before any later message is handled: it registers a
// new subscription's handle before the changes that follow it arrive.
type pendingCall struct {
	ch   chan *pb.Reply
	hook func(*pb.Reply)
}

// session is one open session on a stream.
type session struct {
	conn        *grpc.ClientConn // closed with the session when Open dialed it
	stream      pb.SADB_SessionClient
	cancel      context.CancelFunc
	callTimeout time.Duration
	info        wfp.FwpmSession0

	sendMu sync.Mutex // serializes stream.Send

	mu      sync.Mutex // guards fields below
	nextID  uint64
	pending map[uint64]pendingCall
	subs    map[uint64]*subscription
	kms     map[uint64]*keyManager
	dead    error // set when the stream has failed or the session closed
	closed  bool

	recvDone chan struct{}
}

var _ wfp.API = (*session)(nil)

func openSession(ctx context.Context, conn *grpc.ClientConn, in *wfp.FwpmSession0, o *options) (*session, error) {
	sctx, cancel := context.WithCancel(context.Background())
	stream, err := pb.NewSADBClient(conn).Session(sctx)
	if err != nil {
		cancel()
		return nil, transportError(err)
	}
	s := &session{stream: stream, cancel: cancel, callTimeout: o.callTimeout,
		pending: map[uint64]pendingCall{}, subs: map[uint64]*subscription{}, kms: map[uint64]*keyManager{},
		recvDone: make(chan struct{})}
	go s.recvLoop()
	op := &pb.Open{}
	if in != nil {
		op.Session, op.HasSession = wire.SessionPB(in), true
	}
	dctx, dcancel := context.WithTimeout(ctx, o.dialTimeout)
	defer dcancel()
	r, err := s.roundTrip(dctx, &pb.Call{Op: &pb.Call_Open{Open: op}}, nil)
	if err == nil {
		err = replyErr(r)
	}
	if err != nil {
		s.shutdown(err)
		return nil, err
	}
	if s.info, err = wire.SessionFromPB(r.GetSession()); err != nil {
		s.shutdown(err)
		return nil, wfp.Errorf(wfp.RPCXBadStubData, "%v", err)
	}
	return s, nil
}

// recvLoop routes every server message: replies to their callers, changes
// and key notifications to their subscriptions.
func (s *session) recvLoop() {
	defer close(s.recvDone)
	for {
		m, err := s.stream.Recv()
		if err != nil {
			s.fail(err)
			return
		}
		switch msg := m.Msg.(type) {
		case *pb.ServerMessage_Reply:
			s.mu.Lock()
			pc, ok := s.pending[msg.Reply.GetId()]
			delete(s.pending, msg.Reply.GetId())
			s.mu.Unlock()
			if ok {
				if pc.hook != nil {
					pc.hook(msg.Reply)
				}
				pc.ch <- msg.Reply
			}
		case *pb.ServerMessage_Change:
			s.mu.Lock()
			sub := s.subs[msg.Change.GetHandle()]
			s.mu.Unlock()
			if sub != nil {
				sub.Push(wfp.IPsecSAContextChange0{ChangeType: wfp.SAContextEventType(msg.Change.GetChangeType()), SAContextID: msg.Change.GetSaContextId()})
			}
		case *pb.ServerMessage_KeyNotify:
			s.mu.Lock()
			km := s.kms[msg.KeyNotify.GetHandle()]
			s.mu.Unlock()
			if km != nil {
				in, err1 := wire.DetailsFromPB(msg.KeyNotify.GetInbound())
				out, err2 := wire.DetailsFromPB(msg.KeyNotify.GetOutbound())
				if err1 == nil && err2 == nil {
					km.Push([2]*wfp.IPsecSADetails1{in, out})
				}
			}
		}
	}
}

// fail ends the session after a transport failure.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.dead == nil {
		if s.closed {
			s.dead = errClosed
		} else {
			s.dead = disconnected(err)
		}
	}
	pending := s.pending
	s.pending = map[uint64]pendingCall{}
	subs, kms := s.subs, s.kms
	s.mu.Unlock()
	for _, pc := range pending {
		close(pc.ch)
	}
	for _, sub := range subs {
		sub.Stop()
	}
	for _, km := range kms {
		km.Stop()
	}
}

func disconnected(err error) error {
	te := transportError(err)
	if wfp.Code(te) == wfp.RPCSCallFailed || wfp.Code(te) == wfp.RPCSServerUnavailable {
		return wfp.Errorf(wfp.RPCEDisconnected, "the connection to sadbd was lost: %v", err)
	}
	return te
}

var errClosed = wfp.Errorf(wfp.ErrorInvalidHandle, "the session is closed")

func (s *session) shutdown(err error) {
	s.mu.Lock()
	if s.dead == nil {
		s.dead = err
	}
	s.mu.Unlock()
	s.sendMu.Lock()
	_ = s.stream.CloseSend()
	s.sendMu.Unlock()
	s.cancel()
	<-s.recvDone
	if s.conn != nil {
		s.conn.Close()
	}
}

// roundTrip sends a call and waits for its reply.
func (s *session) roundTrip(ctx context.Context, c *pb.Call, hook func(*pb.Reply)) (*pb.Reply, error) {
	ch := make(chan *pb.Reply, 1)
	s.mu.Lock()
	if s.dead != nil {
		err := s.dead
		s.mu.Unlock()
		return nil, err
	}
	s.nextID++
	c.Id = s.nextID
	s.pending[c.Id] = pendingCall{ch, hook}
	s.mu.Unlock()

	s.sendMu.Lock()
	err := s.stream.Send(&pb.ClientMessage{Call: c})
	s.sendMu.Unlock()
	if err != nil {
		s.mu.Lock()
		delete(s.pending, c.Id)
		dead := s.dead
		s.mu.Unlock()
		if dead != nil {
			return nil, dead
		}
		return nil, disconnected(err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			s.mu.Lock()
			dead := s.dead
			s.mu.Unlock()
			return nil, dead
		}
		return r, nil
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.pending, c.Id)
		s.mu.Unlock()
		return nil, transportError(ctx.Err())
	}
}

// call runs one API call and returns its reply, or the error it carries.
func (s *session) call(c *pb.Call) (*pb.Reply, error) { return s.callHook(c, nil) }

func (s *session) callHook(c *pb.Call, hook func(*pb.Reply)) (*pb.Reply, error) {
	ctx := context.Background()
	if s.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.callTimeout)
		defer cancel()
	}
	r, err := s.roundTrip(ctx, c, hook)
	if err != nil {
		return nil, err
	}
	return r, replyErr(r)
}

func replyErr(r *pb.Reply) error {
	if r.GetStatus() == 0 {
		return nil
	}
	code := wfp.Error(r.GetStatus())
	if r.GetDetail() == "" {
		return code
	}
	return wfp.Errorf(code, "%s", r.GetDetail())
}

func badReply(what string, err error) error {
	return wfp.Errorf(wfp.RPCXBadStubData, "malformed %s from sadbd: %v", what, err)
}

// Session returns the session's parameters as the engine filled them in.
func (s *session) Session() wfp.FwpmSession0 { return s.info }

// FwpmEngineClose0 closes the session and, if Open dialed it, the connection.
func (s *session) FwpmEngineClose0() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	s.closed = true
	dead := s.dead
	s.mu.Unlock()
	var err error
	if dead == nil {
		_, err = s.call(&pb.Call{Op: &pb.Call_Close{Close: &pb.Empty{}}})
	}
	s.shutdown(errClosed)
	s.mu.Lock()
	s.dead = errClosed
	s.mu.Unlock()
	if wfp.Code(err) == wfp.RPCEDisconnected {
		err = nil // the server ended the stream after replying, or already had: the session is closed either way
	}
	return err
}

func (s *session) String() string { return fmt.Sprintf("client session %s", s.info.SessionKey) }
