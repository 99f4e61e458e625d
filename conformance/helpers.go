package conformance

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sadb-dev/sadb/wfp"
)

// asyncDeadline bounds every real-time wait for something the engine does
// asynchronously (subscription callbacks, key notifications).
const asyncDeadline = 5 * time.Second

// open opens a session as tok and closes it when the test ends.
func open(t testing.TB, h Harness, tok wfp.Token, s *wfp.FwpmSession0) wfp.API {
	t.Helper()
	api, err := h.Open(tok, s)
	if err != nil {
		t.Fatalf("FwpmEngineOpen0(%v): %v", tok, err)
	}
	t.Cleanup(func() { _ = api.FwpmEngineClose0() })
	return api
}

// openAdmin opens an administrator session that receives key material.
func openAdmin(t testing.TB, h Harness) wfp.API {
	t.Helper()
	return open(t, h, h.Admin(), &wfp.FwpmSession0{Flags: wfp.SessionFlagKeyMaterial})
}

func mustOK(t testing.TB, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}

// wantErr checks that err carries code want (errors.Is).
func wantErr(t testing.TB, err error, want wfp.Error, format string, args ...any) bool {
	t.Helper()
	what := fmt.Sprintf(format, args...)
	if err == nil {
		t.Errorf("%s: succeeded, want %s", what, want.Name())
		return false
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: got %s (%v), want %s", what, wfp.Code(err).Name(), err, want.Name())
		return false
	}
	return true
}

// mustErr is wantErr that stops the test.
func mustErr(t testing.TB, err error, want wfp.Error, format string, args ...any) {
	t.Helper()
	if !wantErr(t, err, want, format, args...) {
		t.FailNow()
	}
}

// diff compares two values the way the suite reads them back: nil and
// empty slices are the same.
func diff(want, got any) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

// fixture is a fresh engine with an administrator session (with key
// material) and transport filters for peer A (local) talking to peer B, in
// both IP versions.
type fixture struct {
	h   Harness
	api wfp.API
	f4  peerFilters
	f6  peerFilters
	// tun4 and tun6 are tunnel filters (policies), added on first use.
	tun4, tun6 *peerFilters
	// extra filters for error cases, added by extras.
	extra *extraFilters
	// seq makes keys and outbound SPIs distinct per context.
	seq byte
}

// peerFilters are the transport filters for one IP version.
type peerFilters struct {
	local, remote netip.Addr
	out, in       uint64
}

func (s *suite) fixture(t *testing.T) *fixture {
	t.Helper()
	h := s.f(t)
	return newFixtureOn(t, h)
}

func newFixtureOn(t testing.TB, h Harness) *fixture {
	t.Helper()
	fx := &fixture{h: h, api: openAdmin(t, h)}
	fx.f4 = fx.addTransport(t, fx.api, PeerA4, PeerB4)
	fx.f6 = fx.addTransport(t, fx.api, PeerA6, PeerB6)
	return fx
}

func (fx *fixture) addTransport(t testing.TB, api wfp.API, local, remote netip.Addr) peerFilters {
	t.Helper()
	out, in, err := TransportFilters(api, local, remote)
	mustOK(t, err, "TransportFilters(%v, %v)", local, remote)
	return peerFilters{local: local, remote: remote, out: out, in: in}
}

func (fx *fixture) filters(v wfp.IPVersion) peerFilters {
	if v == wfp.IPVersionV6 {
		return fx.f6
	}
	return fx.f4
}

// Inner selectors of the suite's tunnels.
var (
	InnerA4 = netip.MustParsePrefix("10.1.0.0/16")
	InnerB4 = netip.MustParsePrefix("10.2.0.0/16")
	InnerA6 = netip.MustParsePrefix("fd00:a::/64")
	InnerB6 = netip.MustParsePrefix("fd00:b::/64")
)

