// Package rpcserver serves the engine over gRPC (api/sadb/v1): one Session
// stream per WFP session, identities from peer credentials or client
// certificates, and status codes carried as wfp.Error values. It translates
// only; every decision is the engine's.
package rpcserver

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/sadb-dev/sadb/api/sadb/v1"
	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/wire"
	"github.com/sadb-dev/sadb/wfp"
)

// MaxPage is the most entries one enumeration reply carries; the client
// asks again for the rest, so callers still see WFP's paging rule.
const MaxPage = 1024

// MaxMessageSize bounds every message in either direction.
const MaxMessageSize = 16 << 20

// maxInflight bounds the calls one session may have running at once.
const maxInflight = 64

// Observer is told about every call (for metrics): the function name, the
// status code and how long the engine took.
type Observer func(function string, code wfp.Error, d time.Duration)

// Options configure a Server.
type Options struct {
	Logger   *slog.Logger // nil: discard
	Observer Observer     // nil: none
}

// Server is the SADB service.
type Server struct {
	pb.UnimplementedSADBServer
	eng *engine.Engine
	log *slog.Logger
	obs Observer

	mu       sync.Mutex // guards sessions
	sessions map[*rpcSession]struct{}
	wg       sync.WaitGroup // running Session streams
}

// New returns a server for eng.
func New(eng *engine.Engine, opts Options) *Server {
	s := &Server{eng: eng, log: opts.Logger, obs: opts.Observer, sessions: map[*rpcSession]struct{}{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Register adds the service to g.
func (s *Server) Register(g *grpc.Server) { pb.RegisterSADBServer(g, s) }

// ServerOptions are the gRPC options sadbd uses with this service.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
	}
}

// Sessions returns the number of open sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// rpcSession is one Session stream.
type rpcSession struct {
	srv    *Server
	stream pb.SADB_SessionServer
	tok    wfp.Token

	out  chan *pb.ServerMessage // to the sender goroutine
	done chan struct{}          // closed when the stream ends

	mu  sync.Mutex // guards api
	api wfp.API    // nil until Open succeeds

	inflight chan struct{} // semaphore
	calls    sync.WaitGroup
}

// Session serves one WFP session.
func (s *Server) Session(stream pb.SADB_SessionServer) error {
	tok, ok := tokenOf(stream.Context())
	if !ok {
		return status.Error(codes.Unauthenticated, "sadbd: the caller is not authenticated")
	}
	rs := &rpcSession{srv: s, stream: stream, tok: tok, out: make(chan *pb.ServerMessage, 256),
		done: make(chan struct{}), inflight: make(chan struct{}, maxInflight)}
	s.mu.Lock()
	s.sessions[rs] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	defer s.wg.Done()

	sendErr := make(chan error, 1)
	go func() { sendErr <- rs.sendLoop() }()

	err := rs.recvLoop()
	rs.calls.Wait()
	rs.closeAPI() // the stream ended: the session ends, as on RPC rundown
	close(rs.done)
	if serr := <-sendErr; err == nil {
		err = serr
	}
	s.mu.Lock()
	delete(s.sessions, rs)
	s.mu.Unlock()
	if errors.Is(err, io.EOF) || errors.Is(err, errSessionClosed) {
		return nil
	}
	return err
}

var errSessionClosed = errors.New("session closed")

func (rs *rpcSession) recvLoop() error {
	ctx := rs.stream.Context()
	for {
		m, err := rs.stream.Recv()
		if err != nil {
			return err
		}
		c := m.GetCall()
		if c == nil {
			rs.reply(&pb.Reply{Status: uint32(wfp.RPCXBadStubData), Detail: "a message carried no call"})
			continue
		}
		switch c.Op.(type) {
		case *pb.Call_Open:
			rs.reply(rs.open(c))
			continue
		case *pb.Call_Close:
			rs.calls.Wait()
			r := &pb.Reply{Id: c.Id}
			if api := rs.takeAPI(); api != nil {
				setErr(r, api.FwpmEngineClose0())
			} else {
				setErr(r, wfp.Errorf(wfp.ErrorInvalidHandle, "no session is open on this stream"))
			}
			rs.reply(r)
			return errSessionClosed
		}
		api := rs.currentAPI()
		if api == nil {
			rs.reply(&pb.Reply{Id: c.Id, Status: uint32(wfp.ErrorInvalidHandle), Detail: "no session is open on this stream; Open first"})
			continue
		}
		select {
		case rs.inflight <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		rs.calls.Add(1)
		go func() {
			defer rs.calls.Done()
			defer func() { <-rs.inflight }()
			rs.dispatch(api, c)
		}()
	}
}

func (rs *rpcSession) sendLoop() error {
	for {
		select {
		case m := <-rs.out:
			if err := rs.stream.Send(m); err != nil {
				return err
			}
		case <-rs.done:
			for { // flush what is queued
				select {
				case m := <-rs.out:
					if err := rs.stream.Send(m); err != nil {
						return err
					}
				default:
					return nil
				}
			}
		}
	}
}

// send queues a message for the client; it gives up when the stream ends.
func (rs *rpcSession) send(m *pb.ServerMessage) bool {
	select {
	case rs.out <- m:
		return true
	case <-rs.done:
		return false
	case <-rs.stream.Context().Done():
		return false
	}
}

func (rs *rpcSession) reply(r *pb.Reply) {
	rs.send(&pb.ServerMessage{Msg: &pb.ServerMessage_Reply{Reply: r}})
}

func (rs *rpcSession) currentAPI() wfp.API {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.api
}

func (rs *rpcSession) takeAPI() wfp.API {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	api := rs.api
	rs.api = nil
	return api
}

func (rs *rpcSession) closeAPI() {
	if api := rs.takeAPI(); api != nil {
		_ = api.FwpmEngineClose0()
	}
}

func (rs *rpcSession) open(c *pb.Call) *pb.Reply {
	r := &pb.Reply{Id: c.Id}
	if rs.currentAPI() != nil {
		r.Status, r.Detail = uint32(wfp.RPCXBadStubData), "a session is already open on this stream"
		return r
	}
	o := c.GetOpen()
	var sp *wfp.FwpmSession0
	if o.GetHasSession() {
		s, err := wire.SessionFromPB(o.Session)
		if err != nil {
			setErr(r, err)
			return r
		}
		sp = &s
	}
	start := time.Now()
	api, err := rs.srv.eng.FwpmEngineOpen0(rs.tok, sp)
	rs.srv.observe("FwpmEngineOpen0", err, start)
	if err != nil {
		setErr(r, err)
		return r
	}
	rs.mu.Lock()
	rs.api = api
	rs.mu.Unlock()
	info := api.Session()
	r.Result = &pb.Reply_Session{Session: wire.SessionPB(&info)}
	rs.srv.log.Debug("session opened", "caller", rs.tok.User, "session", info.SessionKey)
	return r
}

func (s *Server) observe(fn string, err error, start time.Time) {
	if s.obs != nil {
		s.obs(fn, wfp.Code(err), time.Since(start))
	}
}

// setErr fills a reply's status from err.
func setErr(r *pb.Reply, err error) {
	if err == nil {
		return
	}
	r.Status = uint32(wfp.Code(err))
	var d *wfp.DetailedError
	if errors.As(err, &d) {
		r.Detail = d.Detail
	} else if !errors.As(err, new(wfp.Error)) {
		r.Detail = err.Error()
	}
	r.Result = nil
}

func badStub(err error) error { return wfp.Errorf(wfp.RPCXBadStubData, "%v", err) }

// Wait blocks until every Session stream has ended and its calls returned.
func (s *Server) Wait() { s.wg.Wait() }
