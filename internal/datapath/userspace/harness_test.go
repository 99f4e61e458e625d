package userspace

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/wfp"
)

// Test addresses: documentation ranges only (RFC 5737, RFC 3849).
var (
	addrA4 = netip.MustParseAddr("192.0.2.1")
	addrB4 = netip.MustParseAddr("192.0.2.2")
	addrA6 = netip.MustParseAddr("2001:db8::1")
	addrB6 = netip.MustParseAddr("2001:db8::2")
	// Tunnel inner subnets and the hosts' addresses in them.
	subnetA4 = netip.MustParsePrefix("198.51.100.0/24")
	subnetB4 = netip.MustParsePrefix("203.0.113.0/24")
	innerA4  = netip.MustParseAddr("198.51.100.1")
	innerB4  = netip.MustParseAddr("203.0.113.1")
	subnetA6 = netip.MustParsePrefix("2001:db8:a::/48")
	subnetB6 = netip.MustParsePrefix("2001:db8:b::/48")
	innerA6  = netip.MustParseAddr("2001:db8:a::1")
	innerB6  = netip.MustParseAddr("2001:db8:b::1")
)

// requireRoot skips a privileged test when not root, except in CI
// (CI=true), where it fails.
func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("this test needs root (network namespaces, TUN, raw sockets); CI runs as root")
	}
	tb.Skip("needs root (network namespaces, TUN, raw sockets)")
}

// requireTool skips (or in CI fails) when a command is missing.
func requireTool(tb testing.TB, name string) {
	tb.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is not installed; .ci/run installs it", name)
	}
	tb.Skipf("%s is not installed", name)
}

// inNS runs fn on a thread in network namespace ns and waits for it. The
// thread is discarded afterwards.
func inNS(tb testing.TB, ns netns.NsHandle, fn func() error) error {
	tb.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

var nsCounter struct {
	sync.Mutex
	n int
}

// newNS creates a named network namespace, removed at cleanup.
func newNS(tb testing.TB, tag string) (string, netns.NsHandle) {
	tb.Helper()
	nsCounter.Lock()
	nsCounter.n++
	name := fmt.Sprintf("sadbt%d-%d-%s", os.Getpid()%100000, nsCounter.n, tag)
	nsCounter.Unlock()
	var h netns.NsHandle
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var err error
		h, err = netns.NewNamed(name) // switches this thread, which then dies
		errc <- err
	}()
	if err := <-errc; err != nil {
		tb.Fatalf("creating namespace %s: %v", name, err)
	}
	tb.Cleanup(func() {
		h.Close()
		netns.DeleteNamed(name)
	})
	return name, h
}

// host is one end of a test link: a namespace with a backend and an
// in-process engine driving it.
type host struct {
	name   string
	ns     netns.NsHandle
	link   string
	be     *Backend
	eng    *engine.Engine
	api    wfp.API
	events chan datapath.Event
	v4, v6 netip.Addr
}

// tee is a datapath.Backend that copies the events to a channel.
type tee struct {
	*Backend
	events chan datapath.Event
}

func (t *tee) SetHandler(h datapath.Handler) {
	t.Backend.SetHandler(func(ev datapath.Event) {
		select {
		case t.events <- ev:
		default:
		}
		h(ev)
	})
}

type pairOptions struct {
	cfg    Config        // backend configuration for both hosts
	linger time.Duration // engine ExpireLinger
	noTUN  bool          // namespaces and link only
}

// newPair creates two namespaces joined by a veth pair (A 192.0.2.1 and
// 2001:db8::1, B .2 and ::2), with the tunnel inner addresses on lo, and a
// backend and engine in each.
func newPair(tb testing.TB, opt pairOptions) (a, b *host) {
	tb.Helper()
	requireRoot(tb)
	na, ha := newNS(tb, "a")
	nb, hb := newNS(tb, "b")
	a = &host{name: na, ns: ha, link: "va", v4: addrA4, v6: addrA6}
	b = &host{name: nb, ns: hb, link: "vb", v4: addrB4, v6: addrB6}
	err := inNS(tb, ha, func() error {
		la := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "va"}, PeerName: "vb", PeerNamespace: netlink.NsFd(hb)}
		return netlink.LinkAdd(la)
	})
	if err != nil {
		tb.Fatalf("veth: %v", err)
	}
	for _, h := range []*host{a, b} {
		inner4, inner6 := innerA4, innerA6
		if h == b {
			inner4, inner6 = innerB4, innerB6
		}
		err := inNS(tb, h.ns, func() error {
			lo, err := netlink.LinkByName("lo")
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(lo); err != nil {
				return err
			}
			for _, p := range []netip.Prefix{netip.PrefixFrom(inner4, 32), netip.PrefixFrom(inner6, 128)} {
				if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: prefixIPNet(p)}); err != nil {
					return err
				}
			}
			l, err := netlink.LinkByName(h.link)
			if err != nil {
				return err
			}
			for _, p := range []netip.Prefix{netip.PrefixFrom(h.v4, 24), netip.PrefixFrom(h.v6, 64)} {
				if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: prefixIPNet(p), Flags: unix.IFA_F_NODAD}); err != nil {
					return err
				}
			}
			return netlink.LinkSetUp(l)
		})
		if err != nil {
			tb.Fatalf("setting up %s: %v", h.name, err)
		}
	}
	if opt.noTUN {
		return a, b
	}
	for _, h := range []*host{a, b} {
		h.start(tb, opt)
	}
	return a, b
}

