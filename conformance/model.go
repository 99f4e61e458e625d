package conformance

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/sadb-dev/sadb/wfp"
)

// The model-based test drives one session through random sequences of SA
// context calls, transactions and clock moves, and compares every result
// and the enumerated state with a reference model of docs/semantics.md.

const (
	txnNone = iota
	txnRW
	txnRO
)

// mctx is the model of one SA context.
type mctx struct {
	v         wfp.IPVersion
	state     wfp.SAContextState
	spi       uint32
	variant   int // the IPSEC_GETSPI1 variant of the first GetSpi/SetSpi
	expiredAt time.Duration
}

type model struct {
	ctxs  map[uint64]*mctx
	maxID uint64
	txn   int
	saved map[uint64]*mctx // state at FwpmTransactionBegin0
	now   time.Duration    // since the start
}

func cloneCtxs(m map[uint64]*mctx) map[uint64]*mctx {
	out := make(map[uint64]*mctx, len(m))
	for id, c := range m {
		cc := *c
		out[id] = &cc
	}
	return out
}

func (m *model) spiOwner(spi uint32) (uint64, bool) {
	for id, c := range m.ctxs {
		if c.spi == spi && c.state != wfp.SAContextCreated {
			return id, true
		}
	}
	return 0, false
}

// mrun is one run of the model test.
type mrun struct {
	fx  *fixture
	api wfp.API
	m   model
}

func (r *mrun) getSpi(v wfp.IPVersion, variant int) *wfp.IPsecGetSPI1 {
	g := r.fx.inboundGetSpi(v)
	if variant == 1 {
		g.InboundIPsecTraffic.RemotePort = 4500
	}
	return g
}

// pick draws the id of a known context, or an unknown id.
func (r *mrun) pick(t *rapid.T) (uint64, *mctx) {
	known := slices.Sorted(maps.Keys(r.m.ctxs))
	if len(known) == 0 || rapid.IntRange(0, 9).Draw(t, "unknown") == 0 {
		return r.m.maxID + uint64(rapid.IntRange(1, 1000).Draw(t, "unknownID")), nil
	}
	id := rapid.SampledFrom(known).Draw(t, "id")
	return id, r.m.ctxs[id]
}

func expect(t *rapid.T, err error, want wfp.Error, what string) {
	t.Helper()
	switch {
	case want == 0 && err != nil:
		t.Fatalf("%s: %v, want success", what, err)
	case want != 0 && err == nil:
		t.Fatalf("%s: succeeded, want %s", what, want.Name())
	case want != 0 && !errors.Is(err, want):
		t.Fatalf("%s: got %s (%v), want %s", what, wfp.Code(err).Name(), err, want.Name())
	}
}

// writeCheck returns the transaction error a state-changing SA call gets.
func (r *mrun) writeCheck() wfp.Error {
	if r.m.txn == txnRO {
		return wfp.ErrIncompatibleTxn
	}
	return 0
}

func (r *mrun) check(t *rapid.T) {
	t.Helper()
	h, err := r.api.IPsecSaContextCreateEnumHandle0(nil)
	if err != nil {
		t.Fatalf("IPsecSaContextCreateEnumHandle0: %v", err)
	}
	got, err := r.api.IPsecSaContextEnum1(h, 10000)
	if err != nil {
		t.Fatalf("IPsecSaContextEnum1: %v", err)
	}
	if err := r.api.IPsecSaContextDestroyEnumHandle0(h); err != nil {
		t.Fatalf("IPsecSaContextDestroyEnumHandle0: %v", err)
	}
	want := slices.Sorted(maps.Keys(r.m.ctxs))
	if d := diff(want, ids(got)); d != "" {
		t.Fatalf("enumerated ids (-model +engine):\n%s", d)
	}
	for _, c := range got {
		mc := r.m.ctxs[c.SAContextID]
		spi := mc.spi
		if c.State != mc.state || c.InboundSPI != spi ||
			(c.InboundSA != nil) != (mc.state >= wfp.SAContextInboundAdded) ||
			(c.OutboundSA != nil) != (mc.state == wfp.SAContextOutboundAdded) {
			t.Fatalf("context %d: engine state %v spi %#x inbound %v outbound %v; model %+v",
				c.SAContextID, c.State, c.InboundSPI, c.InboundSA != nil, c.OutboundSA != nil, *mc)
		}
	}
}

