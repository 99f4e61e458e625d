// Command sadbd-bench measures sadbd as a separate process and prints the
// figures:
//
//   - throughput: the full plumbing sequence (IPsecSaContextCreate1,
//     GetSpi1, AddInbound1, AddOutbound1: one SA context) run by -clients
//     concurrent sessions over the Unix socket against a durable store, and
//     in the same run the in-process engine rate (the same sequence on the
//     same number of goroutines, no RPC, no store) and the ratio;
//   - restart: the time from starting sadbd on a store of -contexts SA
//     contexts to the first successful FwpmEngineOpen0, and the daemon's
//     memory (RSS from /proc, Go heap from its Prometheus endpoint); after
//     the last restart, a full enumeration of them over RPC.
//
// Each figure is printed with the load average before and after it, since
// other work on the machine moves the figures. Two ceilings are measured
// first: the store's fsync latency, which bounds what a durable store can do
// for callers that wait for each reply, and a bare gRPC echo in the shape of
// the throughput run (grpcfloor.go), which bounds what any service over gRPC
// can do for them on this machine.
//
//	go run ./bench/sadbd                          # everything, defaults
//	go run ./bench/sadbd -run throughput -duration 20s -server-cpuprofile srv.pprof
//
// The daemon is this binary re-executed with the hidden "serve" argument,
// which runs daemon.Run exactly as cmd/sadbd does (adding only the
// profiles), so that the bench needs no separate build.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/daemon"
	"github.com/sadb-dev/sadb/internal/daemon/daemontest"
	"github.com/sadb-dev/sadb/internal/metrics"
	"github.com/sadb-dev/sadb/internal/storage/bolt"
	"github.com/sadb-dev/sadb/wfp"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serve(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout))
}

// serve is the daemon side: cmd/sadbd's run with optional profiles.
func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	config := fs.String("config", "", "configuration file")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the daemon to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := daemon.LoadConfig(*config, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	log, err := cfg.NewLogger()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfile(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer stop()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := daemon.Run(ctx, cfg, log); err != nil {
		log.Error("sadbd failed", "err", err)
		return 1
	}
	return 0
}

type options struct {
	what             map[string]bool
	clients          int
	duration, warmup time.Duration
	contexts         int
	rounds           int
	dir              string
	memoryStore      bool
	sharedConn       bool
	inProcStore      bool
	cpuprofile       string
	serverCPUProfile string
	loadCPUProfile   string
	inProcCPUProfile string
}

func run(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("sadbd-bench", flag.ContinueOnError)
	var o options
	what := fs.String("run", "fsync,grpc,throughput,restart", "what to measure: fsync, grpc (a bare gRPC echo: the RPC rate's ceiling), throughput, restart (comma-separated)")
	fs.IntVar(&o.clients, "clients", 16, "concurrent sessions (and in-process goroutines)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each throughput measurement runs")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "how long the clients run before a throughput measurement starts")
	fs.IntVar(&o.contexts, "contexts", 100_000, "SA contexts in the store for the restart measurement")
	fs.IntVar(&o.rounds, "rounds", 3, "restarts measured")
	fs.StringVar(&o.dir, "dir", "", "directory for stores and sockets (default: a new temporary directory, removed at the end)")
	fs.BoolVar(&o.memoryStore, "memory-store", false, "also measure the RPC throughput with no store (sadbd -memory)")
	fs.BoolVar(&o.inProcStore, "in-process-store", false, "also measure the in-process engine with a bbolt store (no RPC)")
	fs.BoolVar(&o.sharedConn, "shared-conn", false, "open the clients' sessions on one connection (client.WithConn) instead of one each")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "CPU profile of the clients during the RPC throughput measurement (FILE.nostore for -memory-store)")
	fs.StringVar(&o.serverCPUProfile, "server-cpuprofile", "", "CPU profile of sadbd during the RPC throughput run (FILE.nostore for -memory-store)")
	fs.StringVar(&o.loadCPUProfile, "load-cpuprofile", "", "CPU profile of sadbd during the last restart (mostly the load)")
	fs.StringVar(&o.inProcCPUProfile, "in-process-cpuprofile", "", "CPU profile of the in-process durable measurement (with -in-process-store)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.what = map[string]bool{}
	for _, w := range strings.Split(*what, ",") {
		o.what[strings.TrimSpace(w)] = true
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "sadbd-bench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	b := &bench{o: o, out: out}
	if err := b.run(); err != nil {
		fmt.Fprintln(os.Stderr, "sadbd-bench:", err)
		return 1
	}
	return 0
}

type bench struct {
	o   options
	out io.Writer
}

func (b *bench) printf(format string, args ...any) { fmt.Fprintf(b.out, format, args...) }

func (b *bench) run() error {
	b.printf("sadbd-bench: %s, GOMAXPROCS %d, %d CPUs, load %s\n", runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), loadavg())
	if b.o.what["fsync"] {
		if err := b.fsync(); err != nil {
			return err
		}
	}
	if b.o.what["grpc"] {
		if err := b.grpcFloor(); err != nil {
			return err
		}
	}
	if b.o.what["throughput"] {
		if err := b.throughput(); err != nil {
			return err
		}
	}
	if b.o.what["restart"] {
		if err := b.restart(); err != nil {
			return err
		}
	}
	return nil
}