// start creates h's backend and engine.
func (h *host) start(tb testing.TB, opt pairOptions) {
	tb.Helper()
	cfg := opt.cfg
	if cfg.Logger == nil {
		cfg.Logger = testLogger(tb, h.name)
	}
	err := inNS(tb, h.ns, func() error {
		var err error
		h.be, err = New(cfg)
		return err
	})
	if err != nil {
		tb.Fatalf("%s: New: %v", h.name, err)
	}
	h.events = make(chan datapath.Event, 64)
	h.eng, err = engine.New(engine.Options{Datapath: &tee{Backend: h.be, events: h.events}, ExpireLinger: opt.linger, Logger: cfg.Logger})
	if err != nil {
		tb.Fatal(err)
	}
	h.api, err = h.eng.FwpmEngineOpen0(wfp.Token{User: wfp.UserSID(0)}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		h.api.FwpmEngineClose0()
		h.eng.Close()
		h.be.Close()
	})
}

// testLogger logs to the test log at debug level when -v is given.
func testLogger(tb testing.TB, name string) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(&tbWriter{tb: tb, prefix: name + ": "}, &slog.HandlerOptions{Level: level}))
}

type tbWriter struct {
	tb     testing.TB
	prefix string
	mu     sync.Mutex
	done   bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer func() { recover() }() // the test may have ended
	w.tb.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// run runs a command in h's namespace and returns its combined output.
func (h *host) run(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.name}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustRun runs a command that must succeed.
func (h *host) mustRun(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := h.run(tb, args...)
	if err != nil {
		tb.Fatalf("%s: %s: %v\n%s", h.name, strings.Join(args, " "), err, out)
	}
	return out
}

// ping sends count echo requests from h to dst quickly and returns how
// many replies came back.
func (h *host) ping(tb testing.TB, dst netip.Addr, count int) int {
	tb.Helper()
	out, _ := h.run(tb, "ping", "-n", "-q", "-c", fmt.Sprint(count), "-i", "0.01", "-W", "1", dst.String())
	var sent, recv int
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "packets transmitted") {
			fmt.Sscanf(strings.TrimSpace(line), "%d packets transmitted, %d received", &sent, &recv)
		}
	}
	return recv
}

// key returns n random key bytes.
func key(n int) wfp.Key {
	k := make(wfp.Key, n)
	rand.Read(k)
	return k
}

// mode describes one way of protecting the traffic between the hosts.
type mode struct {
	name   string
	tunnel bool
	v6     bool // inner and outer IPv6 (tunnel: outer follows innerV6 unless outerV4 set)
	udp    bool // ESP in UDP (IPv4 only)
	// portA is A's local UDP encapsulation port (0: 4500); B uses 4500.
	portA uint16
	// bundle makes the bundle for one direction with the given SPI and
	// the keys of that direction.
	bundle func(v wfp.IPVersion, spi uint32, keys []wfp.Key) *wfp.IPsecSABundle1
	keys   func() []wfp.Key
	// lifetime, if set, is put on both bundles.
	lifetime wfp.IPsecSALifetime0
}

func gcm(v wfp.IPVersion, spi uint32, k []wfp.Key) *wfp.IPsecSABundle1 {
	return conformance.GCMBundle(v, spi, k[0])
}
func gcmKeys() []wfp.Key { return []wfp.Key{key(20)} }

func cbc(v wfp.IPVersion, spi uint32, k []wfp.Key) *wfp.IPsecSABundle1 {
	return conformance.CBCBundle(v, spi, k[0], k[1])
}
func cbcKeys() []wfp.Key { return []wfp.Key{key(32), key(32)} }

func espAH(v wfp.IPVersion, spi uint32, k []wfp.Key) *wfp.IPsecSABundle1 {
	return conformance.Bundle(v, 0, conformance.CBCSA(spi, k[0], k[1]), conformance.AHSA(spi, k[2]))
}
func espAHKeys() []wfp.Key { return []wfp.Key{key(16), key(20), key(32)} }

func ahOnly(v wfp.IPVersion, spi uint32, k []wfp.Key) *wfp.IPsecSABundle1 {
	return conformance.Bundle(v, 0, conformance.AHSA(spi, k[0]))
}
func ahKeys() []wfp.Key { return []wfp.Key{key(32)} }

