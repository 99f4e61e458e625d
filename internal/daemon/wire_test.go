package daemon_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/sadb-dev/sadb/api/sadb/v1"
	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/peercred"
	"github.com/sadb-dev/sadb/internal/rpcserver"
	"github.com/sadb-dev/sadb/internal/wire"
	"github.com/sadb-dev/sadb/wfp"
)

// rawStream is a Session stream driven message by message, as a client
// that does not use package client would.
type rawStream struct {
	t      testing.TB
	stream pb.SADB_SessionClient
	cancel context.CancelFunc
	nextID uint64
}

func newRawStream(t testing.TB, conn *grpc.ClientConn) *rawStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := pb.NewSADBClient(conn).Session(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return &rawStream{t: t, stream: stream, cancel: cancel}
}

// call sends c (with the next id unless it has one) and returns the reply.
func (r *rawStream) call(c *pb.Call) (*pb.Reply, error) {
	if c != nil && c.Id == 0 {
		r.nextID++
		c.Id = r.nextID
	}
	return r.send(&pb.ClientMessage{Call: c})
}

// send sends m and waits for the next message, which must be a reply.
func (r *rawStream) send(m *pb.ClientMessage) (*pb.Reply, error) {
	r.t.Helper()
	if err := r.stream.Send(m); err != nil {
		// A failed Send reports the stream's status through Recv.
		if _, rerr := r.stream.Recv(); rerr != nil {
			return nil, rerr
		}
		return nil, err
	}
	type res struct {
		m   *pb.ServerMessage
		err error
	}
	ch := make(chan res, 1)
	go func() {
		m, err := r.stream.Recv()
		ch <- res{m, err}
	}()
	select {
	case x := <-ch:
		if x.err != nil {
			return nil, x.err
		}
		if x.m.GetReply() == nil {
			r.t.Fatalf("got %v, want a reply", x.m)
		}
		return x.m.GetReply(), nil
	case <-time.After(20 * time.Second):
		r.cancel()
		r.t.Fatal("no reply within 20s")
		return nil, nil
	}
}

func (r *rawStream) open() {
	r.t.Helper()
	rep, err := r.call(&pb.Call{Op: &pb.Call_Open{Open: &pb.Open{}}})
	if err != nil || rep.Status != 0 {
		r.t.Fatalf("Open: %v %v", rep, err)
	}
}