func (r *mrun) actions() map[string]func(*rapid.T) {
	m := &r.m
	return map[string]func(*rapid.T){
		"": r.check,
		"Create": func(t *rapid.T) {
			v := wfp.IPVersion(rapid.IntRange(0, 1).Draw(t, "v6"))
			tr := r.fx.outboundTraffic(v)
			id, _, err := r.api.IPsecSaContextCreate1(&tr, nil)
			if m.txn != txnNone {
				expect(t, err, wfp.ErrTxnInProgress, "Create in a transaction")
				return
			}
			expect(t, err, 0, "Create")
			if id <= m.maxID {
				t.Fatalf("Create returned id %d, not above the previous ids (max %d)", id, m.maxID)
			}
			m.maxID = id
			m.ctxs[id] = &mctx{v: v, state: wfp.SAContextCreated}
		},
		"GetSpi": func(t *rapid.T) {
			id, c := r.pick(t)
			variant := rapid.IntRange(0, 1).Draw(t, "variant")
			v := wfp.IPVersionV4
			if c != nil {
				v = c.v
			}
			spi, err := r.api.IPsecSaContextGetSpi1(id, r.getSpi(v, variant))
			var want wfp.Error
			switch {
			case r.writeCheck() != 0:
				want = r.writeCheck()
			case c == nil:
				want = wfp.ErrNotFound
			case c.state == wfp.SAContextExpired:
				want = wfp.ErrIncompatibleSAState
			case c.state != wfp.SAContextCreated && variant != c.variant:
				want = wfp.ErrTrafficMismatch
			}
			expect(t, err, want, "GetSpi")
			if want != 0 {
				return
			}
			if c.state == wfp.SAContextCreated {
				if spi < 256 {
					t.Fatalf("GetSpi returned reserved SPI %#x", spi)
				}
				if owner, used := m.spiOwner(spi); used {
					t.Fatalf("GetSpi returned SPI %#x, in use by context %d", spi, owner)
				}
				c.state, c.spi, c.variant = wfp.SAContextSPISet, spi, variant
			} else if spi != c.spi {
				t.Fatalf("repeated GetSpi returned %#x, want %#x", spi, c.spi)
			}
		},
		"SetSpi": func(t *rapid.T) {
			id, c := r.pick(t)
			variant := rapid.IntRange(0, 1).Draw(t, "variant")
			kind := rapid.SampledFrom([]string{"fresh", "own", "other", "low"}).Draw(t, "kind")
			var spi uint32
			switch kind {
			case "fresh":
				spi = rapid.Uint32Range(0x10000000, 0xFFFFFFFF).Draw(t, "spi")
			case "own":
				if c == nil || c.spi == 0 {
					t.Skip("no own SPI")
				}
				spi = c.spi
			case "other":
				var used []uint32
				for oid, oc := range m.ctxs {
					if oid != id && oc.spi != 0 {
						used = append(used, oc.spi)
					}
				}
				if len(used) == 0 {
					t.Skip("no SPI in use")
				}
				slices.Sort(used)
				spi = rapid.SampledFrom(used).Draw(t, "usedSPI")
			case "low":
				spi = rapid.Uint32Range(0, 255).Draw(t, "lowSPI")
			}
			_, inUse := m.spiOwner(spi)
			inUse = inUse && (c == nil || spi != c.spi)
			if inUse && c != nil && c.state != wfp.SAContextCreated {
				t.Skip("SPI in use and wrong state: the order of the two checks is not specified")
			}
			v := wfp.IPVersionV4
			if c != nil {
				v = c.v
			}
			err := r.api.IPsecSaContextSetSpi0(id, r.getSpi(v, variant), spi)
			var want wfp.Error
			switch {
			case r.writeCheck() != 0:
				want = r.writeCheck()
			case spi < 256:
				want = wfp.ErrOutOfBounds
			case c == nil:
				want = wfp.ErrNotFound
			case c.state == wfp.SAContextCreated && inUse:
				want = wfp.ErrAlreadyExists
			case c.state == wfp.SAContextCreated:
			case c.state == wfp.SAContextSPISet && spi == c.spi && variant == c.variant:
			default:
				want = wfp.ErrIncompatibleSAState
			}
			expect(t, err, want, "SetSpi("+kind+")")
			if want == 0 && c.state == wfp.SAContextCreated {
				c.state, c.spi, c.variant = wfp.SAContextSPISet, spi, variant
			}
		},
		"AddInbound": func(t *rapid.T) {
			id, c := r.pick(t)
			v, spi := wfp.IPVersionV4, uint32(0x4242)
			if c != nil {
				v = c.v
				if c.spi != 0 {
					spi = c.spi
				}
			}
			b := GCMBundle(v, spi, TestKey(20, 1))
			b.QMSAID = 1
			err := r.api.IPsecSaContextAddInbound1(id, b)
			want := r.stateWant(c, wfp.SAContextSPISet)
			expect(t, err, want, "AddInbound")
			if want == 0 {
				c.state = wfp.SAContextInboundAdded
			}
		},
		"AddOutbound": func(t *rapid.T) {
			id, c := r.pick(t)
			v := wfp.IPVersionV4
			if c != nil {
				v = c.v
			}
			b := GCMBundle(v, 0x777, TestKey(20, 2))
			b.QMSAID = 1
			err := r.api.IPsecSaContextAddOutbound1(id, b)
			want := r.stateWant(c, wfp.SAContextInboundAdded)
			expect(t, err, want, "AddOutbound")
			if want == 0 {
				c.state = wfp.SAContextOutboundAdded
			}
		},
		"Update": func(t *rapid.T) {
			id, c := r.pick(t)
			err := r.api.IPsecSaContextUpdate0(wfp.SABundleUpdateNAPContext|wfp.SABundleUpdateMMSAID, &wfp.IPsecSAContext1{SAContextID: id,
				InboundSA: &wfp.IPsecSADetails1{SABundle: wfp.IPsecSABundle1{NAPContext: 1, MMSAID: 2}}})
			want := r.stateWant(c, wfp.SAContextInboundAdded, wfp.SAContextOutboundAdded)
			expect(t, err, want, "Update")
		},
		"Expire": func(t *rapid.T) {
			id, c := r.pick(t)
			err := r.api.IPsecSaContextExpire0(id)
			want := r.stateWant(c, wfp.SAContextCreated, wfp.SAContextSPISet, wfp.SAContextInboundAdded, wfp.SAContextOutboundAdded)
			expect(t, err, want, "Expire")
			if want != 0 {
				return
			}
			if c.state <= wfp.SAContextSPISet {
				delete(m.ctxs, id)
			} else {
				c.state, c.expiredAt = wfp.SAContextExpired, m.now
			}
		},
		"DeleteById": func(t *rapid.T) {
			id, c := r.pick(t)
			err := r.api.IPsecSaContextDeleteById0(id)
			switch {
			case m.txn != txnNone:
				expect(t, err, wfp.ErrTxnInProgress, "DeleteById in a transaction")
			case c == nil:
				expect(t, err, wfp.ErrNotFound, "DeleteById")
			default:
				expect(t, err, 0, "DeleteById")
				delete(m.ctxs, id)
			}
		},
		"GetById": func(t *rapid.T) {
			id, c := r.pick(t)
			sc, err := r.api.IPsecSaContextGetById1(id)
			if c == nil {
				expect(t, err, wfp.ErrNotFound, "GetById")
				return
			}
			expect(t, err, 0, "GetById")
			if sc.State != c.state || sc.InboundSPI != c.spi || sc.SAContextID != id {
				t.Fatalf("GetById(%d): state %v spi %#x, model %+v", id, sc.State, sc.InboundSPI, *c)
			}
		},
		"Advance": func(t *rapid.T) {
			if m.txn != txnNone {
				t.Skip("the clock does not move inside a transaction in this model")
			}
			d := rapid.SampledFrom([]time.Duration{time.Second, 7 * time.Second, 30 * time.Second, 59 * time.Second, 61 * time.Second}).Draw(t, "d")
			r.fx.h.Advance(d)
			m.now += d
			for id, c := range m.ctxs {
				if c.state != wfp.SAContextExpired {
					continue
				}
				switch end := c.expiredAt + 60*time.Second; {
				case end < m.now:
					delete(m.ctxs, id)
				case end == m.now:
					// Exactly at the end of the linger: either is right.
					if _, err := r.api.IPsecSaContextGetById1(id); errors.Is(err, wfp.ErrNotFound) {
						delete(m.ctxs, id)
					}
				}
			}
		},
		"Begin": func(t *rapid.T) {
			ro := rapid.Bool().Draw(t, "readOnly")
			flags := uint32(0)
			if ro {
				flags = wfp.TxnReadOnly
			}
			err := r.api.FwpmTransactionBegin0(flags)
			if m.txn != txnNone {
				expect(t, err, wfp.ErrTxnInProgress, "Begin in a transaction")
				return
			}
			expect(t, err, 0, "Begin")
			m.saved = cloneCtxs(m.ctxs)
			m.txn = txnRW
			if ro {
				m.txn = txnRO
			}
		},
		"Commit": func(t *rapid.T) {
			err := r.api.FwpmTransactionCommit0()
			if m.txn == txnNone {
				expect(t, err, wfp.ErrNoTxnInProgress, "Commit")
				return
			}
			expect(t, err, 0, "Commit")
			m.txn, m.saved = txnNone, nil
		},
		"Abort": func(t *rapid.T) {
			err := r.api.FwpmTransactionAbort0()
			if m.txn == txnNone {
				expect(t, err, wfp.ErrNoTxnInProgress, "Abort")
				return
			}
			expect(t, err, 0, "Abort")
			m.ctxs, m.txn, m.saved = m.saved, txnNone, nil
		},
	}
}

