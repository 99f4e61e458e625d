package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// grpcFloor measures what gRPC alone can carry on this machine in the shape
// of the throughput measurement: -clients streams, each sending a message
// and waiting for the reply before the next, to a server that echoes it:
// no engine, no store, no protobuf. It bounds the RPC rate from above, as
// the fsync probe bounds the durable rate: a plumbing sequence is 4 calls,
// so the SA contexts per second figure is the round trips divided by 4.
// It runs once with a connection per stream (as the clients of the
// throughput measurement do by default) and once with all streams on one
// connection (-shared-conn).
func (b *bench) grpcFloor() error {
	for _, shared := range []bool{false, true} {
		r, err := b.echo(shared)
		if err != nil {
			return err
		}
		label := fmt.Sprintf("%d connections", b.o.clients)
		if shared {
			label = "1 connection"
		}
		perSec := float64(r.trips) / r.elapsed.Seconds()
		b.printf("grpc floor stream echo, no engine, no store, %d streams on %s: %.0f round trips/s (%.0fµs per round trip on each stream), at most %.0f SA contexts/s at 4 calls each; CPU per round trip %.1fµs (both ends) [load %s]\n",
			b.o.clients, label, perSec, float64(b.o.clients)/max(perSec, 1)*1e6, perSec/4, float64(r.cpu.Nanoseconds())/1e3/float64(max(r.trips, 1)), loadavg())
	}
	return nil
}

type echoResult struct {
	trips   int64
	elapsed time.Duration
	cpu     time.Duration
}

// rawCodec passes messages through as bytes: the floor leaves out
// encoding, which the real calls pay on top.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	p := v.(*[]byte)
	*p = append((*p)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "sadbd-bench-raw" }

func echoHandler(_ any, ss grpc.ServerStream) error {
	var msg []byte
	for {
		if err := ss.RecvMsg(&msg); err != nil {
			return nil // the client closed the stream
		}
		if err := ss.SendMsg(&msg); err != nil {
			return err
		}
	}
}

var echoDesc = grpc.StreamDesc{StreamName: "Echo", Handler: echoHandler, ServerStreams: true, ClientStreams: true}

func (b *bench) echo(shared bool) (echoResult, error) {
	sock := filepath.Join(b.o.dir, "echo.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		return echoResult{}, err
	}
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}))
	srv.RegisterService(&grpc.ServiceDesc{ServiceName: "sadbdbench.Echo", HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{echoDesc}}, struct{}{})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	defer func() {
		srv.Stop()
		<-served
	}()

	dial := func() (*grpc.ClientConn, error) {
		return grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	}
	var conns []*grpc.ClientConn
	defer func() {
		for _, cc := range conns {
			cc.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streams := make([]grpc.ClientStream, b.o.clients)
	for i := range streams {
		if i == 0 || !shared {
			cc, err := dial()
			if err != nil {
				return echoResult{}, err
			}
			conns = append(conns, cc)
		}
		st, err := conns[len(conns)-1].NewStream(ctx, &echoDesc, "/sadbdbench.Echo/Echo")
		if err != nil {
			return echoResult{}, err
		}
		streams[i] = st
	}

	var trips atomic.Int64
	var stop atomic.Bool
	errs := make(chan error, len(streams))
	var wg sync.WaitGroup
	for _, st := range streams {
		wg.Go(func() {
			msg := make([]byte, 200) // about a plumbing call's size
			var in []byte
			for !stop.Load() {
				if err := st.SendMsg(&msg); err != nil {
					errs <- err
					return
				}
				if err := st.RecvMsg(&in); err != nil {
					errs <- err
					return
				}
				if len(in) != len(msg) {
					errs <- errors.New("echo: reply of another size")
					return
				}
				trips.Add(1)
			}
			errs <- st.CloseSend()
		})
	}
	time.Sleep(b.o.warmup)
	n0, c0, t0 := trips.Load(), processCPU(), time.Now()
	time.Sleep(b.o.duration)
	n1, c1, t1 := trips.Load(), processCPU(), time.Now()
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return echoResult{}, fmt.Errorf("gRPC echo: %w", err)
		}
	}
	return echoResult{trips: n1 - n0, elapsed: t1.Sub(t0), cpu: c1 - c0}, nil
}
