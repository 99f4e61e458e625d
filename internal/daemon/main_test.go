package daemon_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/daemon"
	"github.com/sadb-dev/sadb/internal/daemon/daemontest"
	"github.com/sadb-dev/sadb/wfp"
)

// helperEnv names the environment variable that turns the test binary into
// a helper process (see helpers), with the helper's name as its value.
const helperEnv = "SADB_DAEMON_TEST_HELPER"

// helpers are the modes the test binary can be re-executed in.
var helpers = map[string]func() int{
	"acl-client": aclClient,
}

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		h, ok := helpers[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
			os.Exit(2)
		}
		os.Exit(h())
	}
	goleak.VerifyTestMain(m,
		// gRPC keeps a process-wide resolver and balancer goroutine alive.
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.Cleanup(func(code int) {
			if built.dir != "" {
				os.RemoveAll(built.dir)
			}
			os.Exit(code)
		}))
}

// built is the sadbd binary, compiled once per test binary by
// sadbdBinary and removed by TestMain.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// sadbdBinary returns the path of cmd/sadbd built for this test run.
func sadbdBinary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "sadbd-bin-"); built.err != nil {
			return
		}
		built.bin, built.err = daemontest.Build(built.dir)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// requireRoot skips a test that needs root, except in CI (CI=true), where
// it fails instead: CI runs as root, so a skip there would hide a test that
// never ran.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root, and CI runs as root")
	}
	t.Skip("needs root")
}

// discard is a logger for daemons whose log no test reads.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newConfig returns a configuration with its store and socket in a new
// temporary directory and a short grace period.
func newConfig(t testing.TB) daemon.Config {
	t.Helper()
	dir := t.TempDir()
	return daemon.Config{
		Store:         filepath.Join(dir, "sadb.db"),
		Socket:        filepath.Join(dir, "sadbd.sock"),
		ShutdownGrace: daemon.Duration(200 * time.Millisecond),
	}
}

// inProc is a daemon started in the test process with daemon.Start.
type inProc struct {
	*daemon.Daemon
	once sync.Once
	err  error
}