// Malformed and hostile input on the socket gets a clear error (a reply
// with RPC_X_BAD_STUB_DATA or a WFP code, or a gRPC status that ends the
// stream) and leaves sadbd serving: after each case the health check says
// SERVING and a normal session plumbs an SA context.
func TestBadInputOverTheWire(t *testing.T) {
	cfg := newConfig(t)
	startInProc(t, cfg, discard())
	target := "unix://" + cfg.Socket
	// The connection carries messages up to 64 MiB, beyond sadbd's limit,
	// so that an oversized one reaches it.
	conn, err := grpc.NewClient("passthrough:///sadbd",
		grpc.WithTransportCredentials(peercred.Credentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", cfg.Socket)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20), grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	admin := openAPI(t, target, 0)
	pl := addFilters(t, admin)
	goodTraffic := func() *pb.Traffic { tr := pl.outbound(); return wire.TrafficPB(&tr) }

	// Enough contexts that one enumeration page cannot hold them.
	var wg sync.WaitGroup
	const contexts = rpcserver.MaxPage + 100
	for w := range 8 {
		api := openAPI(t, target, 0)
		wg.Go(func() {
			for i := w; i < contexts; i += 8 {
				tr := pl.outbound()
				if _, _, err := api.IPsecSaContextCreate1(&tr, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	reply := func(want wfp.Error) func(*testing.T, *pb.Reply, error) {
		return func(t *testing.T, r *pb.Reply, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("the stream failed: %v; want a reply with %v", err, want.Name())
			}
			if got := wfp.Error(r.Status); got != want {
				t.Fatalf("reply %v (%s), want %v", got.Name(), r.Detail, want.Name())
			}
			if r.Detail == "" {
				t.Errorf("reply %v carries no detail", want.Name())
			}
			t.Logf("%v: %s", want.Name(), r.Detail)
		}
	}
	streamEnds := func(want codes.Code) func(*testing.T, *pb.Reply, error) {
		return func(t *testing.T, r *pb.Reply, err error) {
			t.Helper()
			if err == nil {
				t.Fatalf("got reply %v (%s), want the stream to end with %v", wfp.Error(r.Status).Name(), r.Detail, want)
			}
			if status.Code(err) != want {
				t.Fatalf("the stream ended with %v, want %v", err, want)
			}
			t.Logf("stream ended: %v", err)
		}
	}
	threeSAs := conformance.Bundle(wfp.IPVersionV4, 0,
		conformance.GCMSA(0x300, conformance.TestKey(20, 1)), conformance.AHSA(0x300, conformance.TestKey(20, 2)), conformance.AHSA(0x300, conformance.TestKey(20, 3)))

	for _, tc := range []struct {
		name string
		open bool // Open the session first
		msg  func(s *rawStream) *pb.ClientMessage
		want func(*testing.T, *pb.Reply, error)
	}{
		{"MessageWithoutCall", false,
			func(*rawStream) *pb.ClientMessage { return &pb.ClientMessage{} },
			reply(wfp.RPCXBadStubData)},
		{"FirstCallNotOpen", false,
			func(*rawStream) *pb.ClientMessage {
				return &pb.ClientMessage{Call: &pb.Call{Id: 1, Op: &pb.Call_SaContextGetById{SaContextGetById: &pb.Id{Id: 1}}}}
			},
			reply(wfp.ErrorInvalidHandle)},
		{"SecondOpen", true,
			func(*rawStream) *pb.ClientMessage {
				return &pb.ClientMessage{Call: &pb.Call{Id: 99, Op: &pb.Call_Open{Open: &pb.Open{}}}}
			},
			reply(wfp.RPCXBadStubData)},
		{"CallWithoutOperation", true,
			func(*rawStream) *pb.ClientMessage { return &pb.ClientMessage{Call: &pb.Call{Id: 99}} },
			reply(wfp.RPCXBadStubData)},
		{"FiveByteIPv6Address", true,
			func(*rawStream) *pb.ClientMessage {
				tr := goodTraffic()
				tr.IpVersion, tr.LocalV4Address, tr.RemoteV4Address = uint32(wfp.IPVersionV6), 0, 0
				tr.LocalV6Address, tr.RemoteV6Address = []byte{0x20, 0x01, 0x0d, 0xb8, 1}, conformance.PeerB6.AsSlice()
				return &pb.ClientMessage{Call: &pb.Call{Id: 99, Op: &pb.Call_SaContextCreate{SaContextCreate: &pb.SAContextCreate{OutboundTraffic: tr}}}}
			},
			reply(wfp.RPCXBadStubData)},
		{"TrafficTypeOutOfRange", true,
			func(*rawStream) *pb.ClientMessage {
				tr := goodTraffic()
				tr.TrafficType = 1 << 20
				return &pb.ClientMessage{Call: &pb.Call{Id: 99, Op: &pb.Call_SaContextCreate{SaContextCreate: &pb.SAContextCreate{OutboundTraffic: tr}}}}
			},
			reply(wfp.ErrInvalidEnumerator)},
		{"IPVersionOutOfRange", true,
			func(*rawStream) *pb.ClientMessage {
				tr := goodTraffic()
				tr.IpVersion = 7
				return &pb.ClientMessage{Call: &pb.Call{Id: 99, Op: &pb.Call_SaContextCreate{SaContextCreate: &pb.SAContextCreate{OutboundTraffic: tr}}}}
			},
			reply(wfp.ErrInvalidEnumerator)},
		{"BundleOf100SAs", true,
			func(*rawStream) *pb.ClientMessage {
				b := wire.BundlePB(conformance.GCMBundle(wfp.IPVersionV4, 0x300, conformance.TestKey(20, 1)))
				for len(b.SaList) < 100 {
					b.SaList = append(b.SaList, b.SaList[0])
				}
				return &pb.ClientMessage{Call: &pb.Call{Id: 99, Op: &pb.Call_SaContextAddInbound{SaContextAddInbound: &pb.SAContextAddBundle{Id: 1, Bundle: b}}}}
			},
			reply(wfp.RPCXBadStubData)},
		{"BundleOf3SAs", true,
			func(*rawStream) *pb.ClientMessage {
				return &pb.ClientMessage{Call: &pb.Call{Id: 99, Op: &pb.Call_SaContextAddInbound{SaContextAddInbound: &pb.SAContextAddBundle{Id: 1, Bundle: wire.BundlePB(threeSAs)}}}}
			},
			reply(wfp.ErrOutOfBounds)},
		{"UnknownEnumHandle", true,
			func(*rawStream) *pb.ClientMessage {
				return &pb.ClientMessage{Call: &pb.Call{Id: 99, Op: &pb.Call_SaContextEnum{SaContextEnum: &pb.EnumPage{Handle: 0xdead, NumEntriesRequested: 10}}}}
			},
			reply(wfp.ErrorInvalidHandle)},
		{"OverSizeLimit", true,
			func(*rawStream) *pb.ClientMessage {
				f := wire.FilterPB(conformance.TransportFilter(wfp.DirectionOutbound, conformance.PeerA4, conformance.PeerB4))
				f.DisplayData.Name = strings.Repeat("x", rpcserver.MaxMessageSize)
				return &pb.ClientMessage{Call: &pb.Call{Id: 99, Op: &pb.Call_FilterAdd{FilterAdd: &pb.FilterAdd{Filter: f}}}}
			},
			streamEnds(codes.ResourceExhausted)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRawStream(t, conn)
			if tc.open {
				s.open()
			}
			r, err := s.send(tc.msg(s))
			tc.want(t, r, err)
			if err == nil {
				// The stream still works after the error.
				rep, err := s.call(&pb.Call{Op: &pb.Call_GetStatistics{GetStatistics: &pb.Empty{}}})
				want := wfp.Error(0)
				if !tc.open {
					want = wfp.ErrorInvalidHandle
				}
				if err != nil || wfp.Error(rep.Status) != want {
					t.Errorf("the next call on the stream: %v %v, want %v", rep, err, want.Name())
				}
			}
			stillServing(t, conn, target, pl)
		})
	}

	t.Run("HugeNumEntriesRequested", func(t *testing.T) {
		want := len(enumContexts(t, admin))
		if want <= rpcserver.MaxPage {
			t.Fatalf("%d contexts fit in one page", want)
		}
		s := newRawStream(t, conn)
		s.open()
		rep, err := s.call(&pb.Call{Op: &pb.Call_SaContextCreateEnumHandle{SaContextCreateEnumHandle: &pb.SAContextEnumTemplate{}}})
		if err != nil || rep.Status != 0 {
			t.Fatalf("IPsecSaContextCreateEnumHandle0: %v %v", rep, err)
		}
		h := rep.GetHandle().GetHandle()
		total := 0
		for page := 0; ; page++ {
			rep, err = s.call(&pb.Call{Op: &pb.Call_SaContextEnum{SaContextEnum: &pb.EnumPage{Handle: h, NumEntriesRequested: ^uint32(0)}}})
			if err != nil || rep.Status != 0 {
				t.Fatalf("IPsecSaContextEnum1: %v %v", rep, err)
			}
			n := len(rep.GetSaContexts().GetSaContexts())
			if page == 0 && n != rpcserver.MaxPage {
				t.Errorf("the first page has %d entries, want the server's page limit %d", n, rpcserver.MaxPage)
			}
			total += n
			if n == 0 {
				break
			}
		}
		if total != want {
			t.Errorf("enumerated %d contexts, want %d", total, want)
		}
		stillServing(t, conn, target, pl)
	})

	t.Run("GarbageOnTheSocket", func(t *testing.T) {
		for _, junk := range [][]byte{
			[]byte("GET / HTTP/1.1\r\nHost: sadbd\r\n\r\n"),
			append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), randomBytes(t, 4096)...),
			randomBytes(t, 64<<10),
		} {
			c, err := net.Dial("unix", cfg.Socket)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := c.Write(junk); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "broken pipe") && !strings.Contains(err.Error(), "reset by peer") {
				t.Fatal(err)
			}
			// sadbd hangs up (after at most an HTTP/2 GOAWAY).
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						t.Fatal("sadbd kept a connection that sent garbage open for 20s")
					}
					break
				}
			}
			c.Close()
			stillServing(t, conn, target, pl)
		}
	})
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// stillServing checks that the daemon answers health checks with SERVING
// and plumbs an SA context for a new session.
func stillServing(t testing.TB, conn *grpc.ClientConn, target string, pl plumbing) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, svc := range []string{"", "sadb.v1.SADB"} {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health of %q: %v, %v", svc, resp, err)
		}
	}
	api, err := client.Open(ctx, target, nil)
	if err != nil {
		t.Fatalf("a new session: %v", err)
	}
	defer api.FwpmEngineClose0()
	if _, err := pl.plumb(api, 7, 0); err != nil {
		t.Fatalf("plumbing on a new session: %v", err)
	}
}