// tunnel returns tunnel filters for version v (inner and outer versions
// equal), adding them on first use.
func (fx *fixture) tunnel(t testing.TB, v wfp.IPVersion) peerFilters {
	t.Helper()
	p := &fx.tun4
	a, b, la, lb := InnerA4, InnerB4, PeerA4, PeerB4
	if v == wfp.IPVersionV6 {
		p, a, b, la, lb = &fx.tun6, InnerA6, InnerB6, PeerA6, PeerB6
	}
	if *p == nil {
		out, in, err := TunnelFilters(fx.api, a, b)
		mustOK(t, err, "TunnelFilters(%v, %v)", a, b)
		*p = &peerFilters{local: la, remote: lb, out: out, in: in}
	}
	return **p
}

// extraFilters are filters some error cases refer to.
type extraFilters struct {
	permitOut4, permitIn4 uint64 // PERMIT filters at the IPv4 transport layers
	dupOut4               uint64 // a second outbound IPv4 transport filter for peer A -> peer B
}

// extras adds the tunnel filters of both versions and the extra filters
// (once) so that a case can refer to them without changing the state
// between its snapshots.
func (fx *fixture) extras(t testing.TB) *extraFilters {
	t.Helper()
	if fx.extra == nil {
		fx.tunnel(t, wfp.IPVersionV4)
		fx.tunnel(t, wfp.IPVersionV6)
		e := &extraFilters{}
		var err error
		e.permitOut4, err = fx.api.FwpmFilterAdd0(&wfp.FwpmFilter0{DisplayData: wfp.FwpmDisplayData0{Name: "permit out"},
			LayerKey: wfp.LayerOutboundTransportV4, Action: wfp.FwpmAction0{Type: wfp.ActionPermit}}, nil)
		mustOK(t, err, "FwpmFilterAdd0")
		e.permitIn4, err = fx.api.FwpmFilterAdd0(&wfp.FwpmFilter0{DisplayData: wfp.FwpmDisplayData0{Name: "permit in"},
			LayerKey: wfp.LayerInboundTransportV4, Action: wfp.FwpmAction0{Type: wfp.ActionPermit}}, nil)
		mustOK(t, err, "FwpmFilterAdd0")
		e.dupOut4, err = fx.api.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, PeerB4), nil)
		mustOK(t, err, "FwpmFilterAdd0")
		fx.extra = e
	}
	return fx.extra
}

// createTunnel creates a tunnel-mode context of version v.
func (fx *fixture) createTunnel(t testing.TB, api wfp.API, v wfp.IPVersion) *sactx {
	t.Helper()
	f := fx.tunnel(t, v)
	c := &sactx{v: v, out: TunnelTraffic(f.local, f.remote, f.out), getSpi: GetSPI(TunnelTraffic(f.local, f.remote, f.in))}
	id, _, err := api.IPsecSaContextCreate1(&c.out, nil)
	mustOK(t, err, "IPsecSaContextCreate1 (tunnel)")
	c.id = id
	fx.seq++
	c.inbound = GCMBundle(v, 0, TestKey(36, fx.seq))
	c.inbound.QMSAID = uint32(fx.seq)
	c.outbound = GCMBundle(v, 0x20000+uint32(fx.seq), TestKey(36, fx.seq^0xFF))
	c.outbound.QMSAID = uint32(fx.seq)
	return c
}

// sactx is an SA context the suite created, with what it was given.
type sactx struct {
	id       uint64
	v        wfp.IPVersion
	out      wfp.IPsecTraffic1 // given to Create
	getSpi   *wfp.IPsecGetSPI1
	spi      uint32
	inbound  *wfp.IPsecSABundle1
	outbound *wfp.IPsecSABundle1
}

// outboundTraffic returns the outbound traffic of a transport context.
func (fx *fixture) outboundTraffic(v wfp.IPVersion) wfp.IPsecTraffic1 {
	f := fx.filters(v)
	return TransportTraffic(f.local, f.remote, f.out)
}

// inboundGetSpi returns the IPSEC_GETSPI1 for a transport context.
func (fx *fixture) inboundGetSpi(v wfp.IPVersion) *wfp.IPsecGetSPI1 {
	f := fx.filters(v)
	return GetSPI(TransportTraffic(f.local, f.remote, f.in))
}

