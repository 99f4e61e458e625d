package userspace

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/wfp"
)

// randomRule returns a filter rule with random conditions over a small
// space of addresses, protocols and ports, so that rules and flows meet.
func randomRule(rng *rand.Rand, id uint64, v4 bool) *rule {
	addr := func() u128 {
		if v4 {
			return u128{lo: 0xc0000200 | rng.Uint64N(8)}
		}
		return u128{0x20010db800000000, rng.Uint64N(8)}
	}
	addrCond := func(f field) cond {
		switch rng.IntN(4) {
		case 0: // one address
			a := addr()
			return cond{f: f, ivs: []ival{{a, a}}}
		case 1: // a prefix
			a := addr()
			bits := []int{30, 31, 32}[rng.IntN(3)]
			if !v4 {
				bits += 96
			}
			p := netip.PrefixFrom(u128Addr(a, v4), bits).Masked()
			lo, hi := prefixBounds(p)
			return cond{f: f, ivs: []ival{{lo, hi}}}
		case 2: // two addresses ORed
			a, b := addr(), addr()
			return cond{f: f, ivs: []ival{{a, a}, {b, b}}}
		}
		a, b := addr(), addr() // a range, possibly empty
		return cond{f: f, ivs: []ival{{a, b}}}
	}
	small := func(f field, n uint64) cond {
		switch rng.IntN(3) {
		case 0:
			v := u128{lo: rng.Uint64N(n)}
			return cond{f: f, ivs: []ival{{v, v}}}
		case 1:
			a, b := u128{lo: rng.Uint64N(n)}, u128{lo: rng.Uint64N(n)}
			return cond{f: f, ivs: []ival{{a, a}, {b, b}}}
		}
		return cond{f: f, ivs: []ival{{u128{lo: rng.Uint64N(n)}, u128{lo: rng.Uint64N(n)}}}}
	}
	r := &rule{id: id, weight: rng.Uint64N(4), verdict: verdict(1 + rng.IntN(3)), unknown: rng.IntN(8) == 0}
	for _, f := range []field{fieldLocalAddr, fieldRemoteAddr, fieldProtocol, fieldLocalPort, fieldRemotePort} {
		if rng.IntN(2) == 0 {
			continue
		}
		switch f {
		case fieldLocalAddr, fieldRemoteAddr:
			r.conds = append(r.conds, addrCond(f))
		case fieldProtocol:
			r.conds = append(r.conds, small(f, 3))
		default:
			r.conds = append(r.conds, small(f, 4))
		}
	}
	return r
}

// TestSPDIndexMatchesScan checks the index against the plain scan of the
// sorted rules, over random rule sets with rules added and removed.
func TestSPDIndexMatchesScan(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		v4 := seed%2 == 0
		x := newSPDIndex(v4)
		var rs []*rule
		for i := range 1 + rng.IntN(30) {
			r := randomRule(rng, uint64(i+1), v4)
			rs = append(rs, r)
			x.add(r)
		}
		for range rng.IntN(10) { // remove some
			if len(rs) == 0 {
				break
			}
			i := rng.IntN(len(rs))
			x.remove(rs[i])
			rs = append(rs[:i], rs[i+1:]...)
		}
		sortRules(rs)
		for range 300 {
			a := func() netip.Addr {
				if v4 {
					return u128Addr(u128{lo: 0xc0000200 | rng.Uint64N(8)}, true)
				}
				return u128Addr(u128{0x20010db800000000, rng.Uint64N(8)}, false)
			}
			fl := flow{local: a(), remote: a(), proto: uint8(rng.IntN(3)), localPort: uint16(rng.IntN(4)), remotePort: uint16(rng.IntN(4)),
				opaquePorts: rng.IntN(6) == 0}
			want, got := lookup(rs, &fl), x.lookup(&fl)
			if want != got {
				t.Fatalf("seed %d, flow %+v: index found %v, scan %v", seed, fl, ruleID(got), ruleID(want))
			}
		}
	}
}

func ruleID(r *rule) string {
	if r == nil {
		return "none"
	}
	return fmt.Sprint(r.id)
}