// startInProc starts a daemon in this process; it is shut down at the end
// of the test unless the test shut it down already.
func startInProc(t testing.TB, cfg daemon.Config, log *slog.Logger) *inProc {
	t.Helper()
	d, err := daemon.Start(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	p := &inProc{Daemon: d}
	t.Cleanup(func() { p.Shutdown() })
	return p
}

// Shutdown shuts the daemon down once; later calls return the first result.
func (p *inProc) Shutdown() error {
	p.once.Do(func() { p.err = p.Daemon.Shutdown() })
	return p.err
}

// openAPI opens a session on target, closed at the end of the test.
func openAPI(t testing.TB, target string, flags uint32, opts ...client.Option) wfp.API {
	t.Helper()
	api, err := client.Open(context.Background(), target, &wfp.FwpmSession0{Flags: flags}, opts...)
	if err != nil {
		t.Fatalf("opening a session on %s: %v", target, err)
	}
	t.Cleanup(func() { api.FwpmEngineClose0() })
	return api
}

// isRPC reports whether err carries one of the RPC status codes the client
// returns when the call could not be made (as opposed to a code from the
// engine).
func isRPC(err error) bool {
	return err != nil && strings.HasPrefix(wfp.Code(err).Name(), "RPC_")
}

// plumbing holds what a session needs to plumb transport-mode SA contexts
// between the suite's two IPv4 peers.
type plumbing struct {
	outFilter, inFilter uint64
}

// addFilters adds the transport filters of the Manual SA scenario.
func addFilters(t testing.TB, api wfp.API) plumbing {
	t.Helper()
	out, in, err := conformance.TransportFilters(api, conformance.PeerA4, conformance.PeerB4)
	if err != nil {
		t.Fatalf("adding the transport filters: %v", err)
	}
	return plumbing{outFilter: out, inFilter: in}
}

func (p plumbing) outbound() wfp.IPsecTraffic1 {
	return conformance.TransportTraffic(conformance.PeerA4, conformance.PeerB4, p.outFilter)
}

func (p plumbing) getSPI() *wfp.IPsecGetSPI1 {
	return conformance.GetSPI(conformance.TransportTraffic(conformance.PeerA4, conformance.PeerB4, p.inFilter))
}

// plumbed is the outcome of a full plumbing sequence.
type plumbed struct {
	id            uint64
	spi, outSPI   uint32
	inKey, outKey wfp.Key
}

// plumb runs Create, GetSpi, AddInbound and AddOutbound, with keys derived
// from seed.
func (p plumbing) plumb(api wfp.API, seed byte, lifetime uint32) (plumbed, error) {
	tr := p.outbound()
	id, _, err := api.IPsecSaContextCreate1(&tr, nil)
	if err != nil {
		return plumbed{}, fmt.Errorf("IPsecSaContextCreate1: %w", err)
	}
	r := plumbed{id: id, outSPI: 0x5000 + uint32(seed), inKey: conformance.TestKey(20, seed), outKey: conformance.TestKey(20, ^seed)}
	if r.spi, err = api.IPsecSaContextGetSpi1(id, p.getSPI()); err != nil {
		return r, fmt.Errorf("IPsecSaContextGetSpi1: %w", err)
	}
	in := conformance.GCMBundle(wfp.IPVersionV4, r.spi, r.inKey)
	in.Lifetime.LifetimeSeconds = lifetime
	if err := api.IPsecSaContextAddInbound1(id, in); err != nil {
		return r, fmt.Errorf("IPsecSaContextAddInbound1: %w", err)
	}
	out := conformance.GCMBundle(wfp.IPVersionV4, r.outSPI, r.outKey)
	out.Lifetime.LifetimeSeconds = lifetime
	if err := api.IPsecSaContextAddOutbound1(id, out); err != nil {
		return r, fmt.Errorf("IPsecSaContextAddOutbound1: %w", err)
	}
	return r, nil
}

// mustPlumb is plumb for a test that cannot go on without the context.
func (p plumbing) mustPlumb(t testing.TB, api wfp.API, seed byte) plumbed {
	t.Helper()
	r, err := p.plumb(api, seed, 0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// bundleKey is the cipher key of a one-SA GCM bundle ("" if absent).
func bundleKey(d *wfp.IPsecSADetails1) string {
	if d == nil || len(d.SABundle.SAList) == 0 || d.SABundle.SAList[0].ESPAuthAndCipherInformation == nil {
		return ""
	}
	return string(d.SABundle.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherKey)
}

// bundleSPI is the SPI of a bundle's first SA (0 if absent).
func bundleSPI(d *wfp.IPsecSADetails1) uint32 {
	if d == nil || len(d.SABundle.SAList) == 0 {
		return 0
	}
	return d.SABundle.SAList[0].SPI
}

// enumContexts returns every SA context, in id order.
func enumContexts(t testing.TB, api wfp.API) []*wfp.IPsecSAContext1 {
	t.Helper()
	h, err := api.IPsecSaContextCreateEnumHandle0(nil)
	if err != nil {
		t.Fatalf("IPsecSaContextCreateEnumHandle0: %v", err)
	}
	defer api.IPsecSaContextDestroyEnumHandle0(h)
	var all []*wfp.IPsecSAContext1
	for {
		page, err := api.IPsecSaContextEnum1(h, 1000)
		if err != nil {
			t.Fatalf("IPsecSaContextEnum1: %v", err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all
		}
	}
}

// logRecorder is a slog.Handler that keeps every record's message and
// attributes, for tests that read what the daemon logged.
type logRecorder struct {
	mu   sync.Mutex          // guards recs
	recs []map[string]string // +checklocks:mu
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := map[string]string{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool {
		rec[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, rec)
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// find returns the value of key in the first record with message msg that
// has it.
func (l *logRecorder) find(msg, key string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if v, ok := r[key]; ok && r["msg"] == msg {
			return v, true
		}
	}
	return "", false
}