// create creates a transport context of version v in session api.
func (fx *fixture) create(t testing.TB, api wfp.API, v wfp.IPVersion) *sactx {
	t.Helper()
	c := &sactx{v: v, out: fx.outboundTraffic(v), getSpi: fx.inboundGetSpi(v)}
	id, _, err := api.IPsecSaContextCreate1(&c.out, nil)
	mustOK(t, err, "IPsecSaContextCreate1")
	c.id = id
	fx.seq++
	c.inbound = GCMBundle(v, 0, TestKey(20, fx.seq))
	c.inbound.QMSAID = uint32(fx.seq)
	c.outbound = GCMBundle(v, 0x10000+uint32(fx.seq), TestKey(20, fx.seq^0xFF))
	c.outbound.QMSAID = uint32(fx.seq)
	return c
}

func (c *sactx) inboundBundle() *wfp.IPsecSABundle1 {
	b := c.inbound.Clone()
	for i := range b.SAList {
		b.SAList[i].SPI = c.spi
	}
	return b
}

func (c *sactx) getSPI(t testing.TB, api wfp.API) {
	t.Helper()
	spi, err := api.IPsecSaContextGetSpi1(c.id, c.getSpi)
	mustOK(t, err, "IPsecSaContextGetSpi1(%d)", c.id)
	c.spi = spi
}

func (c *sactx) addInbound(t testing.TB, api wfp.API) {
	t.Helper()
	mustOK(t, api.IPsecSaContextAddInbound1(c.id, c.inboundBundle()), "IPsecSaContextAddInbound1(%d)", c.id)
}

func (c *sactx) addOutbound(t testing.TB, api wfp.API) {
	t.Helper()
	mustOK(t, api.IPsecSaContextAddOutbound1(c.id, c.outbound.Clone()), "IPsecSaContextAddOutbound1(%d)", c.id)
}

// ctxAt creates a transport context and drives it to state st.
func (fx *fixture) ctxAt(t testing.TB, api wfp.API, v wfp.IPVersion, st wfp.SAContextState) *sactx {
	t.Helper()
	c := fx.create(t, api, v)
	if st >= wfp.SAContextSPISet {
		c.getSPI(t, api)
	}
	if st >= wfp.SAContextInboundAdded {
		c.addInbound(t, api)
	}
	if st >= wfp.SAContextOutboundAdded {
		c.addOutbound(t, api)
	}
	if st == wfp.SAContextExpired {
		mustOK(t, api.IPsecSaContextExpire0(c.id), "IPsecSaContextExpire0(%d)", c.id)
	}
	return c
}

var allStates = []wfp.SAContextState{wfp.SAContextCreated, wfp.SAContextSPISet, wfp.SAContextInboundAdded, wfp.SAContextOutboundAdded, wfp.SAContextExpired}

// get reads a context with GetById1, failing the test on error.
func get(t testing.TB, api wfp.API, id uint64) *wfp.IPsecSAContext1 {
	t.Helper()
	sc, err := api.IPsecSaContextGetById1(id)
	mustOK(t, err, "IPsecSaContextGetById1(%d)", id)
	return sc
}

func wantState(t testing.TB, api wfp.API, id uint64, st wfp.SAContextState) {
	t.Helper()
	if got := get(t, api, id).State; got != st {
		t.Errorf("context %d: state %v, want %v", id, got, st)
	}
}

func wantGone(t testing.TB, api wfp.API, id uint64) {
	t.Helper()
	_, err := api.IPsecSaContextGetById1(id)
	wantErr(t, err, wfp.ErrNotFound, "IPsecSaContextGetById1(%d) of a deleted context", id)
}

// enumContexts lists every SA context (IPsecSaContextEnum1) with template tmpl.
func enumContexts(t testing.TB, api wfp.API, tmpl *wfp.IPsecSAContextEnumTemplate0) []*wfp.IPsecSAContext1 {
	t.Helper()
	h, err := api.IPsecSaContextCreateEnumHandle0(tmpl)
	mustOK(t, err, "IPsecSaContextCreateEnumHandle0")
	defer func() { mustOK(t, api.IPsecSaContextDestroyEnumHandle0(h), "IPsecSaContextDestroyEnumHandle0") }()
	var all []*wfp.IPsecSAContext1
	for {
		page, err := api.IPsecSaContextEnum1(h, 7)
		mustOK(t, err, "IPsecSaContextEnum1")
		all = append(all, page...)
		if len(page) < 7 {
			return all
		}
	}
}

