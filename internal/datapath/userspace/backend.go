package userspace

import (
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/internal/rcu"
	"github.com/sadb-dev/sadb/wfp"
)

// state is the Backend's life cycle:
//
//	New ──▶ up ──Close──▶ closing ──(goroutines gone, routes and rules removed)──▶ closed
//
// It is read atomically by the programming calls, which refuse work once
// the backend is closing, and changed by Close.
type state uint32

const (
	stateUp state = iota
	stateClosing
	stateClosed
)

func (s state) String() string {
	switch s {
	case stateUp:
		return "up"
	case stateClosing:
		return "closing"
	case stateClosed:
		return "closed"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// errClosedBackend is returned by the programming calls after Close.
var errClosedBackend = errors.New("userspace: the backend is closed")

// spiKey identifies an inbound SA on the wire.
type spiKey struct {
	proto uint8 // protoESP or protoAH
	spi   uint32
}

// Backend is the userspace data path: ESP and AH over a TUN device, as a
// datapath.Backend. Create it with New and stop it with Close. It is safe
// for concurrent use; see the package documentation for what runs where.
type Backend struct {
	cfg      Config
	log      *slog.Logger
	nl       *netlink.Handle // bound to the network namespace New ran in
	ns       netns.NsHandle  // that namespace, for sockets opened later
	dev      *tunDev
	tunName  string
	tunIndex int

	// Sockets, opened by New and closed by Close. raw4/raw6 receive ESP
	// and send every outer packet (ESP, AH and clear) on their sending
	// twins (sock.out); ah4/ah6 receive AH. raw6 and ah6 are nil when the
	// namespace has no IPv6.
	raw4, raw6, ah4, ah6 *sock

	state   atomic.Uint32 // a state
	handler atomic.Pointer[datapath.Handler]
	stats   stats
	ipID    atomic.Uint32 // IPv4 Identification / IPv6 fragment ids of outer packets
	// lastSendErrLog is when a send error was last logged (Unix ns).
	lastSendErrLog atomic.Int64

	// done is closed by Close (stop); the housekeeping goroutine watches
	// it. kick wakes the event reporter.
	done     chan struct{}
	stopOnce sync.Once
	kick     chan struct{}
	wg       sync.WaitGroup // the packet and housekeeping goroutines
	// notices queues the SAs with events or failures to report.
	notices notices

	// mu serializes programming (filters, SAs, routes, UDP sockets) and
	// the writers of tab.
	mu sync.Mutex // guards the fields below
	// +checklocks:mu
	filters map[uint64]*filterEntry
	// +checklocks:mu
	sas map[datapath.SAID]*saEntry
	// +checklocks:mu
	routes map[netip.Prefix]*routeRef
	// +checklocks:mu
	udpSocks map[uint16]*udpRef
	// +checklocks:mu
	order uint64

	// tab is what the packet goroutines look up, without locks:
	// read-copy-update maps and indexes that programming (under mu)
	// changes one entry at a time and publishes with atomic stores, so
	// that neither a packet waits for programming nor programming for a
	// batch of packets. See rcu.Map and spdIndex.
	tab tables
}

// tables are the backend's lookup tables.
type tables struct {
	// spd[0] are the IPv4 outbound rules, spd[1] the IPv6 ones.
	spd [2]*spdIndex
	// out holds the outbound SAs by outKey, newest first.
	out *rcu.Map[outKey, *saList]
	// outShapes has bit s set while some outbound SA is filed under an
	// outKey of shape s (bundle.key): the shapes a lookup tries. The
	// writer counts them in shapeRefs.
	outShapes atomic.Uint32
	shapeRefs [16]int
	// in holds the inbound SAs by protocol and SPI; an ESP+AH bundle is
	// there twice.
	in *rcu.Map[spiKey, *bundle]
	// all holds every SA.
	all *rcu.Map[datapath.SAID, *bundle]
	// udpOut holds the outbound SAs in UDP, for NAT keepalives.
	udpOut *rcu.Map[datapath.SAID, *bundle]
	// gen counts the changes to spd and out; the packet goroutines'
	// flow caches are valid for one generation.
	gen atomic.Uint64
}

func newTables() tables {
	return tables{
		spd:    [2]*spdIndex{newSPDIndex(true), newSPDIndex(false)},
		out:    rcu.New[outKey, *saList](hashOutKey),
		in:     rcu.New[spiKey, *bundle](hashSPIKey),
		all:    rcu.New[datapath.SAID, *bundle](hashSAID),
		udpOut: rcu.New[datapath.SAID, *bundle](hashSAID),
	}
}

// outKey files an outbound SA: by the filter (or tunnel policy) its
// traffic refers to, in transport mode its addresses, and the protocol
// and ports its traffic narrows it to. SAs filed under one key have the
// same selectors, so the newest live one carries the key's traffic.
type outKey struct {
	filter                uint64
	local, remote         netip.Addr // zero in tunnel mode
	localPort, remotePort uint16
	proto                 uint8
}

// Shapes of outKeys: which fields an SA's key sets.
const (
	shapeAddrs = 1 << iota
	shapeProto
	shapeLocalPort
	shapeRemotePort
)

func hashOutKey(k outKey) uint64 {
	return hashAddr(hashAddr(rcu.Mix64(k.filter^uint64(k.proto)<<56^uint64(k.localPort)<<40^uint64(k.remotePort)<<24), k.local), k.remote)
}

// key returns where d is filed in tables.out, and the key's shape.
func (d *bundle) key() (outKey, int) {
	k := outKey{filter: d.filterID, proto: d.proto, localPort: d.localPort, remotePort: d.remotePort}
	shape := 0
	if !d.tunnel {
		k.local, k.remote = d.local, d.remote
		shape |= shapeAddrs
	}
	if d.proto != 0 {
		shape |= shapeProto
	}
	if d.localPort != 0 {
		shape |= shapeLocalPort
	}
	if d.remotePort != 0 {
		shape |= shapeRemotePort
	}
	return k, shape
}

// outboundSA returns the newest live outbound SA of rule r that may carry
// the flow fl of the given inner IP version, or nil: for each shape of
// key in use, the flow's key of that shape.
func (t *tables) outboundSA(r *rule, fl *flow, v4 bool) *bundle {
	var best *bundle
	fits := func(c *bundle) bool { return !c.st.dead.Load() && c.innerV4 == v4 && c.matchesOutbound(fl) }
	for shapes := t.outShapes.Load(); shapes != 0; shapes &= shapes - 1 {
		s := bits.TrailingZeros32(shapes)
		k := outKey{filter: r.id}
		if s&shapeAddrs != 0 {
			k.local, k.remote = fl.local, fl.remote
		}
		if s&shapeProto != 0 {
			k.proto = fl.proto
		}
		if s&shapeLocalPort != 0 {
			k.localPort = fl.localPort
		}
		if s&shapeRemotePort != 0 {
			k.remotePort = fl.remotePort
		}
		var floor uint64
		if best != nil {
			floor = best.order + 1
		}
		if c := t.out.Get(k).first(floor, fits); c != nil {
			best = c
		}
	}
	return best
}

// filterEntry is what the backend keeps of a filter.
type filterEntry struct {
	info   *filterInfo
	routes []netip.Prefix // routes it holds references on
	// allRemote is set for an outbound IPsec filter without remote
	// address conditions: its SAs route their own remote address.
	allRemote bool
}

// saEntry is an installed SA with the resources it holds.
type saEntry struct {
	d      *bundle
	routes []netip.Prefix
	port   uint16 // UDP port it holds a reference on; 0 for none
}

// udpRef is a UDP socket and how many SAs (plus the default port) use it.
type udpRef struct {
	s    *sock
	refs int
}

var _ datapath.Backend = (*Backend)(nil)

// New creates the TUN device, opens the sockets, installs the routing
// rules and starts the packet goroutines, all in the network namespace of
// the calling thread. The caller closes the Backend.
func New(cfg Config) (*Backend, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Backend{
		cfg:      cfg,
		log:      cfg.Logger,
		ns:       netns.None(),
		done:     make(chan struct{}),
		kick:     make(chan struct{}, 1),
		filters:  map[uint64]*filterEntry{},
		sas:      map[datapath.SAID]*saEntry{},
		routes:   map[netip.Prefix]*routeRef{},
		udpSocks: map[uint16]*udpRef{},
	}
	b.tab = newTables()
	ok := false
	defer func() {
		if !ok {
			b.release()
		}
	}()
	if b.ns, err = netns.Get(); err != nil {
		return nil, fmt.Errorf("userspace: network namespace: %w", err)
	}
	if b.nl, err = netlink.NewHandle(); err != nil {
		return nil, fmt.Errorf("userspace: netlink: %w", err)
	}
	if b.dev, err = openTUN(cfg.TUN); err != nil {
		return nil, fmt.Errorf("userspace: creating TUN device %s: %w", cfg.TUN, err)
	}
	b.tunName = b.dev.name
	if err := b.setupLink(); err != nil {
		return nil, err
	}
	if b.raw4, err = openRaw(false, unix.IPPROTO_ESP, cfg.Mark, true); err != nil {
		return nil, err
	}
	if b.ah4, err = openRaw(false, unix.IPPROTO_AH, cfg.Mark, false); err != nil {
		return nil, err
	}
	if b.raw6, err = openRaw(true, unix.IPPROTO_ESP, cfg.Mark, true); err != nil {
		b.log.Warn("no IPv6: IPv6 SAs will not carry traffic", "err", err)
		b.raw6 = nil
	} else if b.ah6, err = openRaw(true, unix.IPPROTO_AH, cfg.Mark, false); err != nil {
		return nil, err
	}
	b.mu.Lock()
	err = b.refUDPLocked(cfg.UDPPort)
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	b.flushTable()
	if err := b.addRules(); err != nil {
		return nil, err
	}

	b.wg.Add(1)
	go b.outboundLoop(newOutbound(b, b.dev))
	for _, s := range []*sock{b.raw4, b.raw6} {
		if s != nil {
			b.startReader(s, protoESP, ibatchRegions)
		}
	}
	for _, s := range []*sock{b.ah4, b.ah6} {
		if s != nil {
			b.startReader(s, protoAH, ahRegions)
		}
	}
	b.wg.Add(1)
	go b.housekeeping()
	ok = true
	b.log.Info("userspace data path up", "tun", b.tunName, "mtu", cfg.MTU, "table", cfg.Table,
		"mark", fmt.Sprintf("%#x", cfg.Mark), "udp_port", cfg.UDPPort, "replay_window", cfg.ReplayWindow,
		"uso", b.dev.uso)
	return b, nil
}

// startReader starts the goroutine that receives proto on s, with batches
// of the given number of messages.
func (b *Backend) startReader(s *sock, proto uint8, regions int) {
	b.wg.Add(1)
	go b.inboundLoop(newInbound(b, s, proto, regions))
}

// stop closes done, once: the goroutines end their loops.
func (b *Backend) stop() { b.stopOnce.Do(func() { close(b.done) }) }

// TUN returns the name of the backend's TUN device.
func (b *Backend) TUN() string { return b.tunName }

// Stats returns the aggregate packet counters.
func (b *Backend) Stats() Stats { return b.stats.snapshot() }

// Close stops the packet goroutines, removes the routes, rules and the TUN
// device, closes the sockets and wipes the keys. It returns once every
// goroutine has ended; later calls do nothing.
func (b *Backend) Close() error {
	if !b.state.CompareAndSwap(uint32(stateUp), uint32(stateClosing)) {
		return nil
	}
	b.stop()
	b.release()
	b.state.Store(uint32(stateClosed))
	b.log.Info("userspace data path closed", "tun", b.tunName)
	return nil
}

// release undoes New: it closes the device and sockets (which ends the
// goroutines), waits for them, and removes what New installed.
func (b *Backend) release() {
	b.stop()
	if b.dev != nil {
		b.dev.Close()
	}
	for _, s := range []*sock{b.raw4, b.raw6, b.ah4, b.ah6} {
		if s != nil {
			s.close()
		}
	}
	b.mu.Lock()
	for _, u := range b.udpSocks {
		u.s.close()
	}
	b.mu.Unlock()
	b.wg.Wait()

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nl != nil {
		b.delRules()
		for p, r := range b.routes {
			_ = b.nl.RouteDel(r.route)
			delete(b.routes, p)
		}
		b.nl.Close()
	}
	if b.ns.IsOpen() {
		b.ns.Close()
	}
	for id, e := range b.sas {
		e.d.st.wipe()
		delete(b.sas, id)
	}
	clear(b.udpSocks)
	b.tab.in.Clear()
	b.tab.out.Clear()
	b.tab.all.Clear()
	b.tab.udpOut.Clear()
	b.tab.spd = [2]*spdIndex{newSPDIndex(true), newSPDIndex(false)}
}

// up reports whether the backend takes programming calls.
func (b *Backend) up() error {
	if state(b.state.Load()) != stateUp {
		return errClosedBackend
	}
	return nil
}

// Features says what the backend supports. Sequence numbers are 32 bits:
// WFP bundles have no way to ask for ESN.
func (b *Backend) Features() datapath.Features {
	return datapath.Features{
		Packets:          true,
		UDPEncapsulation: true,
		Tunnel:           true,
		Transport:        true,
		AH:               true,
		ReplayWindow:     b.cfg.ReplayWindow,
	}
}

// SetHandler sets where events go.
func (b *Backend) SetHandler(h datapath.Handler) {
	if h == nil {
		b.handler.Store(nil)
		return
	}
	b.handler.Store(&h)
}

// AddFilter adds f to the SPD and, for an outbound IPsec filter, routes
// its remote addresses into the TUN device.
func (b *Backend) AddFilter(f *wfp.FwpmFilter0) error {
	if err := b.up(); err != nil {
		return err
	}
	if f == nil {
		return wfp.Errorf(wfp.ErrNullPointer, "nil filter")
	}
	fi := compileFilter(f)
	b.mu.Lock()
	defer b.mu.Unlock()
	// A filter added again replaces the old one: the new one's routes and
	// rule go in before the old one's leave, so that its traffic never
	// finds neither.
	old := b.filters[fi.id]
	e := &filterEntry{info: fi}
	if fi.outbound && fi.isIPsec {
		prefixes, all := fi.conds.prefixes(fieldRemoteAddr, fi.v4, maxRoutesPerFilter)
		e.allRemote = all
		if len(prefixes) == maxRoutesPerFilter {
			b.log.Warn("a filter's remote addresses need more routes than allowed; the rest stays unrouted",
				"filter", fi.id, "routes", maxRoutesPerFilter)
		}
		if err := b.refRoutesLocked(prefixes, b.filterSource(fi)); err != nil {
			return err
		}
		e.routes = prefixes
	}
	b.filters[fi.id] = e
	if fi.rule != nil {
		b.tab.spd[fi.version()].add(fi.rule)
	}
	if old != nil {
		b.dropFilterLocked(old)
	}
	b.tab.gen.Add(1)
	return nil
}

// version returns the SPD a filter's rule goes in: 0 for IPv4, 1 for
// IPv6.
func (fi *filterInfo) version() int {
	if fi.v4 {
		return 0
	}
	return 1
}

// filterSource returns the source address for the routes of an outbound
// IPsec filter: its local address when the condition names exactly one
// (transport), or a local address inside its local subnets (tunnel).
func (b *Backend) filterSource(fi *filterInfo) netip.Addr {
	var ivs []ival
	for _, c := range fi.conds {
		if c.f == fieldLocalAddr {
			ivs = c.ivs
		}
	}
	if len(ivs) == 0 {
		return netip.Addr{}
	}
	if !fi.tunnel && len(ivs) == 1 && ivs[0].lo == ivs[0].hi {
		return u128Addr(ivs[0].lo, fi.v4)
	}
	return b.localIn(ivs, fi.v4)
}

// DeleteFilter removes a filter and the routes only it wanted.
func (b *Backend) DeleteFilter(id uint64) error {
	if err := b.up(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deleteFilterLocked(id)
	return nil
}

// deleteFilterLocked removes filter id. The caller must hold b.mu.
func (b *Backend) deleteFilterLocked(id uint64) {
	e := b.filters[id]
	if e == nil {
		return
	}
	delete(b.filters, id)
	b.dropFilterLocked(e)
	b.tab.gen.Add(1)
}

// dropFilterLocked takes e's rule out of the SPD and releases its routes.
// The caller must hold b.mu.
func (b *Backend) dropFilterLocked(e *filterEntry) {
	if e.info.rule != nil {
		b.tab.spd[e.info.version()].remove(e.info.rule)
	}
	b.unrefRoutesLocked(e.routes)
}

// CheckSA says whether AddSA would take sa, changing nothing.
func (b *Backend) CheckSA(sa *datapath.SA) error {
	if err := b.up(); err != nil {
		return err
	}
	if sa == nil {
		return wfp.Errorf(wfp.ErrNullPointer, "nil SA")
	}
	d, err := b.newBundle(sa)
	if err != nil {
		return err
	}
	defer d.st.wipe()
	if d.inbound {
		return b.spiFree(d)
	}
	return nil
}

// spiFree checks that no other inbound SA uses d's SPIs. It is advisory
// unless the caller holds b.mu.
func (b *Backend) spiFree(d *bundle) error {
	for _, k := range d.spiKeys() {
		if o := b.tab.in.Get(k); o != nil && o.id != d.id {
			return wfp.Errorf(wfp.ErrAlreadyExists, "inbound SPI %#x (protocol %d) is already used by SA context %d", k.spi, k.proto, o.id.Context)
		}
	}
	return nil
}

// spiKeys returns the wire identities of an inbound bundle.
func (d *bundle) spiKeys() []spiKey {
	var ks []spiKey
	if d.st.esp != nil {
		ks = append(ks, spiKey{protoESP, uint32(d.st.esp.SPI())})
	}
	if d.st.ah != nil {
		ks = append(ks, spiKey{protoAH, uint32(d.st.ah.SPI())})
	}
	return ks
}

// AddSA installs one direction of an SA context.
func (b *Backend) AddSA(sa *datapath.SA) error {
	if err := b.up(); err != nil {
		return err
	}
	if sa == nil {
		return wfp.Errorf(wfp.ErrNullPointer, "nil SA")
	}
	d, err := b.newBundle(sa)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.sas[d.id]; dup {
		d.st.wipe()
		return fmt.Errorf("userspace: SA %d/%v is already installed", d.id.Context, d.id.Direction)
	}
	e := &saEntry{d: d}
	if err := b.acquireLocked(e, nil); err != nil {
		d.st.wipe()
		return err
	}
	if d.inbound {
		if err := b.spiFree(d); err != nil {
			b.releaseLocked(e)
			d.st.wipe()
			return err
		}
	}
	b.order++
	d.order = b.order
	b.insertLocked(d)
	b.sas[d.id] = e
	return nil
}

// acquireLocked takes what the SA of e needs beyond the tables: its UDP
// socket, its routes and its path MTU. prev, if not nil, is the entry e
// replaces; resources both want are kept. On error nothing is taken. The
// caller must hold b.mu.
func (b *Backend) acquireLocked(e *saEntry, prev *saEntry) error {
	d := e.d
	if d.udp != nil {
		if err := b.refUDPLocked(d.udp.localPort); err != nil {
			return err
		}
		e.port = d.udp.localPort
		d.usock = b.udpSocks[e.port].s
	}
	if !d.inbound {
		d.pmtu = b.pathMTU(d.remote)
		fe := b.filters[d.filterID]
		if !d.tunnel && (fe == nil || fe.allRemote) {
			bits := 128
			if d.remote.Is4() {
				bits = 32
			}
			routes := []netip.Prefix{netip.PrefixFrom(d.remote, bits)}
			if err := b.refRoutesLocked(routes, d.local); err != nil {
				if e.port != 0 {
					b.unrefUDPLocked(e.port)
				}
				return err
			}
			e.routes = routes
		}
		// Lower the MTU of the routes into the TUN device so that what
		// the SA protects still fits the path once protected.
		routes := e.routes
		if fe != nil {
			routes = append(routes, fe.routes...)
		}
		b.clampRoutesLocked(routes, d.pmtu-d.overhead())
	}
	return nil
}

// releaseLocked gives back what acquireLocked took. The caller must hold
// b.mu.
func (b *Backend) releaseLocked(e *saEntry) {
	b.unrefRoutesLocked(e.routes)
	if e.port != 0 {
		b.unrefUDPLocked(e.port)
	}
	e.routes, e.port = nil, 0
}

// insertLocked puts d in the lookup tables, in place of an SA with its id
// if there is one (in the same publication where their keys are the
// same). The caller must hold b.mu.
func (b *Backend) insertLocked(d *bundle) {
	old := b.tab.all.Get(d.id)
	b.tab.all.Store(d.id, d)
	if !d.inbound && d.udp != nil {
		b.tab.udpOut.Store(d.id, d)
	} else if old != nil && b.tab.udpOut.Get(d.id) == old {
		b.tab.udpOut.Remove(d.id)
	}
	if d.inbound {
		for _, k := range d.spiKeys() {
			b.tab.in.Store(k, d)
		}
		if old != nil {
			for _, k := range old.spiKeys() {
				if c := b.tab.in.Get(k); c == old {
					b.tab.in.Remove(k)
				}
			}
		}
		return
	}
	k, shape := d.key()
	b.tab.out.Store(k, b.tab.out.Get(k).with(d))
	if b.tab.shapeRefs[shape]++; b.tab.shapeRefs[shape] == 1 {
		b.tab.outShapes.Or(1 << shape)
	}
	if old != nil {
		if ok, oshape := old.key(); ok != k {
			b.removeOutLocked(old)
		} else {
			b.tab.shapeRefs[oshape]-- // replaced in its list
		}
	}
	b.tab.gen.Add(1)
}

// removeLocked takes d out of the lookup tables. The caller must hold b.mu.
func (b *Backend) removeLocked(d *bundle) {
	if b.tab.all.Get(d.id) == d {
		b.tab.all.Remove(d.id)
	}
	if b.tab.udpOut.Get(d.id) == d {
		b.tab.udpOut.Remove(d.id)
	}
	if d.inbound {
		for _, k := range d.spiKeys() {
			if b.tab.in.Get(k) == d {
				b.tab.in.Remove(k)
			}
		}
		return
	}
	b.removeOutLocked(d)
	b.tab.gen.Add(1)
}

// removeOutLocked takes the outbound SA d out of its list. The caller must
// hold b.mu.
func (b *Backend) removeOutLocked(d *bundle) {
	k, shape := d.key()
	l := b.tab.out.Get(k)
	nl := l.without(d)
	if nl == l {
		return // not there
	}
	if nl == nil {
		b.tab.out.Remove(k)
	} else {
		b.tab.out.Store(k, nl)
	}
	if b.tab.shapeRefs[shape]--; b.tab.shapeRefs[shape] == 0 {
		b.tab.outShapes.And(^uint32(1 << shape))
	}
}

// UpdateSA replaces the description of an installed SA; its transforms,
// sequence numbers, replay window and counters carry over.
func (b *Backend) UpdateSA(sa *datapath.SA) error {
	if err := b.up(); err != nil {
		return err
	}
	if sa == nil {
		return wfp.Errorf(wfp.ErrNullPointer, "nil SA")
	}
	d, err := b.describe(sa)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.sas[d.id]
	if old == nil {
		return fmt.Errorf("userspace: updating SA %d/%v, which is not installed", d.id.Context, d.id.Direction)
	}
	if d.udp != nil && old.d.st.ah != nil {
		return wfp.Errorf(wfp.ErrInvalidParameter, "AH cannot be carried in UDP (RFC 3948 encapsulates ESP only)")
	}
	d.setState(old.d.st)
	d.order = old.d.order
	e := &saEntry{d: d}
	if err := b.acquireLocked(e, old); err != nil {
		return err
	}
	b.insertLocked(d) // replaces old.d
	b.releaseLocked(old)
	b.sas[d.id] = e
	return nil
}

// DeleteSA removes an SA and wipes its keys.
func (b *Backend) DeleteSA(id datapath.SAID) error {
	if err := b.up(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.sas[id]
	if e == nil {
		return nil
	}
	delete(b.sas, id)
	b.removeLocked(e.d)
	b.releaseLocked(e)
	e.d.st.wipe()
	return nil
}

// Counters returns an SA's counters.
func (b *Backend) Counters(id datapath.SAID) (wfp.SACounters, bool) {
	d := b.tab.all.Get(id)
	if d == nil {
		return wfp.SACounters{}, false
	}
	return d.st.counters(), true
}

// Statistics fills the drop and traffic statistics.
func (b *Backend) Statistics(st *wfp.IPsecStatistics1) { b.stats.fill(st) }

// refUDPLocked takes a reference on the UDP socket of port, opening it
// (and starting its reader) if needed. The caller must hold b.mu.
func (b *Backend) refUDPLocked(port uint16) error {
	if u := b.udpSocks[port]; u != nil {
		u.refs++
		return nil
	}
	if err := b.up(); err != nil {
		return err // Close is waiting for the readers: start no more
	}
	var s *sock
	err := b.inNS(func() (err error) {
		s, err = openUDP(port, b.cfg.Mark)
		return err
	})
	if err != nil {
		return err
	}
	b.udpSocks[port] = &udpRef{s: s, refs: 1}
	b.startReader(s, protoESP, ibatchRegions)
	return nil
}

// unrefUDPLocked drops a reference on port's socket and closes it when no
// one uses it. The caller must hold b.mu.
func (b *Backend) unrefUDPLocked(port uint16) {
	u := b.udpSocks[port]
	if u == nil {
		return
	}
	if u.refs--; u.refs > 0 {
		return
	}
	delete(b.udpSocks, port)
	u.s.close()
}

// inNS runs fn on a thread in the backend's network namespace: sockets
// opened later (UDP ports of new SAs) must live there, whichever
// goroutine programs the backend.
func (b *Backend) inNS(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		cur, err := netns.Get()
		if err != nil {
			errc <- err
			return // the thread stays locked and ends with the goroutine
		}
		defer cur.Close()
		if cur.Equal(b.ns) {
			runtime.UnlockOSThread()
			errc <- fn()
			return
		}
		if err := netns.Set(b.ns); err != nil {
			errc <- fmt.Errorf("userspace: entering the backend's network namespace: %w", err)
			return
		}
		errc <- fn()
		if netns.Set(cur) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

// emit sends ev to the handler, if any.
func (b *Backend) emit(ev datapath.Event) {
	if h := b.handler.Load(); h != nil {
		(*h)(ev)
	}
}

// wake asks the event reporter to look for pending events now.
func (b *Backend) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// protoName names an IPsec protocol for logs.
func protoName(p uint8) string {
	if p == protoAH {
		return "AH"
	}
	return "ESP"
}
