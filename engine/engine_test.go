package engine

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/clock"
	"github.com/sadb-dev/sadb/wfp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestEngine(tb testing.TB, opts Options) (*Engine, *clock.Fake) {
	tb.Helper()
	clk := clock.NewFake(t0)
	if opts.Clock == nil {
		opts.Clock = clk
	}
	e, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e, clk
}

func openAdmin(tb testing.TB, e *Engine) wfp.API {
	tb.Helper()
	api, err := e.FwpmEngineOpen0(wfp.Token{User: wfp.UserSID(0)}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return api
}

// addTransportFilters adds the outbound and inbound IPsec transport filters
// for local<->remote and returns their ids.
func addTransportFilters(tb testing.TB, api wfp.API, local, remote wfp.V4Addr) (out, in uint64) {
	tb.Helper()
	conds := []wfp.FwpmFilterCondition0{
		wfp.ValueCondition(wfp.ConditionIPLocalAddressType, wfp.MatchEqual, wfp.Uint8Value(uint8(wfp.NlatUnicast))),
		wfp.ValueCondition(wfp.ConditionIPLocalAddress, wfp.MatchEqual, wfp.Uint32Value(uint32(local))),
		wfp.ValueCondition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.Uint32Value(uint32(remote))),
	}
	var err error
	out, err = api.FwpmFilterAdd0(&wfp.FwpmFilter0{DisplayData: wfp.FwpmDisplayData0{Name: "out"},
		LayerKey: wfp.LayerOutboundTransportV4, FilterCondition: conds,
		Action: wfp.FwpmAction0{Type: wfp.ActionCalloutTerminating, CalloutKey: wfp.CalloutIPsecOutboundTransportV4}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	in, err = api.FwpmFilterAdd0(&wfp.FwpmFilter0{DisplayData: wfp.FwpmDisplayData0{Name: "in"},
		LayerKey: wfp.LayerInboundTransportV4, FilterCondition: conds,
		Action: wfp.FwpmAction0{Type: wfp.ActionCalloutTerminating, CalloutKey: wfp.CalloutIPsecInboundTransportV4}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return out, in
}

func gcmBundle(spi uint32, lifetime uint32) *wfp.IPsecSABundle1 {
	key := make(wfp.Key, 20)
	for i := range key {
		key[i] = byte(i + 1)
	}
	return &wfp.IPsecSABundle1{
		Lifetime:  wfp.IPsecSALifetime0{LifetimeSeconds: lifetime},
		IPVersion: wfp.IPVersionV4,
		QMSAID:    7,
		SAList: []wfp.IPsecSA0{{
			SPI: spi, SATransformType: wfp.TransformESPAuthAndCipher,
			ESPAuthAndCipherInformation: &wfp.IPsecSAAuthAndCipherInformation0{
				SACipherInformation: wfp.IPsecSACipherInformation0{
					CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: wfp.CipherTransformIDGCMAES128},
					CipherKey:       key,
				},
				SAAuthInformation: wfp.IPsecSAAuthInformation0{
					AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: wfp.AuthTransformIDGCMAES128},
				},
			},
		}},
	}
}

type plumb struct {
	api                 wfp.API
	outTraffic          wfp.IPsecTraffic1
	getSpi              wfp.IPsecGetSPI1
	inBundle, outBundle *wfp.IPsecSABundle1

	// The inbound bundle of the current sequence, built where a keying
	// daemon would build it: in memory of its own that it reuses (the
	// engine keeps copies, never the caller's structures).
	in   wfp.IPsecSABundle1
	inSA [1]wfp.IPsecSA0
}

func newPlumb(tb testing.TB, api wfp.API) *plumb {
	return newPlumbPeer(tb, api, wfp.MustV4("192.0.2.1"), wfp.MustV4("192.0.2.2"))
}

// newPlumbPeer is newPlumb with a filter pair of its own for local<->remote.
func newPlumbPeer(tb testing.TB, api wfp.API, local, remote wfp.V4Addr) *plumb {
	out, in := addTransportFilters(tb, api, local, remote)
	p := &plumb{api: api, inBundle: gcmBundle(0, 3600), outBundle: gcmBundle(0x1001, 3600)}
	p.outTraffic = wfp.IPsecTraffic1{IPVersion: wfp.IPVersionV4, LocalV4Address: local, RemoteV4Address: remote,
		TrafficType: wfp.TrafficTypeTransport, IPsecFilterID: out}
	p.getSpi = wfp.IPsecGetSPI1{IPVersion: wfp.IPVersionV4, InboundIPsecTraffic: p.outTraffic}
	p.getSpi.InboundIPsecTraffic.IPsecFilterID = in
	return p
}

func (p *plumb) run() (uint64, error) {
	id, _, err := p.api.IPsecSaContextCreate1(&p.outTraffic, nil)
	if err != nil {
		return 0, err
	}
	return id, p.finish(id)
}

// finish plumbs context id, just created: inbound, then outbound.
func (p *plumb) finish(id uint64) error {
	if err := p.inbound(id); err != nil {
		return err
	}
	return p.api.IPsecSaContextAddOutbound1(id, p.outBundle)
}

// inbound gets context id's SPI and adds the inbound bundle with it.
func (p *plumb) inbound(id uint64) error {
	spi, err := p.api.IPsecSaContextGetSpi1(id, &p.getSpi)
	if err != nil {
		return err
	}
	p.in = *p.inBundle
	p.inSA[0] = p.inBundle.SAList[0]
	p.inSA[0].SPI = spi
	p.in.SAList = p.inSA[:]
	return p.api.IPsecSaContextAddInbound1(id, &p.in)
}

// TestPlumbingAllocations holds the engine to its allocations per plumbing
// sequence and delete: none, once a deleted context's blocks are reused
// (the room for its first three versions, its timer slot, its inbound
// bundle, and AddOutbound's version with the outbound bundle; see
// reuse.go). Each one more is garbage a keying daemon makes per SA pair,
// and the garbage collector was most of the cost of the sequence. Under
// the race detector, whose sync.Pool drops a share of what it is given,
// the four blocks are the bound.
func TestPlumbingAllocations(t *testing.T) {
	e, _ := newTestEngine(t, Options{})
	p := newPlumb(t, openAdmin(t, e))
	want := 0.0
	if raceEnabled {
		want = 4
	}
	n := testing.AllocsPerRun(2000, func() {
		id, err := p.run()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.api.IPsecSaContextDeleteById0(id); err != nil {
			t.Fatal(err)
		}
	})
	if n > want {
		t.Errorf("%v allocations per plumbing sequence, want at most %v", n, want)
	}
}

// TestCtxRoomSlotsUsedOnce checks that a version made in a context's room
// (ctxRoom) by a transaction that was then aborted is not overwritten by
// the next version: whoever saw it inside the transaction (here an
// enumeration handle's snapshot) may still read it, also after the context
// leaves the room and expires (the room is not given back while the
// snapshot is open; see reuse.go). It fails if the room hands out a slot by
// the current version's place rather than by what it ever gave, or gives
// the room back under an open snapshot.
func TestCtxRoomSlotsUsedOnce(t *testing.T) {
	e, _ := newTestEngine(t, Options{})
	api := openAdmin(t, e)
	p := newPlumb(t, api)
	id, _, err := api.IPsecSaContextCreate1(&p.outTraffic, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := e.ctxs.get(id)
	if err := api.FwpmTransactionBegin0(0); err != nil {
		t.Fatal(err)
	}
	spi, err := api.IPsecSaContextGetSpi1(id, &p.getSpi)
	if err != nil {
		t.Fatal(err)
	}
	aborted := e.ctxs.get(id)
	if aborted == first || aborted.spi != spi {
		t.Fatalf("GetSpi in the transaction: version %p (first %p), SPI %d, want %d", aborted, first, aborted.spi, spi)
	}
	enum, err := api.IPsecSaContextCreateEnumHandle0(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.FwpmTransactionAbort0(); err != nil {
		t.Fatal(err)
	}
	if got := e.ctxs.get(id); got != first {
		t.Fatalf("after the abort the version is %p, want the first, %p", got, first)
	}
	spi2, err := api.IPsecSaContextGetSpi1(id, &p.getSpi)
	if err != nil {
		t.Fatal(err)
	}
	if again := e.ctxs.get(id); again == aborted {
		t.Fatalf("the GetSpi after the abort reused the aborted version's slot")
	}
	if aborted.spi != spi || aborted.state != wfp.SAContextSPISet || first.spi != 0 || first.state != wfp.SAContextCreated {
		t.Fatalf("a version changed after it was made: first %d/%v, aborted %d/%v (SPIs %d, %d)", first.spi, first.state, aborted.spi, aborted.state, spi, spi2)
	}
	// Another step fills the room; the next comes from the heap, and the
	// context no longer holds the room.
	p.in = *p.inBundle
	p.inSA[0] = p.inBundle.SAList[0]
	p.inSA[0].SPI = spi2
	p.in.SAList = p.inSA[:]
	if err := api.IPsecSaContextAddInbound1(id, &p.in); err != nil {
		t.Fatal(err)
	}
	if c := e.ctxs.get(id); c.tslot.room != nil {
		t.Fatalf("the room is still held with %d of %d slots used", c.tslot.room.used, len(c.tslot.room.v))
	}
	if err := api.IPsecSaContextAddOutbound1(id, p.outBundle); err != nil {
		t.Fatal(err)
	}
	if err := api.IPsecSaContextExpire0(id); err != nil {
		t.Fatal(err)
	}
	if c := e.ctxs.get(id); c.state != wfp.SAContextExpired || aborted.state != wfp.SAContextSPISet {
		t.Fatalf("after expiry: %v, and the aborted version %v", c.state, aborted.state)
	}
	page, err := api.IPsecSaContextEnum1(enum, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].SAContextID != id || page[0].State != wfp.SAContextSPISet {
		t.Fatalf("the snapshot taken in the aborted transaction enumerates %+v, want context %d in SPI_SET", page, id)
	}
	if err := api.IPsecSaContextDestroyEnumHandle0(enum); err != nil {
		t.Fatal(err)
	}
}

func TestPlumbingSmoke(t *testing.T) {
	e, clk := newTestEngine(t, Options{})
	api := openAdmin(t, e)
	p := newPlumb(t, api)
	id, err := p.run()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := api.IPsecSaContextGetById1(id)
	if err != nil {
		t.Fatal(err)
	}
	if sc.State != wfp.SAContextOutboundAdded || sc.InboundSA == nil || sc.OutboundSA == nil || sc.InboundSPI < 256 {
		t.Fatalf("unexpected context %+v", sc)
	}
	if k := sc.InboundSA.SABundle.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherKey; len(k) != 0 {
		t.Fatalf("key returned to a session without key material")
	}
	if err := api.IPsecSaContextAddOutbound1(id, gcmBundle(0x1001, 10)); !errors.Is(err, wfp.ErrIncompatibleSAState) {
		t.Fatalf("second AddOutbound: %v", err)
	}
	clk.Advance(3601 * time.Second)
	if _, err := api.IPsecSaContextGetById1(id); !errors.Is(err, wfp.ErrNotFound) {
		t.Fatalf("after lifetime: %v", err)
	}
}

func TestSPIAllocatorCrowded(t *testing.T) {
	const n = 64
	e, _ := newTestEngine(t, Options{SPIMin: 1000, SPIMax: 1000 + n - 1})
	seen := map[uint32]bool{}
	for i := range n {
		spi, err := e.allocSPI(uint64(i + 1))
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if spi < 1000 || spi >= 1000+n || seen[spi] {
			t.Fatalf("bad or duplicate SPI %d", spi)
		}
		seen[spi] = true
	}
	if _, err := e.allocSPI(999); !errors.Is(err, wfp.ErrorNoMoreItems) {
		t.Fatalf("full range: %v", err)
	}
}

// fixedClock is a clock stopped at t0, for tests that need no timers.
type fixedClock struct{}

func (fixedClock) Now() time.Time                              { return t0 }
func (fixedClock) AfterFunc(time.Duration, func()) clock.Timer { return stoppedTimer{} }

type stoppedTimer struct{}

func (stoppedTimer) Stop() bool { return false }

// Enumeration lists contexts in id order, whether the ids in use are
// dense (placed by offset) or sparse (sorted).
func TestEnumerationOrder(t *testing.T) {
	e, _ := newTestEngine(t, Options{})
	api := openAdmin(t, e)
	p := newPlumb(t, api)
	ids := fill(t, p, 40)
	enum := func() []uint64 {
		h, err := api.IPsecSaContextCreateEnumHandle0(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer api.IPsecSaContextDestroyEnumHandle0(h)
		var got []uint64
		for {
			page, err := api.IPsecSaContextEnum1(h, 7)
			if err != nil {
				t.Fatal(err)
			}
			for _, sc := range page {
				got = append(got, sc.SAContextID)
			}
			if len(page) < 7 {
				return got
			}
		}
	}
	del := func(keep func(i int) bool) []uint64 {
		var want []uint64
		for i, id := range ids {
			if id == 0 {
				continue
			}
			if keep(i) {
				want = append(want, id)
				continue
			}
			if err := api.IPsecSaContextDeleteById0(id); err != nil {
				t.Fatal(err)
			}
			ids[i] = 0
		}
		return want
	}
	for _, step := range []struct {
		name string
		keep func(i int) bool
	}{
		{"all", func(int) bool { return true }},
		{"dense with holes", func(i int) bool { return i%3 != 1 }},
		{"sparse", func(i int) bool { return i == 0 || i == 39 }},
	} {
		want := del(step.keep)
		if got := enum(); !slices.Equal(got, want) {
			t.Errorf("%s: enumerated %v, want %v", step.name, got, want)
		}
	}
}

// TestPairKey checks the inbound-index key: equal for an outbound filter
// and the inbound filter with the same conditions, different when the
// kind, the version, a field, a match type, a value type or a value
// differs, and none for filters that are not IPsec filters.
func TestPairKey(t *testing.T) {
	a4, b4 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	conds := func(remote wfp.FwpConditionValue0, m wfp.MatchType) []wfp.FwpmFilterCondition0 {
		return []wfp.FwpmFilterCondition0{
			wfp.Condition(wfp.ConditionIPLocalAddress, wfp.MatchEqual, wfp.AddrValue(a4)),
			wfp.Condition(wfp.ConditionIPRemoteAddress, m, remote),
		}
	}
	base := pairKey(kindTransportIn, wfp.IPVersionV4, conds(wfp.AddrValue(b4), wfp.MatchEqual))
	if got := pairKey(kindTransportOut, wfp.IPVersionV4, conds(wfp.AddrValue(b4), wfp.MatchEqual)); got != base {
		t.Error("an outbound filter's key differs from its inbound pair's")
	}
	if pairKey(kindNone, wfp.IPVersionV4, conds(wfp.AddrValue(b4), wfp.MatchEqual)) != "" {
		t.Error("a filter that is not an IPsec filter has a key")
	}
	for name, k := range map[string]string{
		"tunnel":     pairKey(kindTunnelOut, wfp.IPVersionV4, conds(wfp.AddrValue(b4), wfp.MatchEqual)),
		"version":    pairKey(kindTransportIn, wfp.IPVersionV6, conds(wfp.AddrValue(b4), wfp.MatchEqual)),
		"value":      pairKey(kindTransportIn, wfp.IPVersionV4, conds(wfp.AddrValue(a4), wfp.MatchEqual)),
		"match type": pairKey(kindTransportIn, wfp.IPVersionV4, conds(wfp.AddrValue(b4), wfp.MatchNotEqual)),
		"value type": pairKey(kindTransportIn, wfp.IPVersionV4, conds(wfp.PrefixValue(netip.PrefixFrom(b4, 32)), wfp.MatchEqual)),
		"field": pairKey(kindTransportIn, wfp.IPVersionV4, []wfp.FwpmFilterCondition0{
			wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.AddrValue(a4)),
			wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.AddrValue(b4)),
		}),
		"fewer": pairKey(kindTransportIn, wfp.IPVersionV4, conds(wfp.AddrValue(b4), wfp.MatchEqual)[:1]),
	} {
		if k == base {
			t.Errorf("%s: the key did not change", name)
		}
	}
}