// enumSAs lists every SA bundle (IPsecSaEnum1) with template tmpl.
func enumSAs(t testing.TB, api wfp.API, tmpl *wfp.IPsecSAEnumTemplate0) []*wfp.IPsecSADetails1 {
	t.Helper()
	h, err := api.IPsecSaCreateEnumHandle0(tmpl)
	mustOK(t, err, "IPsecSaCreateEnumHandle0")
	defer func() { mustOK(t, api.IPsecSaDestroyEnumHandle0(h), "IPsecSaDestroyEnumHandle0") }()
	var all []*wfp.IPsecSADetails1
	for {
		page, err := api.IPsecSaEnum1(h, 5)
		mustOK(t, err, "IPsecSaEnum1")
		all = append(all, page...)
		if len(page) < 5 {
			return all
		}
	}
}

// enumFilters lists every filter the session may read.
func enumFilters(t testing.TB, api wfp.API, tmpl *wfp.FwpmFilterEnumTemplate0) []*wfp.FwpmFilter0 {
	t.Helper()
	h, err := api.FwpmFilterCreateEnumHandle0(tmpl)
	mustOK(t, err, "FwpmFilterCreateEnumHandle0")
	defer func() { mustOK(t, api.FwpmFilterDestroyEnumHandle0(h), "FwpmFilterDestroyEnumHandle0") }()
	var all []*wfp.FwpmFilter0
	for {
		page, err := api.FwpmFilterEnum0(h, 9)
		mustOK(t, err, "FwpmFilterEnum0")
		all = append(all, page...)
		if len(page) < 9 {
			return all
		}
	}
}

func ids(cs []*wfp.IPsecSAContext1) []uint64 {
	out := make([]uint64, len(cs))
	for i, c := range cs {
		out[i] = c.SAContextID
	}
	return out
}

func filterIDs(fs []*wfp.FwpmFilter0) []uint64 {
	out := make([]uint64, len(fs))
	for i, f := range fs {
		out[i] = f.FilterID
	}
	return out
}

func netip4(s string) netip.Addr { return netip.MustParseAddr(s) }

// dbState is everything a session can observe of an engine.
type dbState struct {
	EngineSD      *wfp.SecurityDescriptor
	SADBSD        *wfp.SecurityDescriptor
	Contexts      []*wfp.IPsecSAContext1
	SAs           []*wfp.IPsecSADetails1
	Filters       []*wfp.FwpmFilter0
	Stats         *wfp.IPsecStatistics1 // nil when read inside a transaction
	Subscriptions []*wfp.IPsecSAContextSubscription0
	KeyManagers   []*wfp.IPsecKeyManager0
}

// snapshot reads the observable state through api (normally fx.api, an
// administrator session with key material).
func snapshot(t testing.TB, api wfp.API) dbState {
	t.Helper()
	var s dbState
	all := wfp.OwnerSecurityInformation | wfp.GroupSecurityInformation | wfp.DACLSecurityInformation
	var err0 error
	s.EngineSD, err0 = api.FwpmEngineGetSecurityInfo0(all)
	mustOK(t, err0, "FwpmEngineGetSecurityInfo0")
	s.SADBSD, err0 = api.IPsecSaDbGetSecurityInfo0(all)
	mustOK(t, err0, "IPsecSaDbGetSecurityInfo0")
	s.Contexts = enumContexts(t, api, nil)
	s.SAs = enumSAs(t, api, nil)
	s.Filters = enumFilters(t, api, nil)
	st, err := api.IPsecGetStatistics1()
	if err == nil {
		s.Stats = st
	} else if !errors.Is(err, wfp.ErrTxnInProgress) {
		t.Fatalf("IPsecGetStatistics1: %v", err)
	}
	var err2 error
	s.Subscriptions, err2 = api.IPsecSaContextSubscriptionsGet0()
	mustOK(t, err2, "IPsecSaContextSubscriptionsGet0")
	s.KeyManagers, err2 = api.IPsecKeyManagersGet0()
	mustOK(t, err2, "IPsecKeyManagersGet0")
	slices.SortFunc(s.Subscriptions, func(a, b *wfp.IPsecSAContextSubscription0) int {
		return slices.Compare(a.SessionKey[:], b.SessionKey[:])
	})
	slices.SortFunc(s.KeyManagers, func(a, b *wfp.IPsecKeyManager0) int {
		return slices.Compare(a.KeyManagerKey[:], b.KeyManagerKey[:])
	})
	return s
}