// plumbed is the result of plumbing a mode: what each side installed.
type plumbed struct {
	ctxA, ctxB     uint64
	spiA, spiB     uint32    // inbound SPIs of A and B
	keysAB, keysBA []wfp.Key // A→B and B→A keys
	outFilterA     uint64
}

// addrs returns the addresses traffic from a to b uses in mode m: the
// transport addresses or the inner ones.
func (m mode) addrs(a, b *host) (src, dst netip.Addr) {
	switch {
	case m.tunnel && m.v6:
		return innerOf(a, true), innerOf(b, true)
	case m.tunnel:
		return innerOf(a, false), innerOf(b, false)
	case m.v6:
		return a.v6, b.v6
	}
	return a.v4, b.v4
}

func innerOf(h *host, v6 bool) netip.Addr {
	switch {
	case h.v4 == addrA4 && v6:
		return innerA6
	case h.v4 == addrA4:
		return innerA4
	case v6:
		return innerB6
	}
	return innerB4
}

// endpoints returns the outer addresses of a and b in mode m.
func (m mode) endpoints(a, b *host) (netip.Addr, netip.Addr) {
	if m.v6 && !m.udp {
		return a.v6, b.v6
	}
	return a.v4, b.v4
}

// plumb installs filters and an SA context on both hosts, as two keying
// daemons would after a negotiation.
func plumb(tb testing.TB, a, b *host, m mode) *plumbed {
	tb.Helper()
	p := &plumbed{keysAB: m.keys(), keysBA: m.keys()}
	type side struct {
		h, peer  *host
		ctx      *uint64
		spi      *uint32
		out, in  uint64
		traffic  wfp.IPsecTraffic1
		inTraffc wfp.IPsecTraffic1
	}
	sides := []*side{{h: a, peer: b, ctx: &p.ctxA, spi: &p.spiA}, {h: b, peer: a, ctx: &p.ctxB, spi: &p.spiB}}
	for _, s := range sides {
		local, remote := m.endpoints(s.h, s.peer)
		var err error
		if m.tunnel {
			ls, rs := subnetA4, subnetB4
			if m.v6 {
				ls, rs = subnetA6, subnetB6
			}
			if s.h == b {
				ls, rs = rs, ls
			}
			s.out, s.in, err = conformance.TunnelFilters(s.h.api, ls, rs)
			s.traffic = conformance.TunnelTraffic(local, remote, s.out)
			s.inTraffc = conformance.TunnelTraffic(local, remote, s.in)
		} else {
			s.out, s.in, err = conformance.TransportFilters(s.h.api, local, remote)
			s.traffic = conformance.TransportTraffic(local, remote, s.out)
			s.inTraffc = conformance.TransportTraffic(local, remote, s.in)
		}
		if err != nil {
			tb.Fatalf("%s: filters: %v", s.h.name, err)
		}
		if s.h == a {
			p.outFilterA = s.out
		}
		*s.ctx, _, err = s.h.api.IPsecSaContextCreate1(&s.traffic, nil)
		if err != nil {
			tb.Fatalf("%s: create: %v", s.h.name, err)
		}
		gs := conformance.GetSPI(s.inTraffc)
		if m.udp {
			pa := m.portA
			if pa == 0 {
				pa = 4500
			}
			u := &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: pa, RemoteUDPEncapPort: 4500}
			if s.h == b {
				u.LocalUDPEncapPort, u.RemoteUDPEncapPort = 4500, pa
			}
			gs.InboundUDPEncapsulation = u
		}
		*s.spi, err = s.h.api.IPsecSaContextGetSpi1(*s.ctx, gs)
		if err != nil {
			tb.Fatalf("%s: getspi: %v", s.h.name, err)
		}
	}
	v := wfp.IPVersionV4
	if lo, _ := m.endpoints(a, b); lo.Is6() {
		v = wfp.IPVersionV6
	}
	for _, s := range sides {
		inKeys, outKeys, peerSPI := p.keysBA, p.keysAB, p.spiB
		if s.h == b {
			inKeys, outKeys, peerSPI = p.keysAB, p.keysBA, p.spiA
		}
		in := m.bundle(v, *s.spi, inKeys)
		out := m.bundle(v, peerSPI, outKeys)
		in.Lifetime, out.Lifetime = m.lifetime, m.lifetime
		if err := s.h.api.IPsecSaContextAddInbound1(*s.ctx, in); err != nil {
			tb.Fatalf("%s: add inbound: %v", s.h.name, err)
		}
		if err := s.h.api.IPsecSaContextAddOutbound1(*s.ctx, out); err != nil {
			tb.Fatalf("%s: add outbound: %v", s.h.name, err)
		}
	}
	return p
}
