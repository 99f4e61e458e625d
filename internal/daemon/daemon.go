// Package daemon is sadbd: the engine with its store, served over gRPC on a
// Unix socket (identities from peer credentials) and optionally TCP with
// mutual TLS, with health checking, Prometheus metrics and an orderly
// shutdown. cmd/sadbd only parses flags and signals.
package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/internal/metrics"
	"github.com/sadb-dev/sadb/internal/peercred"
	"github.com/sadb-dev/sadb/internal/rpcserver"
	"github.com/sadb-dev/sadb/internal/storage/bolt"
	"github.com/sadb-dev/sadb/wfp"
)

// Daemon is a running sadbd.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	store   *bolt.Store
	eng     *engine.Engine
	dp      datapath.Backend // nil without a data path
	rpc     *rpcserver.Server
	health  *health.Server
	servers []*grpc.Server
	metrics *http.Server
	socket  bool // the Unix socket is ours to remove

	// Ready is closed once every listener accepts calls.
	Ready chan struct{}
}

// Run starts sadbd and serves until ctx is done, then shuts down: new
// sessions are refused, existing ones get cfg.ShutdownGrace to finish, then
// end (their transactions abort), in-flight calls complete, and the store is
// closed cleanly.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	d, err := Start(cfg, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return d.Shutdown()
}

// Start opens the store, loads the engine and starts listening.
func Start(cfg Config, log *slog.Logger) (*Daemon, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, Ready: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			d.stop()
		}
	}()

	eo := engine.Options{Logger: log, EngineSD: d.engineSD(), SADBSD: d.sadbSD()}
	if d.dp, err = cfg.Datapath.open(log); err != nil {
		return nil, err
	}
	if d.dp != nil {
		eo.Datapath = d.dp
	}
	if !cfg.Memory {
		if err := os.MkdirAll(filepath.Dir(cfg.Store), 0o700); err != nil {
			return nil, fmt.Errorf("sadbd: store directory: %w", err)
		}
		start := time.Now()
		if d.store, err = bolt.Open(cfg.Store, bolt.Options{}); err != nil {
			return nil, err
		}
		eo.Store = d.store
		log.Info("store opened", "path", cfg.Store, "took", time.Since(start))
	} else {
		log.Warn("running without a store: nothing survives a restart")
	}
	start := time.Now()
	if d.eng, err = engine.New(eo); err != nil {
		return nil, err
	}
	log.Info("engine ready", "took", time.Since(start))

	var m *metrics.Metrics
	if cfg.Metrics != "" {
		dp, _ := d.dp.(metrics.DatapathStats) // nil without a data path that counts
		m = metrics.New(d.eng, d.store, dp)
	}
	ro := rpcserver.Options{Logger: log}
	if m != nil {
		ro.Observer = m.Observe
	}
	d.rpc = rpcserver.New(d.eng, ro)
	d.health = health.NewServer()

	ul, err := d.listenUnix()
	if err != nil {
		return nil, err
	}
	d.serve(ul, peercred.Credentials())
	log.Info("listening", "socket", cfg.Socket)

	if cfg.Listen != "" {
		tc, err := d.tlsConfig()
		if err != nil {
			return nil, err
		}
		tl, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("sadbd: %w", err)
		}
		d.serve(tl, credentials.NewTLS(tc))
		log.Info("listening", "tcp", tl.Addr().String(), "tls", "mutual")
	}
	if m != nil {
		ml, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			return nil, fmt.Errorf("sadbd: metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", m.Handler())
		if cfg.Pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		d.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go d.metrics.Serve(ml)
		log.Info("metrics", "address", ml.Addr().String())
	}
	d.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	d.health.SetServingStatus("sadb.v1.SADB", healthpb.HealthCheckResponse_SERVING)
	close(d.Ready)
	ok = true
	return d, nil
}

func (d *Daemon) serve(l net.Listener, creds credentials.TransportCredentials) {
	opts := append(rpcserver.ServerOptions(), grpc.Creds(creds),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}))
	g := grpc.NewServer(opts...)
	d.rpc.Register(g)
	healthpb.RegisterHealthServer(g, d.health)
	d.servers = append(d.servers, g)
	go func() {
		if err := g.Serve(l); err != nil {
			d.log.Error("serving stopped", "err", err)
		}
	}()
}