// wantUnchanged fails when the state differs from before.
func wantUnchanged(t testing.TB, before, after dbState, what string) {
	t.Helper()
	if d := diff(before, after); d != "" {
		t.Errorf("%s changed the engine state (-before +after):\n%s", what, d)
	}
}

// recorder collects the changes delivered to one subscription.
type recorder struct {
	mu     sync.Mutex // guards fields below
	events []wfp.IPsecSAContextChange0
	cursor int // events before it were already returned by take
}

func (r *recorder) callback(c *wfp.IPsecSAContextChange0) {
	r.mu.Lock()
	r.events = append(r.events, *c)
	r.mu.Unlock()
}

func (r *recorder) all() []wfp.IPsecSAContextChange0 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// subscribe subscribes api with template tmpl and returns the recorder.
func subscribe(t testing.TB, api wfp.API, tmpl *wfp.IPsecSAContextEnumTemplate0) (*recorder, wfp.SubscriptionHandle) {
	t.Helper()
	r := &recorder{}
	h, err := api.IPsecSaContextSubscribe0(&wfp.IPsecSAContextSubscription0{EnumTemplate: tmpl}, r.callback)
	mustOK(t, err, "IPsecSaContextSubscribe0")
	return r, h
}

// waitFor polls until cond holds for the recorded events (up to
// asyncDeadline) and returns them.
func (r *recorder) waitFor(t testing.TB, what string, cond func([]wfp.IPsecSAContextChange0) bool) []wfp.IPsecSAContextChange0 {
	t.Helper()
	deadline := time.Now().Add(asyncDeadline)
	for {
		ev := r.all()
		if cond(ev) {
			return ev
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: events so far %v", what, ev)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func hasEvent(ev []wfp.IPsecSAContextChange0, typ wfp.SAContextEventType, id uint64) int {
	for i, e := range ev {
		if e.ChangeType == typ && e.SAContextID == id {
			return i
		}
	}
	return -1
}

func add(id uint64) wfp.IPsecSAContextChange0 {
	return wfp.IPsecSAContextChange0{ChangeType: wfp.SAContextEventAdd, SAContextID: id}
}

func del(id uint64) wfp.IPsecSAContextChange0 {
	return wfp.IPsecSAContextChange0{ChangeType: wfp.SAContextEventDelete, SAContextID: id}
}

// sync is an event barrier. It creates and deletes a throw-away context
// through fx.api and waits until every recorder got its DELETE; since each
// subscription receives its events in commit order, what each recorder got
// before the barrier's ADD is exactly what was committed before. It returns,
// per recorder, the events received since the previous sync (barrier events
// excluded). The recorders' templates must match IPv4 peer A -> peer B
// contexts. fx.api must not be inside a transaction.
func (fx *fixture) sync(t testing.TB, rs ...*recorder) [][]wfp.IPsecSAContextChange0 {
	t.Helper()
	tr := fx.outboundTraffic(wfp.IPVersionV4)
	id, _, err := fx.api.IPsecSaContextCreate1(&tr, nil)
	mustOK(t, err, "barrier IPsecSaContextCreate1")
	mustOK(t, fx.api.IPsecSaContextDeleteById0(id), "barrier IPsecSaContextDeleteById0")
	out := make([][]wfp.IPsecSAContextChange0, len(rs))
	for i, r := range rs {
		ev := r.waitFor(t, fmt.Sprintf("barrier DELETE(%d)", id), func(ev []wfp.IPsecSAContextChange0) bool {
			return hasEvent(ev, wfp.SAContextEventDelete, id) >= 0
		})
		r.mu.Lock()
		a := hasEvent(ev, wfp.SAContextEventAdd, id)
		d := hasEvent(ev, wfp.SAContextEventDelete, id)
		if a < r.cursor || d != a+1 {
			r.mu.Unlock()
			t.Fatalf("barrier events out of order: %v (ADD at %d, DELETE at %d, cursor %d)", ev, a, d, r.cursor)
		}
		out[i] = slices.Clone(ev[r.cursor:a])
		r.cursor = d + 1
		r.mu.Unlock()
	}
	return out
}

// sync1 is sync for one recorder.
func (fx *fixture) sync1(t testing.TB, r *recorder) []wfp.IPsecSAContextChange0 {
	t.Helper()
	return fx.sync(t, r)[0]
}

// wantEvents checks events against want.
func wantEvents(t testing.TB, got, want []wfp.IPsecSAContextChange0, what string) {
	t.Helper()
	if d := diff(want, got); d != "" {
		t.Errorf("%s: events (-want +got):\n%s", what, d)
	}
}

// stripKeys returns a copy of b with every key set to nil.
func stripKeys(b *wfp.IPsecSABundle1) *wfp.IPsecSABundle1 {
	c := b.Clone()
	for i := range c.SAList {
		c.SAList[i].StripKeys()
	}
	return c
}

// keys returns every key blob of b, in SA order.
func keys(b *wfp.IPsecSABundle1) []wfp.Key {
	var out []wfp.Key
	for _, sa := range b.SAList {
		for _, a := range []*wfp.IPsecSAAuthInformation0{sa.AHInformation, sa.ESPAuthInformation, sa.ESPAuthFWInformation} {
			if a != nil {
				out = append(out, a.AuthKey)
			}
		}
		if sa.ESPCipherInformation != nil {
			out = append(out, sa.ESPCipherInformation.CipherKey)
		}
		if ac := sa.ESPAuthAndCipherInformation; ac != nil {
			out = append(out, ac.SACipherInformation.CipherKey, ac.SAAuthInformation.AuthKey)
		}
	}
	return out
}

// noKeys reports whether every key blob of b is empty.
func noKeys(b *wfp.IPsecSABundle1) bool {
	for _, k := range keys(b) {
		if len(k) != 0 {
			return false
		}
	}
	return true
}

// grantSADB replaces the SA database DACL by one granting the
// administrator everything and each sid the mask given, in order.
func grantSADB(t testing.TB, admin wfp.API, h Harness, aces ...wfp.ACE) {
	t.Helper()
	acl := wfp.ACL{{Type: wfp.AccessAllowed, Mask: wfp.GenericAll, SID: h.Admin().User}}
	acl = append(acl, aces...)
	mustOK(t, admin.IPsecSaDbSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &acl), "IPsecSaDbSetSecurityInfo0")
}

// grantEngine replaces the engine DACL by the default one (administrator
// everything, everyone OPEN|CLASSIFY) followed by aces.
func grantEngine(t testing.TB, admin wfp.API, h Harness, aces ...wfp.ACE) {
	t.Helper()
	acl := wfp.ACL{
		{Type: wfp.AccessAllowed, Mask: wfp.GenericAll, SID: h.Admin().User},
		{Type: wfp.AccessAllowed, Mask: wfp.ActrlOpen | wfp.ActrlClassify, SID: wfp.Everyone},
	}
	acl = append(acl, aces...)
	mustOK(t, admin.FwpmEngineSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &acl), "FwpmEngineSetSecurityInfo0")
}

func allow(sid wfp.SID, m wfp.AccessMask) wfp.ACE {
	return wfp.ACE{Type: wfp.AccessAllowed, Mask: m, SID: sid}
}

func deny(sid wfp.SID, m wfp.AccessMask) wfp.ACE {
	return wfp.ACE{Type: wfp.AccessDenied, Mask: m, SID: sid}
}

// needUsers skips the test when the harness has fewer than n users.
func needUsers(t testing.TB, h Harness, n int) {
	t.Helper()
	if h.Users() < n {
		t.Skipf("harness has %d unprivileged users, test needs %d", h.Users(), n)
	}
}
