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
	"sync/atomic"
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

	refusing atomic.Bool   // new sessions are refused
	ending   chan struct{} // closed by EndSessions
	endOnce  sync.Once
}

// New returns a server for eng.
func New(eng *engine.Engine, opts Options) *Server {
	s := &Server{eng: eng, log: opts.Logger, obs: opts.Observer, sessions: map[*rpcSession]struct{}{}, ending: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Register adds the service to g.
func (s *Server) Register(g *grpc.Server) { pb.RegisterSADBServer(g, s) }

// Flow-control windows. They are static: with gRPC's dynamic windows each
// side sends a bandwidth-estimation PING on nearly every message it
// receives when calls are small and answered one at a time, as they are
// here, which doubles the frames and the write system calls. The sizes
// pass a whole enumeration page without waiting for a window update, and
// stay below the 16 MiB that dynamic windows may grow to.
const (
	StreamWindow = 1 << 20
	ConnWindow   = 4 << 20
)

// ServerOptions are the gRPC options sadbd uses with this service.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.StaticStreamWindowSize(StreamWindow),
		grpc.StaticConnWindowSize(ConnWindow),
	}
}

// Sessions returns the number of open sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// rpcSession is one Session stream.
//
// Its goroutines: the handler's runs recvLoop, which answers Open and Close
// itself and hands every other call to a worker. Workers are started on
// demand, up to maxInflight, and stay for the life of the stream, so that a
// client making one call at a time is served by one goroutine whose stack
// has already grown, rather than by a new goroutine per call. Messages to
// the client (replies from the workers and recvLoop, changes and key
// notifications from the engine's goroutines) are sent directly by the
// goroutine that has them, one at a time.
type rpcSession struct {
	srv    *Server
	stream pb.SADB_SessionServer
	tok    wfp.Token

	out struct {
		mu sync.Mutex // guards the fields below and stream.Send
		// closed is set when the handler is about to return: nothing may
		// be sent after that.
		closed bool // +checklocks:mu
		// err is the first failure to send; later sends give up at once.
		err error // +checklocks:mu
	}

	mu  sync.Mutex // guards api
	api wfp.API    // +checklocks:mu; nil until Open succeeds

	// work hands a call to an idle worker; recvLoop closes it when the
	// stream ends, which stops the workers.
	work    chan job
	workers int            // workers started; used by recvLoop only
	calls   sync.WaitGroup // calls handed to workers and not yet answered
	running sync.WaitGroup // workers that have not returned
}

// job is a call for a worker, with the session it runs on.
type job struct {
	api wfp.API
	c   *pb.Call
}

// Session serves one WFP session.
func (s *Server) Session(stream pb.SADB_SessionServer) error {
	tok, ok := tokenOf(stream.Context())
	if !ok {
		return status.Error(codes.Unauthenticated, "sadbd: the caller is not authenticated")
	}
	if s.refusing.Load() {
		return status.Error(codes.Unavailable, "sadbd is shutting down")
	}
	rs := &rpcSession{srv: s, stream: stream, tok: tok, work: make(chan job)}
	s.mu.Lock()
	s.sessions[rs] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	defer s.wg.Done()

	err := rs.recvLoop()
	close(rs.work)
	rs.calls.Wait()
	rs.closeAPI() // the stream ended: the session ends, as on RPC rundown
	rs.running.Wait()
	rs.out.mu.Lock()
	rs.out.closed = true
	if err == nil {
		err = rs.out.err
	}
	rs.out.mu.Unlock()
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
	// Receive on a goroutine of its own, so that the loop can also watch for
	// the server ending sessions (EndSessions): a blocked Recv cannot be
	// interrupted otherwise. It ends when the handler returns and gRPC
	// cancels the stream.
	type received struct {
		m   *pb.ClientMessage
		err error
	}
	in := make(chan received)
	go func() {
		for {
			m, err := rs.stream.Recv()
			select {
			case in <- received{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		var m *pb.ClientMessage
		select {
		case r := <-in:
			if r.err != nil {
				return r.err
			}
			m = r.m
		case <-rs.srv.ending:
			return errServerEnding
		case <-ctx.Done():
			return ctx.Err()
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
		rs.calls.Add(1)
		j := job{api: api, c: c}
		select {
		case rs.work <- j: // an idle worker took it
			continue
		default:
		}
		if rs.workers < maxInflight {
			rs.workers++
			rs.running.Add(1)
			go rs.worker(j)
			continue
		}
		select { // every worker is busy: wait for one
		case rs.work <- j:
		case <-ctx.Done():
			rs.calls.Done()
			return ctx.Err()
		}
	}
}

// errServerEnding ends a session's stream when the server ends sessions.
var errServerEnding = status.Error(codes.Unavailable, "sadbd is shutting down: the session has ended")

// Refuse makes the server refuse new sessions; open ones go on.
func (s *Server) Refuse() { s.refusing.Store(true) }

// EndSessions ends every open session as sadbd stops: each stops taking
// calls, the calls in flight finish and their replies are sent, then the
// session closes (its transaction, if any, aborts) and its stream ends.
// New sessions are refused. Wait returns once all have ended.
func (s *Server) EndSessions() {
	s.refusing.Store(true)
	s.endOnce.Do(func() { close(s.ending) })
}

// worker runs j, then every call handed to it, until the stream ends.
func (rs *rpcSession) worker(j job) {
	defer rs.running.Done()
	for ok := true; ok; j, ok = <-rs.work {
		rs.dispatch(j.api, j.c)
		rs.calls.Done()
	}
}

// send sends a message to the client. It reports false, without waiting,
// once the stream has ended or a send has failed.
func (rs *rpcSession) send(m *pb.ServerMessage) bool {
	rs.out.mu.Lock()
	defer rs.out.mu.Unlock()
	if rs.out.closed || rs.out.err != nil {
		return false
	}
	if err := rs.stream.Send(m); err != nil {
		rs.out.err = err
		return false
	}
	return true
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