// fsync probes the store directory's fdatasync latency with 4 KiB
// overwrites, the shape of a bbolt commit's page writes.
func (b *bench) fsync() error {
	f, err := os.CreateTemp(b.o.dir, "fsync-probe-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	const n = 400
	lat := make([]time.Duration, n)
	for i := range lat {
		start := time.Now()
		if _, err := f.WriteAt(page, int64(i%16)*4096); err != nil {
			return err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return err
		}
		lat[i] = time.Since(start)
	}
	slices.Sort(lat)
	p50 := lat[n/2]
	// A commit is one write-ahead log frame, one fdatasync, shared by
	// every commit waiting at the time (group commit): a caller that
	// waits for its reply before its next call waits at least one.
	bound := float64(b.o.clients) / p50.Seconds()
	b.printf("fsync      4 KiB write + fdatasync: p50 %v p99 %v; a commit waits for one: with %d callers each waiting for its reply, at most %.0f calls/s (%.0f SA contexts/s) [load %s]\n",
		p50.Round(time.Microsecond), lat[n*99/100].Round(time.Microsecond), b.o.clients, bound, bound/4, loadavg())
	return nil
}

// sequence is the plumbing of one SA context on one session.
type sequence struct {
	api      wfp.API
	out      wfp.IPsecTraffic1
	getSpi   *wfp.IPsecGetSPI1
	inKey    wfp.Key
	outKey   wfp.Key
	outSPI   uint32
	inBundle *wfp.IPsecSABundle1
}

func newSequence(api wfp.API, outFilter, inFilter uint64, seed byte) *sequence {
	s := &sequence{
		api:    api,
		out:    conformance.TransportTraffic(conformance.PeerA4, conformance.PeerB4, outFilter),
		getSpi: conformance.GetSPI(conformance.TransportTraffic(conformance.PeerA4, conformance.PeerB4, inFilter)),
		inKey:  conformance.TestKey(20, seed),
		outKey: conformance.TestKey(20, ^seed),
		outSPI: 0x1000 + uint32(seed),
	}
	s.inBundle = conformance.GCMBundle(wfp.IPVersionV4, 0, s.inKey)
	return s
}

// run plumbs one SA context.
func (s *sequence) run() error {
	id, _, err := s.api.IPsecSaContextCreate1(&s.out, nil)
	if err != nil {
		return fmt.Errorf("IPsecSaContextCreate1: %w", err)
	}
	spi, err := s.api.IPsecSaContextGetSpi1(id, s.getSpi)
	if err != nil {
		return fmt.Errorf("IPsecSaContextGetSpi1: %w", err)
	}
	s.inBundle.SAList[0].SPI = spi
	if err := s.api.IPsecSaContextAddInbound1(id, s.inBundle); err != nil {
		return fmt.Errorf("IPsecSaContextAddInbound1: %w", err)
	}
	if err := s.api.IPsecSaContextAddOutbound1(id, conformance.GCMBundle(wfp.IPVersionV4, s.outSPI, s.outKey)); err != nil {
		return fmt.Errorf("IPsecSaContextAddOutbound1: %w", err)
	}
	return nil
}

// result is one throughput measurement.
type result struct {
	contexts  int64
	elapsed   time.Duration
	clientCPU time.Duration // this process
	serverCPU time.Duration // the daemon, if separate
	client    counters      // this process
	server    counters      // the daemon, if separate
	loadStart string
	loadEnd   string
}

func (r result) rate() float64 { return float64(r.contexts) / r.elapsed.Seconds() }

// drive runs the sequences concurrently: warmup, then a measured duration.
// It stops at the first failure.
// srv is the daemon process, nil when the engine runs in this one.
func drive(seqs []*sequence, warmup, duration time.Duration, srv *daemontest.Proc) (result, error) {
	var (
		count   atomic.Int64
		stop    atomic.Bool
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for _, s := range seqs {
		wg.Go(func() {
			for !stop.Load() {
				if err := s.run(); err != nil {
					errOnce.Do(func() { first = err })
					stop.Store(true)
					return
				}
				count.Add(1)
			}
		})
	}
	time.Sleep(warmup)
	r := result{loadStart: loadavg()}
	serverCPU := func() time.Duration { return 0 }
	serverPid := 0
	if srv != nil {
		serverCPU = func() time.Duration { d, _ := srv.CPUTime(); return d }
		serverPid = srv.Pid()
	}
	cc0, sc0 := procCounters(os.Getpid()), procCounters(serverPid)
	c0, s0, n0, t0 := processCPU(), serverCPU(), count.Load(), time.Now()
	time.Sleep(duration)
	r.contexts, r.elapsed = count.Load()-n0, time.Since(t0)
	r.clientCPU, r.serverCPU = processCPU()-c0, serverCPU()-s0
	r.client, r.server = procCounters(os.Getpid()).sub(cc0), procCounters(serverPid).sub(sc0)
	r.loadEnd = loadavg()
	stop.Store(true)
	wg.Wait()
	return r, first
}

func (b *bench) throughput() error {
	rpc, err := b.rpcThroughput("durable", false)
	if err != nil {
		return err
	}
	inproc, err := b.inProcess(false)
	if err != nil {
		return err
	}
	if b.o.inProcStore {
		if _, err := b.inProcess(true); err != nil {
			return err
		}
	}
	b.printf("ratio      RPC durable / in-process: %.3f (in-process is %.1fx the RPC rate)\n", rpc.rate()/inproc.rate(), inproc.rate()/rpc.rate())
	if b.o.memoryStore {
		mem, err := b.rpcThroughput("no store", true)
		if err != nil {
			return err
		}
		b.printf("ratio      RPC no store / in-process: %.3f\n", mem.rate()/inproc.rate())
	}
	return nil
}

// rpcThroughput measures the sequence over the Unix socket against a
// sadbd process.
func (b *bench) rpcThroughput(label string, memory bool) (result, error) {
	dir, err := os.MkdirTemp(b.o.dir, "throughput-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	cfg := daemon.Config{Store: filepath.Join(dir, "sadb.db"), Socket: filepath.Join(dir, "sadbd.sock"),
		Memory: memory, Metrics: "127.0.0.1:0", LogFormat: "json", LogLevel: "warn"}
	if memory {
		cfg.Store = ""
	}
	args := []string{"serve"}
	if b.o.serverCPUProfile != "" {
		name := b.o.serverCPUProfile
		if memory {
			name += ".nostore"
		}
		args = append(args, "-cpuprofile", name)
	}
	cfg.LogLevel = "info" // the metrics address is logged at info
	p, err := startSelf(cfg, args...)
	if err != nil {
		return result{}, err
	}
	defer p.Kill()
	if _, err := p.WaitServing(30 * time.Second); err != nil {
		return result{}, err
	}
	metrics, err := metricsAddr(p)
	if err != nil {
		return result{}, err
	}

	admin, err := client.Open(context.Background(), p.Target(), nil)
	if err != nil {
		return result{}, err
	}
	defer admin.FwpmEngineClose0()
	outF, inF, err := conformance.TransportFilters(admin, conformance.PeerA4, conformance.PeerB4)
	if err != nil {
		return result{}, err
	}
	var opts []client.Option
	if b.o.sharedConn {
		conn, err := client.Dial(p.Target())
		if err != nil {
			return result{}, err
		}
		defer conn.Close()
		opts = append(opts, client.WithConn(conn))
		label += "/1conn"
	}
	seqs := make([]*sequence, b.o.clients)
	for i := range seqs {
		api, err := client.Open(context.Background(), p.Target(), nil, opts...)
		if err != nil {
			return result{}, err
		}
		defer api.FwpmEngineClose0()
		seqs[i] = newSequence(api, outF, inF, byte(i))
	}
	m0, err := scrape(metrics)
	if err != nil {
		return result{}, err
	}
	stopProfile := func() {}
	if b.o.cpuprofile != "" {
		name := b.o.cpuprofile
		if memory {
			name += ".nostore"
		}
		if stopProfile, err = startCPUProfile(name); err != nil {
			return result{}, err
		}
	}
	r, err := drive(seqs, b.o.warmup, b.o.duration, p)
	stopProfile()
	if err != nil {
		return result{}, err
	}
	m1, err := scrape(metrics)
	if err != nil {
		return result{}, err
	}
	calls := m1["sadb_store_commits_total"] - m0["sadb_store_commits_total"]
	txns := m1["sadb_store_log_frames_total"] - m0["sadb_store_log_frames_total"]
	perTxn, diskMean, commitMean := 0.0, time.Duration(0), time.Duration(0)
	if txns > 0 {
		perTxn = calls / txns
		diskMean = seconds((m1["sadb_store_log_write_seconds_sum"] - m0["sadb_store_log_write_seconds_sum"]) / txns)
		commitMean = seconds((m1["sadb_store_commit_seconds_sum"] - m0["sadb_store_commit_seconds_sum"]) / calls)
	}
	b.printf("rpc        %-14s %2d clients: %8.0f SA contexts/s (%.0f calls/s) over %v; CPU per context: sadbd %v, clients %v [load %s -> %s]\n",
		label, b.o.clients, r.rate(), 4*r.rate(), r.elapsed.Round(time.Millisecond),
		perCtx(r.serverCPU, r.contexts), perCtx(r.clientCPU, r.contexts), r.loadStart, r.loadEnd)
	b.printf("syscalls   per SA context: sadbd %.1f reads, %.1f writes, %.1f context switches; clients %.1f reads, %.1f writes, %.1f context switches\n",
		r.server.per(r.server.reads, r.contexts), r.server.per(r.server.writes, r.contexts), r.server.per(r.server.switches, r.contexts),
		r.client.per(r.client.reads, r.contexts), r.client.per(r.client.writes, r.contexts), r.client.per(r.client.switches, r.contexts))
	if txns > 0 {
		b.printf("store      %.1f commits per log frame, %.0f log frames/s (one fdatasync each) of %v each on average; a commit waits %v on average\n",
			perTxn, txns/r.elapsed.Seconds(), diskMean.Round(time.Microsecond), commitMean.Round(time.Microsecond))
	}
	rss, _, _ := p.Memory()
	b.printf("memory     after the run: %d SA contexts, sadbd RSS %s, Go heap in use %s\n",
		int64(sumPrefix(m1, "sadb_sa_contexts{")), mib(rss), mib(int64(m1["go_memstats_heap_inuse_bytes"])))
	if code, err := p.Term(30 * time.Second); err != nil || code != 0 {
		return result{}, fmt.Errorf("sadbd exited with %d, %v:\n%s", code, err, p.Log())
	}
	return r, nil
}

// inProcess measures the same sequence on an engine in this process, with
// no store, or with a bbolt store (durable, as sadbd's).
func (b *bench) inProcess(durable bool) (result, error) {
	eo := engine.Options{EngineSD: benchSD(true), SADBSD: benchSD(false)}
	label := "in-process"
	if durable {
		dir, err := os.MkdirTemp(b.o.dir, "inproc-")
		if err != nil {
			return result{}, err
		}
		defer os.RemoveAll(dir)
		st, err := bolt.Open(filepath.Join(dir, "sadb.db"), bolt.Options{})
		if err != nil {
			return result{}, err
		}
		defer st.Close()
		eo.Store, label = st, "in-process durable"
	}
	e, err := engine.New(eo)
	if err != nil {
		return result{}, err
	}
	defer e.Close()
	tok := wfp.Token{User: wfp.UserSID(uint32(os.Getuid()))}
	admin, err := e.FwpmEngineOpen0(tok, nil)
	if err != nil {
		return result{}, err
	}
	outF, inF, err := conformance.TransportFilters(admin, conformance.PeerA4, conformance.PeerB4)
	if err != nil {
		return result{}, err
	}
	seqs := make([]*sequence, b.o.clients)
	for i := range seqs {
		api, err := e.FwpmEngineOpen0(tok, nil)
		if err != nil {
			return result{}, err
		}
		seqs[i] = newSequence(api, outF, inF, byte(i))
	}
	stopProfile := func() {}
	if durable && b.o.inProcCPUProfile != "" {
		if stopProfile, err = startCPUProfile(b.o.inProcCPUProfile); err != nil {
			return result{}, err
		}
	}
	r, err := drive(seqs, b.o.warmup, b.o.duration, nil)
	stopProfile()
	if err != nil {
		return result{}, err
	}
	b.printf("%-25s %2d goroutines: %8.0f SA contexts/s over %v; CPU per context %v [load %s -> %s]\n",
		label, b.o.clients, r.rate(), r.elapsed.Round(time.Millisecond), perCtx(r.clientCPU, r.contexts), r.loadStart, r.loadEnd)
	return r, nil
}

// benchSD is what sadbd gives a new store: GENERIC_ALL to uid:0 and the
// user it runs as, and on the engine OPEN|CLASSIFY to everyone.
func benchSD(engineObj bool) *wfp.SecurityDescriptor {
	acl := wfp.ACL{{Type: wfp.AccessAllowed, Mask: wfp.GenericAll, SID: wfp.UserSID(0)}}
	if uid := uint32(os.Getuid()); uid != 0 {
		acl = append(acl, wfp.ACE{Type: wfp.AccessAllowed, Mask: wfp.GenericAll, SID: wfp.UserSID(uid)})
	}
	if engineObj {
		acl = append(acl, wfp.ACE{Type: wfp.AccessAllowed, Mask: wfp.ActrlOpen | wfp.ActrlClassify, SID: wfp.Everyone})
	}
	return &wfp.SecurityDescriptor{Owner: wfp.UserSID(0), Group: wfp.GroupSID(0), DACL: &acl}
}

// restart fills a store with o.contexts SA contexts, then starts sadbd on
// it o.rounds times, timing each start up to the first successful Open.
func (b *bench) restart() error {
	dir, err := os.MkdirTemp(b.o.dir, "restart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := daemon.Config{Store: filepath.Join(dir, "sadb.db"), Socket: filepath.Join(dir, "sadbd.sock"),
		Metrics: "127.0.0.1:0", LogFormat: "json"}
	start := time.Now()
	if err := fill(cfg.Store, b.o.contexts); err != nil {
		return err
	}
	st, err := os.Stat(cfg.Store)
	if err != nil {
		return err
	}
	b.printf("restart    filled the store with %d SA contexts in %v (%s)\n", b.o.contexts, time.Since(start).Round(time.Millisecond), mib(st.Size()))
	var took []time.Duration
	for i := range b.o.rounds {
		runtime.GC() // the fill's garbage is not the daemon's business
		load := loadavg()
		args := []string{"serve"}
		if b.o.loadCPUProfile != "" && i == b.o.rounds-1 {
			args = append(args, "-cpuprofile", b.o.loadCPUProfile)
		}
		p, err := startSelf(cfg, args...)
		if err != nil {
			return err
		}
		d, err := p.WaitServing(60 * time.Second)
		if err != nil {
			p.Kill()
			return err
		}
		took = append(took, d)
		logged := loggedDurations(p.Log())
		metrics, err := metricsAddr(p)
		if err != nil {
			p.Kill()
			return err
		}
		m, err := scrape(metrics)
		if err != nil {
			p.Kill()
			return err
		}
		rss, peak, _ := p.Memory()
		anon, file := rssParts(p.Pid())
		b.printf("restart    round %d: serving %v after start (store opened in %s, engine loaded in %s); %d SA contexts; RSS %s (peak %s; anonymous %s, file-backed %s: the store's map), Go heap in use %s, heap objects %s [load %s -> %s]\n",
			i+1, d.Round(time.Millisecond), logged["store opened"], logged["engine ready"], int64(sumPrefix(m, "sadb_sa_contexts{")),
			mib(rss), mib(peak), mib(anon), mib(file), mib(int64(m["go_memstats_heap_inuse_bytes"])), mib(int64(m["go_memstats_heap_alloc_bytes"])), load, loadavg())
		if i == b.o.rounds-1 {
			if err := b.enumerate(p, metrics); err != nil {
				p.Kill()
				return err
			}
		}
		if code, err := p.Term(60 * time.Second); err != nil || code != 0 {
			return fmt.Errorf("sadbd exited with %d, %v:\n%s", code, err, p.Log())
		}
	}
	slices.Sort(took)
	b.printf("restart    median %v, min %v, max %v over %d rounds\n", took[len(took)/2].Round(time.Millisecond),
		took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), len(took))
	return nil
}

// enumerate times a full SA-context enumeration over RPC (what sadb ctx
// list does), 1,000 a page, each page freed as a WFP caller does, and shows
// sadbd's memory after it.
func (b *bench) enumerate(p *daemontest.Proc, metrics string) error {
	api, err := client.Open(context.Background(), p.Target(), nil)
	if err != nil {
		return err
	}
	defer api.FwpmEngineClose0()
	load := loadavg()
	start := time.Now()
	h, err := api.IPsecSaContextCreateEnumHandle0(nil)
	if err != nil {
		return err
	}
	n := 0
	for {
		page, err := api.IPsecSaContextEnum1(h, 1000)
		if err != nil {
			return err
		}
		k := len(page)
		n += k
		api.FwpmFreeMemory0(&page)
		if k < 1000 {
			break
		}
	}
	took := time.Since(start)
	if err := api.IPsecSaContextDestroyEnumHandle0(h); err != nil {
		return err
	}
	m, err := scrape(metrics)
	if err != nil {
		return err
	}
	rss, peak, _ := p.Memory()
	b.printf("enumerate  %d SA contexts over RPC in %v (%.0f per second); then sadbd RSS %s (peak %s), Go heap in use %s [load %s -> %s]\n",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), mib(rss), mib(peak), mib(int64(m["go_memstats_heap_inuse_bytes"])), load, loadavg())
	return nil
}