// withContexts returns an offline backend with n SA contexts installed the
// way a keying daemon leaves them (bench/tunnel/benchctl): each with an
// outbound transport filter on (local, remote, UDP, remote port i), or
// with shared all on one filter, and an outbound and an inbound SA; plus
// one tunnel-mode context between the test subnets, whose traffic is what
// the lookup sees.
func withContexts(tb testing.TB, n int, shared bool) (*Backend, []byte) {
	tb.Helper()
	be := offline(tb)
	bogus := netip.MustParseAddr("192.0.2.254")
	add := func(f *wfp.FwpmFilter0, sa *datapath.SA) {
		fi := compileFilter(f)
		be.tab.spd[fi.version()].add(fi.rule)
		d, err := be.newBundle(sa)
		if err != nil {
			tb.Fatal(err)
		}
		be.order++
		d.order, d.pmtu = be.order, 65535
		be.insertLocked(d)
	}
	for i := range n {
		id := uint64(100 + i)
		f := conformance.TransportFilter(wfp.DirectionOutbound, addrA4, bogus)
		f.FilterID, f.EffectiveWeight = id, wfp.Uint64Value(1)
		f.FilterCondition = append(f.FilterCondition,
			wfp.ValueCondition(wfp.ConditionIPProtocol, wfp.MatchEqual, wfp.Uint8Value(protoUDP)),
			wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchEqual, wfp.Uint16Value(uint16(1+i))))
		if shared {
			f.FilterID = 99
			f.FilterCondition = f.FilterCondition[:len(f.FilterCondition)-1]
		}
		tr := conformance.TransportTraffic(addrA4, bogus, f.FilterID)
		spi := uint32(0x10000000 + i)
		sa := &datapath.SA{ID: datapath.SAID{Context: id, Direction: wfp.DirectionOutbound}, Traffic: tr, Filter: f,
			Bundle: conformance.GCMBundle(wfp.IPVersionV4, spi, fuzzESPKey)}
		if shared && i > 0 {
			d, err := be.newBundle(sa) // the filter is in already
			if err != nil {
				tb.Fatal(err)
			}
			be.order++
			d.order, d.pmtu = be.order, 65535
			be.insertLocked(d)
		} else {
			add(f, sa)
		}
		in := conformance.TransportFilter(wfp.DirectionInbound, addrA4, bogus)
		in.FilterID = id + 1<<32
		d, err := be.newBundle(&datapath.SA{ID: datapath.SAID{Context: id, Direction: wfp.DirectionInbound}, Traffic: tr, Filter: in,
			Bundle: conformance.GCMBundle(wfp.IPVersionV4, spi, fuzzESPKey)})
		if err != nil {
			tb.Fatal(err)
		}
		be.insertLocked(d)
	}
	c := benchCases[1] // tunnel-gcm128
	sa := benchSA(c, wfp.DirectionOutbound)
	add(sa.Filter, sa)
	return be, benchPacket(c)
}