// listenUnix creates the socket, replacing a stale one but never one that a
// running daemon still answers on.
func (d *Daemon) listenUnix() (net.Listener, error) {
	path := d.cfg.Socket
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("sadbd: socket directory: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("sadbd: another daemon is serving on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("sadbd: removing stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("sadbd: %w", err)
	}
	d.socket = true
	if err := os.Chmod(path, d.cfg.SocketMode); err != nil {
		l.Close()
		return nil, fmt.Errorf("sadbd: %w", err)
	}
	return l, nil
}

func (d *Daemon) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(d.cfg.TLSCert, d.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("sadbd: TLS certificate: %w", err)
	}
	caPEM, err := os.ReadFile(d.cfg.TLSClientCA)
	if err != nil {
		return nil, fmt.Errorf("sadbd: TLS client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("sadbd: TLS client CA %s holds no certificate", d.cfg.TLSClientCA)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}, nil
}

// admins are the principals given GENERIC_ALL in a new store.
func (d *Daemon) admins() []wfp.SID {
	out := []wfp.SID{wfp.UserSID(0)}
	if uid := uint32(os.Getuid()); uid != 0 {
		out = append(out, wfp.UserSID(uid))
	}
	return append(out, d.cfg.Admins...)
}

func (d *Daemon) engineSD() *wfp.SecurityDescriptor {
	sd := d.sadbSD()
	*sd.DACL = append(*sd.DACL, wfp.ACE{Type: wfp.AccessAllowed, Mask: wfp.ActrlOpen | wfp.ActrlClassify, SID: wfp.Everyone})
	return sd
}

func (d *Daemon) sadbSD() *wfp.SecurityDescriptor {
	acl := wfp.ACL{}
	for _, a := range d.admins() {
		acl = append(acl, wfp.ACE{Type: wfp.AccessAllowed, Mask: wfp.GenericAll, SID: a})
	}
	return &wfp.SecurityDescriptor{Owner: wfp.UserSID(0), Group: wfp.GroupSID(0), DACL: &acl}
}

// Engine returns the daemon's engine (for tests and benchmarks).
func (d *Daemon) Engine() *engine.Engine { return d.eng }

// Shutdown stops the daemon as Run does when its context ends.
func (d *Daemon) Shutdown() error {
	d.log.Info("shutting down", "grace", time.Duration(d.cfg.ShutdownGrace))
	d.health.Shutdown()
	d.rpc.Refuse() // no new sessions; open ones may finish their work
	var wg sync.WaitGroup
	for _, g := range d.servers {
		wg.Add(1)
		go func() { defer wg.Done(); g.GracefulStop() }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Duration(d.cfg.ShutdownGrace)):
		// End the sessions still open: each finishes its calls in flight
		// and delivers their replies, then closes (aborting an open
		// transaction); their streams end, and GracefulStop with them.
		d.log.Info("ending the remaining sessions", "sessions", d.rpc.Sessions())
		d.rpc.EndSessions()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			d.log.Warn("sessions did not end; closing their connections")
			for _, g := range d.servers {
				g.Stop()
			}
			<-done
		}
	}
	d.rpc.Wait() // every session has closed and its calls have returned
	return d.stop()
}

// stop releases everything Start acquired.
func (d *Daemon) stop() error {
	var errs []error
	if d.metrics != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		errs = append(errs, d.metrics.Shutdown(ctx))
		cancel()
	}
	for _, g := range d.servers {
		g.Stop()
	}
	if d.eng != nil {
		errs = append(errs, d.eng.Close())
	}
	if d.dp != nil {
		errs = append(errs, d.dp.Close())
	}
	if d.store != nil {
		errs = append(errs, d.store.Close())
		d.log.Info("store closed", "path", d.cfg.Store)
	}
	if d.socket {
		os.Remove(d.cfg.Socket)
	}
	return errors.Join(errs...)
}