// fill plumbs n SA contexts into a new store at path, in this process,
// with enough concurrent sessions to fill the log frames.
func fill(path string, n int) error {
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		return err
	}
	e, err := engine.New(engine.Options{EngineSD: benchSD(true), SADBSD: benchSD(false), Store: st})
	if err != nil {
		st.Close()
		return err
	}
	tok := wfp.Token{User: wfp.UserSID(uint32(os.Getuid()))}
	err = func() error {
		admin, err := e.FwpmEngineOpen0(tok, nil)
		if err != nil {
			return err
		}
		outF, inF, err := conformance.TransportFilters(admin, conformance.PeerA4, conformance.PeerB4)
		if err != nil {
			return err
		}
		const workers = 128
		var (
			next  atomic.Int64
			wg    sync.WaitGroup
			errMu sync.Mutex
			errs  []error
		)
		for w := range workers {
			api, err := e.FwpmEngineOpen0(tok, nil)
			if err != nil {
				return err
			}
			s := newSequence(api, outF, inF, byte(w))
			wg.Go(func() {
				for next.Add(1) <= int64(n) {
					if err := s.run(); err != nil {
						errMu.Lock()
						errs = append(errs, err)
						errMu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}()
	return errors.Join(err, e.Close(), st.Close())
}

// startSelf re-executes this binary as the daemon.
func startSelf(cfg daemon.Config, args ...string) (*daemontest.Proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return daemontest.Start(self, cfg, args...)
}

// metricsAddr finds the metrics address in the daemon's JSON log.
func metricsAddr(p *daemontest.Proc) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(p.Log()))
		for sc.Scan() {
			var rec struct {
				Msg     string `json:"msg"`
				Address string `json:"address"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "metrics" && rec.Address != "" {
				return "http://" + rec.Address + "/metrics", nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "", fmt.Errorf("sadbd logged no metrics address:\n%s", p.Log())
}

// loggedDurations returns the "took" of each JSON log record that has one,
// by message.
func loggedDurations(log string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var rec struct {
			Msg  string        `json:"msg"`
			Took time.Duration `json:"took"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Took != 0 {
			out[rec.Msg] = rec.Took.Round(time.Millisecond).String()
		}
	}
	return out
}

// scrape reads a Prometheus text endpoint into name{labels} → value.
func scrape(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return metrics.ParseText(resp.Body)
}

// counters are a process's read and write system calls (from /proc/PID/io,
// all threads) and context switches (the threads alive now).
type counters struct{ reads, writes, switches int64 }

func (c counters) sub(d counters) counters {
	return counters{c.reads - d.reads, c.writes - d.writes, c.switches - d.switches}
}

func (counters) per(v, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(v) / float64(n)
}

// procCounters reads pid's counters; pid 0 reads nothing.
func procCounters(pid int) counters {
	var c counters
	if pid == 0 {
		return c
	}
	dir := "/proc/" + strconv.Itoa(pid)
	if b, err := os.ReadFile(dir + "/io"); err == nil {
		for line := range strings.Lines(string(b)) {
			name, val, _ := strings.Cut(strings.TrimSpace(line), ": ")
			v, _ := strconv.ParseInt(val, 10, 64)
			switch name {
			case "syscr":
				c.reads = v
			case "syscw":
				c.writes = v
			}
		}
	}
	tasks, _ := os.ReadDir(dir + "/task")
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/task/" + t.Name() + "/status")
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			name, val, _ := strings.Cut(line, ":")
			if name == "voluntary_ctxt_switches" || name == "nonvoluntary_ctxt_switches" {
				v, _ := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
				c.switches += v
			}
		}
	}
	return c
}

// rssParts returns the anonymous and the file-backed resident memory of
// process pid, from /proc.
func rssParts(pid int) (anon, file int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.Lines(string(b)) {
		name, val, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		switch name {
		case "RssAnon":
			anon = kb << 10
		case "RssFile":
			file = kb << 10
		}
	}
	return anon, file
}

// sumPrefix adds up the scraped series whose name starts with prefix.
func sumPrefix(m map[string]float64, prefix string) float64 {
	sum := 0.0
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			sum += v
		}
	}
	return sum
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func perCtx(d time.Duration, n int64) time.Duration {
	if n == 0 {
		return 0
	}
	return (d / time.Duration(n)).Round(100 * time.Nanosecond)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// loadavg is the 1, 5 and 15 minute load average.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// startCPUProfile starts a CPU profile written to path; the returned
// function stops it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