// TestLookupCost100k checks that a packet's SPD and SA lookup costs the
// same order with 100,000 SA contexts installed as with one, whether each
// context has its own filters or all share one; and that installing them
// takes time linear in their number.
func TestLookupCost100k(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("installs 100,000 contexts (and times lookups: not under the race detector)")
	}
	for _, shared := range []bool{false, true} {
		cost := func(n int) time.Duration {
			t0 := time.Now()
			be, pkt := withContexts(t, n, shared)
			if n > 1 {
				t.Logf("shared %v: %d contexts installed in %v", shared, n, time.Since(t0).Round(time.Millisecond))
			}
			var fl flow
			h, _ := parseFlow(pkt, true, &fl)
			r := be.tab.spd[0].lookup(&fl)
			if r == nil || r.verdict != verdictProtect || be.tab.outboundSA(r, &fl, h.Version == 4) == nil {
				t.Fatalf("%d contexts: the tunnel's packet finds rule %v", n, ruleID(r))
			}
			// A packet of the last context's traffic finds its SA: with
			// shared filters the newest; else the first filter of its port
			// (ports repeat after 65535 contexts), the older filter.
			port := uint16(n)
			want := uint64(100 + n - 1)
			if !shared {
				want = uint64(100 + int(port) - 1)
			}
			own := flow{local: addrA4, remote: netip.MustParseAddr("192.0.2.254"), proto: protoUDP, localPort: 9, remotePort: port}
			if r := be.tab.spd[0].lookup(&own); r == nil {
				t.Fatalf("%d contexts: their traffic finds no rule", n)
			} else if d := be.tab.outboundSA(r, &own, true); d == nil || d.id.Context != want {
				t.Fatalf("%d contexts: their traffic finds SA %v, want %d", n, d.id, want)
			}
			res := testing.Benchmark(func(b *testing.B) {
				for range b.N {
					r := be.tab.spd[0].lookup(&fl)
					be.tab.outboundSA(r, &fl, true)
					r = be.tab.spd[0].lookup(&own)
					be.tab.outboundSA(r, &own, true)
				}
			})
			return time.Duration(res.NsPerOp())
		}
		one, many := cost(1), cost(100000)
		t.Logf("shared %v: lookups %v with 1 context, %v with 100,000", shared, one, many)
		// Generous: the same order, not a scan (a scan of 100,000 rules
		// or SAs takes milliseconds).
		if many > 5*one+500*time.Nanosecond {
			t.Errorf("shared %v: lookups with 100,000 contexts cost %v, with 1 %v", shared, many, one)
		}
	}
}

// BenchmarkLookup is the outbound SPD and SA lookup of one packet with 1
// and 100,000 SA contexts installed.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1, 100000} {
		b.Run(fmt.Sprintf("contexts=%d", n), func(b *testing.B) {
			be, pkt := withContexts(b, n, false)
			var fl flow
			parseFlow(pkt, true, &fl)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r := be.tab.spd[0].lookup(&fl)
				if be.tab.outboundSA(r, &fl, true) == nil {
					b.Fatal("no SA")
				}
			}
		})
	}
}

// TestSAList checks the chunked list against a plain sorted slice over
// random inserts (new and replacing), removals and lookups.
func TestSAList(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var l *saList
	var model []*bundle // newest first
	byID := map[uint64]*bundle{}
	order := uint64(0)
	for step := range 20000 {
		switch {
		case rng.IntN(3) > 0 || len(model) == 0: // add a new SA
			order++
			d := &bundle{id: datapath.SAID{Context: order}, order: order, st: &saState{}}
			l = l.with(d)
			model = append([]*bundle{d}, model...)
			byID[order] = d
		case rng.IntN(2) == 0: // replace one (UpdateSA: same id and order)
			i := rng.IntN(len(model))
			o := model[i]
			d := &bundle{id: o.id, order: o.order, st: o.st}
			l = l.with(d)
			model[i] = d
		default: // remove one
			i := rng.IntN(len(model))
			l = l.without(model[i])
			model = append(model[:i], model[i+1:]...)
		}
		if step%97 != 0 {
			continue
		}
		var got []*bundle
		if l != nil {
			for _, c := range l.chunks {
				if len(c) == 0 || len(c) > 2*saChunk {
					t.Fatalf("step %d: a chunk of %d", step, len(c))
				}
				got = append(got, c...)
			}
			if l.n != len(got) {
				t.Fatalf("step %d: n %d, %d bundles", step, l.n, len(got))
			}
		}
		if len(got) != len(model) {
			t.Fatalf("step %d: %d bundles, want %d", step, len(got), len(model))
		}
		for i := range got {
			if got[i] != model[i] {
				t.Fatalf("step %d: bundle %d is %d, want %d", step, i, got[i].order, model[i].order)
			}
		}
		// The newest with an odd order.
		var want *bundle
		for _, d := range model {
			if d.order%2 == 1 {
				want = d
				break
			}
		}
		if f := l.first(0, func(d *bundle) bool { return d.order%2 == 1 }); f != want {
			t.Fatalf("step %d: first found %v, want %v", step, f, want)
		}
	}
}

