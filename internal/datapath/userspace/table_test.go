package userspace

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/wfp"
)

func TestRCUMap(t *testing.T) {
	m := newRCUMap[uint64, int](mix64)
	want := map[uint64]int{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		k := rng.Uint64N(2000)
		if rng.IntN(3) == 0 {
			m.remove(k)
			delete(want, k)
		} else {
			m.store(k, i)
			want[k] = i
		}
	}
	if m.len() != len(want) {
		t.Fatalf("len %d, want %d", m.len(), len(want))
	}
	for k := range uint64(2000) {
		v, ok := m.load(k)
		if w, wok := want[k]; ok != wok || v != w {
			t.Fatalf("key %d: %d %v, want %d %v", k, v, ok, w, wok)
		}
	}
	seen := 0
	m.rangeAll(func(k uint64, v int) bool {
		if want[k] != v {
			t.Fatalf("range: key %d value %d, want %d", k, v, want[k])
		}
		seen++
		return true
	})
	if seen != len(want) {
		t.Fatalf("range saw %d of %d", seen, len(want))
	}
}

// TestRCUMapConcurrent has readers look up keys that are always present
// while a writer adds and removes others and grows the table: the readers
// must never miss (run with -race).
func TestRCUMapConcurrent(t *testing.T) {
	m := newRCUMap[uint64, uint64](mix64)
	for k := range uint64(64) {
		m.store(k, k)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := uint64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := i % 64
				if v, ok := m.load(k); !ok || v != k {
					t.Errorf("key %d: %d %v", k, v, ok)
					return
				}
			}
		})
	}
	for i := range uint64(20000) {
		m.store(1000+i, i)
		if i >= 100 {
			m.remove(1000 + i - 100)
		}
	}
	close(stop)
	wg.Wait()
}

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
// outbound transport filter on (local, remote, UDP, remote port i) and an
// outbound and an inbound SA; plus one tunnel-mode context between the
// test subnets, whose traffic is what the lookup sees.
func withContexts(tb testing.TB, n int) (*Backend, []byte) {
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
		tr := conformance.TransportTraffic(addrA4, bogus, id)
		spi := uint32(0x10000000 + i)
		add(f, &datapath.SA{ID: datapath.SAID{Context: id, Direction: wfp.DirectionOutbound}, Traffic: tr, Filter: f,
			Bundle: conformance.GCMBundle(wfp.IPVersionV4, spi, fuzzESPKey)})
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
// same order with 100,000 SA contexts installed as with one.
func TestLookupCost100k(t *testing.T) {
	if testing.Short() {
		t.Skip("installs 100,000 contexts")
	}
	cost := func(n int) time.Duration {
		be, pkt := withContexts(t, n)
		var fl flow
		h, _ := parseFlow(pkt, true, &fl)
		r := be.tab.spd[0].lookup(&fl)
		if r == nil || r.verdict != verdictProtect || be.tab.outboundSA(r, &fl, h.Version == 4) == nil {
			t.Fatalf("%d contexts: the tunnel's packet finds rule %v", n, ruleID(r))
		}
		res := testing.Benchmark(func(b *testing.B) {
			for range b.N {
				r := be.tab.spd[0].lookup(&fl)
				be.tab.outboundSA(r, &fl, true)
			}
		})
		return time.Duration(res.NsPerOp())
	}
	one, many := cost(1), cost(100000)
	t.Logf("lookup: %v with 1 context, %v with 100,000", one, many)
	// Generous: the same order, not a scan (a scan of 100,000 rules takes
	// milliseconds).
	if many > 5*one+200*time.Nanosecond {
		t.Errorf("lookup with 100,000 contexts costs %v, with 1 %v", many, one)
	}
}

// BenchmarkLookup is the outbound SPD and SA lookup of one packet with 1
// and 100,000 SA contexts installed.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1, 100000} {
		b.Run(fmt.Sprintf("contexts=%d", n), func(b *testing.B) {
			be, pkt := withContexts(b, n)
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