// stateWant returns the code a write on context c gets when it is allowed
// only in the states ok.
func (r *mrun) stateWant(c *mctx, ok ...wfp.SAContextState) wfp.Error {
	switch {
	case r.writeCheck() != 0:
		return r.writeCheck()
	case c == nil:
		return wfp.ErrNotFound
	case !slices.Contains(ok, c.state):
		return wfp.ErrIncompatibleSAState
	}
	return 0
}

func (s *suite) model(t *testing.T) {
	s.run(t, "SAContexts", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			h := s.f(t)
			api, err := h.Open(h.Admin(), nil)
			if err != nil {
				rt.Fatalf("open: %v", err)
			}
			rt.Cleanup(func() { _ = api.FwpmEngineClose0() })
			fx := &fixture{h: h, api: api}
			for _, p := range []struct {
				dst           *peerFilters
				local, remote string
			}{{&fx.f4, "192.0.2.1", "192.0.2.2"}, {&fx.f6, "2001:db8::1", "2001:db8::2"}} {
				out, in, err := TransportFilters(api, netip4(p.local), netip4(p.remote))
				if err != nil {
					rt.Fatalf("TransportFilters: %v", err)
				}
				*p.dst = peerFilters{local: netip4(p.local), remote: netip4(p.remote), out: out, in: in}
			}
			r := &mrun{fx: fx, api: api, m: model{ctxs: map[uint64]*mctx{}}}
			rt.Repeat(r.actions())
		})
	})
}