// TestOutboundSAShapes checks that the outbound lookup finds the newest
// live SA across SAs filed under keys of different shapes (with and
// without protocol and port overrides) and skips dead ones.
func TestOutboundSAShapes(t *testing.T) {
	be := offline(t)
	f := conformance.TransportFilter(wfp.DirectionOutbound, addrA4, addrB4)
	f.FilterID, f.EffectiveWeight = 9, wfp.Uint64Value(1)
	fi := compileFilter(f)
	be.tab.spd[0].add(fi.rule)
	add := func(ctx uint64, proto uint8, rport uint16) *bundle {
		tr := conformance.TransportTraffic(addrA4, addrB4, 9)
		tr.IPProtocol, tr.RemotePort = proto, rport
		d, err := be.newBundle(&datapath.SA{ID: datapath.SAID{Context: ctx, Direction: wfp.DirectionOutbound}, Traffic: tr, Filter: f,
			Bundle: conformance.GCMBundle(wfp.IPVersionV4, uint32(0x1000+ctx), fuzzESPKey)})
		if err != nil {
			t.Fatal(err)
		}
		be.order++
		d.order = be.order
		be.insertLocked(d)
		return d
	}
	any1 := add(1, 0, 0)
	udp := add(2, protoUDP, 0)
	dns := add(3, protoUDP, 53)
	any2 := add(4, 0, 0)
	lookup := func(proto uint8, rport uint16) *bundle {
		fl := flow{local: addrA4, remote: addrB4, proto: proto, localPort: 1000, remotePort: rport}
		return be.tab.outboundSA(fi.rule, &fl, true)
	}
	if got := lookup(protoUDP, 53); got != any2 {
		t.Fatalf("UDP 53: SA %d, want the newest (4)", got.id.Context)
	}
	any2.st.dead.Store(true)
	if got := lookup(protoUDP, 53); got != dns {
		t.Fatalf("UDP 53 with 4 dead: SA %d, want 3", got.id.Context)
	}
	if got := lookup(protoUDP, 80); got != udp {
		t.Fatalf("UDP 80: SA %d, want 2", got.id.Context)
	}
	if got := lookup(protoTCP, 80); got != any1 {
		t.Fatalf("TCP 80: SA %d, want 1", got.id.Context)
	}
	for _, d := range []*bundle{any1, udp, dns, any2} {
		be.removeLocked(d)
	}
	if got := lookup(protoTCP, 80); got != nil || be.tab.outShapes.Load() != 0 {
		t.Fatalf("after removing all: SA %v, shapes %#x", got, be.tab.outShapes.Load())
	}
}

// TestSelectorsShareTheFilter checks that an SA's selectors reuse the
// installed filter's compiled conditions (one copy for 100,000s of SAs,
// not two), and that the SA's own protocol and port overrides extend its
// selectors without touching the filter's.
func TestSelectorsShareTheFilter(t *testing.T) {
	be := offline(t)
	sa := transportSA(wfp.DirectionOutbound, conformance.GCMBundle(wfp.IPVersionV4, 0x1000, fuzzESPKey))
	sa.Traffic.IPProtocol, sa.Traffic.RemotePort = protoUDP, 53
	fi := compileFilter(sa.Filter)
	be.filters = map[uint64]*filterEntry{fi.id: {info: fi}}
	want := fmt.Sprint(fi.conds)

	d, err := be.newBundle(sa)
	if err != nil {
		t.Fatal(err)
	}
	defer d.st.wipe()
	if len(d.sel) != len(fi.conds)+2 {
		t.Fatalf("%d selectors, want the filter's %d and 2 overrides", len(d.sel), len(fi.conds))
	}
	if &d.sel[0].ivs[0] != &fi.conds[0].ivs[0] {
		t.Error("the SA compiled its own copy of an installed filter's conditions")
	}
	if got := fmt.Sprint(fi.conds); got != want || len(fi.conds) != cap(fi.conds) {
		t.Errorf("the filter's conditions changed: %s, want %s", got, want)
	}
	flowTo := func(port uint16) *flow {
		return &flow{local: addrA4, remote: addrB4, proto: protoUDP, localPort: 40000, remotePort: port}
	}
	if !d.sel.match(flowTo(53)) || d.sel.match(flowTo(54)) {
		t.Error("the SA's port override does not select")
	}
}
