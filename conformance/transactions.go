package conformance

import (
	"sync"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

func dictatingCallbacks() *wfp.IPsecKeyManagerCallbacks0 {
	return &wfp.IPsecKeyManagerCallbacks0{
		KeyDictationCheck: func(*wfp.IPsecTraffic1) (bool, uint32) { return false, 0 },
		KeyDictation:      func(_, _ *wfp.IPsecSADetails1) bool { return false },
		KeyNotify:         func(_, _ *wfp.IPsecSADetails1) {},
	}
}

// txnAbort and txnClose end a transaction by aborting it or by closing its
// session.
var txnEnds = []struct {
	name string
	end  func(t testing.TB, api wfp.API)
}{
	{"Abort", func(t testing.TB, api wfp.API) { mustOK(t, api.FwpmTransactionAbort0(), "FwpmTransactionAbort0") }},
	{"CloseSession", func(t testing.TB, api wfp.API) { mustOK(t, api.FwpmEngineClose0(), "FwpmEngineClose0") }},
}

func (s *suite) transactions(t *testing.T) {
	s.run(t, "BeginFlags", func(t *testing.T) {
		fx := s.fixture(t)
		for _, fl := range []uint32{0x2, 0x3, 0x80000000} {
			wantErr(t, fx.api.FwpmTransactionBegin0(fl), wfp.ErrInvalidFlags, "FwpmTransactionBegin0(%#x)", fl)
		}
		// Not in a transaction after the failures.
		wantErr(t, fx.api.FwpmTransactionCommit0(), wfp.ErrNoTxnInProgress, "commit after failed begins")
		for _, fl := range []uint32{0, wfp.TxnReadOnly} {
			mustOK(t, fx.api.FwpmTransactionBegin0(fl), "FwpmTransactionBegin0(%#x)", fl)
			mustOK(t, fx.api.FwpmTransactionCommit0(), "commit")
		}
	})

	s.run(t, "NoTxnInProgress", func(t *testing.T) {
		fx := s.fixture(t)
		wantErr(t, fx.api.FwpmTransactionCommit0(), wfp.ErrNoTxnInProgress, "commit outside a transaction")
		wantErr(t, fx.api.FwpmTransactionAbort0(), wfp.ErrNoTxnInProgress, "abort outside a transaction")
		mustOK(t, fx.api.FwpmTransactionBegin0(0), "begin")
		mustOK(t, fx.api.FwpmTransactionCommit0(), "commit")
		wantErr(t, fx.api.FwpmTransactionCommit0(), wfp.ErrNoTxnInProgress, "second commit")
		mustOK(t, fx.api.FwpmTransactionBegin0(wfp.TxnReadOnly), "begin")
		mustOK(t, fx.api.FwpmTransactionAbort0(), "abort")
		wantErr(t, fx.api.FwpmTransactionAbort0(), wfp.ErrNoTxnInProgress, "second abort")
	})

	// Calls that may not run inside any explicit transaction.
	for _, ro := range []bool{false, true} {
		name := "TxnInProgress/ReadWrite"
		if ro {
			name = "TxnInProgress/ReadOnly"
		}
		s.run(t, name, func(t *testing.T) {
			fx := s.fixture(t)
			c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
			_, sub := subscribe(t, fx.api, nil)
			km, err := fx.api.IPsecKeyManagerAddAndRegister0(&wfp.IPsecKeyManager0{DisplayData: wfp.FwpmDisplayData0{Name: "km"}}, &wfp.IPsecKeyManagerCallbacks0{KeyNotify: func(_, _ *wfp.IPsecSADetails1) {}})
			mustOK(t, err, "IPsecKeyManagerAddAndRegister0")
			before := snapshot(t, fx.api)
			tr := fx.outboundTraffic(wfp.IPVersionV4)
			tr0 := tr.ToTraffic0()
			acl := wfp.ACL{allow(fx.h.Admin().User, wfp.GenericAll), allow(wfp.Everyone, wfp.ActrlRead)}
			flags := uint32(0)
			if ro {
				flags = wfp.TxnReadOnly
			}
			mustOK(t, fx.api.FwpmTransactionBegin0(flags), "begin")
			calls := []apiCall{
				{"FwpmTransactionBegin0(0)", func(a wfp.API) error { return a.FwpmTransactionBegin0(0) }},
				{"FwpmTransactionBegin0(READ_ONLY)", func(a wfp.API) error { return a.FwpmTransactionBegin0(wfp.TxnReadOnly) }},
				{"IPsecSaContextCreate0", func(a wfp.API) error { _, _, err := a.IPsecSaContextCreate0(&tr0); return err }},
				{"IPsecSaContextCreate1", func(a wfp.API) error { _, _, err := a.IPsecSaContextCreate1(&tr, nil); return err }},
				{"IPsecSaContextDeleteById0", func(a wfp.API) error { return a.IPsecSaContextDeleteById0(c.id) }},
				{"IPsecGetStatistics0", func(a wfp.API) error { _, err := a.IPsecGetStatistics0(); return err }},
				{"IPsecGetStatistics1", func(a wfp.API) error { _, err := a.IPsecGetStatistics1(); return err }},
				{"IPsecSaContextSubscribe0", func(a wfp.API) error {
					_, err := a.IPsecSaContextSubscribe0(&wfp.IPsecSAContextSubscription0{}, func(*wfp.IPsecSAContextChange0) {})
					return err
				}},
				{"IPsecSaContextUnsubscribe0", func(a wfp.API) error { return a.IPsecSaContextUnsubscribe0(sub) }},
				{"IPsecKeyManagerAddAndRegister0", func(a wfp.API) error {
					_, err := a.IPsecKeyManagerAddAndRegister0(&wfp.IPsecKeyManager0{DisplayData: wfp.FwpmDisplayData0{Name: "km2"}}, &wfp.IPsecKeyManagerCallbacks0{KeyNotify: func(_, _ *wfp.IPsecSADetails1) {}})
					return err
				}},
				{"IPsecKeyManagerUnregisterAndDelete0", func(a wfp.API) error { return a.IPsecKeyManagerUnregisterAndDelete0(km) }},
				{"FwpmEngineSetSecurityInfo0", func(a wfp.API) error {
					return a.FwpmEngineSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &acl)
				}},
				{"IPsecSaDbSetSecurityInfo0", func(a wfp.API) error {
					return a.IPsecSaDbSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &acl)
				}},
			}
			for _, call := range calls {
				wantErr(t, call.fn(fx.api), wfp.ErrTxnInProgress, "%s inside a transaction", call.name)
			}
			// The transaction is still open and usable.
			wantState(t, fx.api, c.id, wfp.SAContextOutboundAdded)
			mustOK(t, fx.api.FwpmTransactionCommit0(), "commit after the refused calls")
			wantUnchanged(t, before, snapshot(t, fx.api), "calls refused with FWP_E_TXN_IN_PROGRESS")
		})
	}

	s.run(t, "ReadOnlyRefusesWrites", func(t *testing.T) {
		fx := s.fixture(t)
		cCreated := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		cSpi := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)
		cIn := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)
		cOut := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
		spare, err := fx.api.FwpmFilterAdd0(TransportFilter(wfp.DirectionInbound, PeerA4, netip4("192.0.2.77")), nil)
		mustOK(t, err, "FwpmFilterAdd0")
		before := snapshot(t, fx.api)
		gs0 := &wfp.IPsecGetSPI0{InboundIPsecTraffic: cCreated.getSpi.InboundIPsecTraffic.ToTraffic0(), IPVersion: wfp.IPVersionV4}
		in0 := cSpi.inboundBundle().ToBundle0()
		out0 := cIn.outbound.ToBundle0()
		mustOK(t, fx.api.FwpmTransactionBegin0(wfp.TxnReadOnly), "begin read-only")
		calls := []apiCall{
			{"FwpmFilterAdd0", func(a wfp.API) error {
				_, err := a.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.78")), nil)
				return err
			}},
			{"FwpmFilterDeleteById0", func(a wfp.API) error { return a.FwpmFilterDeleteById0(spare) }},
			{"IPsecSaContextGetSpi0", func(a wfp.API) error { _, err := a.IPsecSaContextGetSpi0(cCreated.id, gs0); return err }},
			{"IPsecSaContextGetSpi1", func(a wfp.API) error { _, err := a.IPsecSaContextGetSpi1(cCreated.id, cCreated.getSpi); return err }},
			{"IPsecSaContextSetSpi0", func(a wfp.API) error { return a.IPsecSaContextSetSpi0(cCreated.id, cCreated.getSpi, 0x4242) }},
			{"IPsecSaContextAddInbound0", func(a wfp.API) error { return a.IPsecSaContextAddInbound0(cSpi.id, &in0) }},
			{"IPsecSaContextAddInbound1", func(a wfp.API) error { return a.IPsecSaContextAddInbound1(cSpi.id, cSpi.inboundBundle()) }},
			{"IPsecSaContextAddOutbound0", func(a wfp.API) error { return a.IPsecSaContextAddOutbound0(cIn.id, &out0) }},
			{"IPsecSaContextAddOutbound1", func(a wfp.API) error { return a.IPsecSaContextAddOutbound1(cIn.id, cIn.outbound) }},
			{"IPsecSaContextUpdate0", func(a wfp.API) error {
				return a.IPsecSaContextUpdate0(wfp.SABundleUpdateNAPContext, &wfp.IPsecSAContext1{SAContextID: cIn.id,
					InboundSA: &wfp.IPsecSADetails1{SABundle: wfp.IPsecSABundle1{NAPContext: 7}}})
			}},
			{"IPsecSaContextExpire0", func(a wfp.API) error { return a.IPsecSaContextExpire0(cOut.id) }},
			{"IPsecSaContextExpire0(created)", func(a wfp.API) error { return a.IPsecSaContextExpire0(cCreated.id) }},
		}
		for _, call := range calls {
			wantErr(t, call.fn(fx.api), wfp.ErrIncompatibleTxn, "%s inside a read-only transaction", call.name)
		}
		// Reads work in a read-only transaction.
		in := snapshot(t, fx.api)
		before.Stats, in.Stats = nil, nil // statistics cannot be read in a transaction
		wantUnchanged(t, before, in, "writes refused in a read-only transaction (seen inside it)")
		if _, err := fx.api.IPsecSaContextGetById0(cOut.id); err != nil {
			t.Errorf("IPsecSaContextGetById0 in a read-only transaction: %v", err)
		}
		if _, err := fx.api.FwpmFilterGetById0(spare); err != nil {
			t.Errorf("FwpmFilterGetById0 in a read-only transaction: %v", err)
		}
		mustOK(t, fx.api.FwpmTransactionCommit0(), "commit")
		after := snapshot(t, fx.api)
		after.Stats = nil
		wantUnchanged(t, before, after, "writes refused in a read-only transaction")
	})

	for _, end := range txnEnds {
		s.run(t, "Atomicity/"+end.name, func(t *testing.T) {
			fx := s.fixture(t)
			r, _ := subscribe(t, fx.api, nil)
			var notified sync.Map
			_, err := fx.api.IPsecKeyManagerAddAndRegister0(&wfp.IPsecKeyManager0{DisplayData: wfp.FwpmDisplayData0{Name: "observer"}},
				&wfp.IPsecKeyManagerCallbacks0{KeyNotify: func(in, _ *wfp.IPsecSADetails1) { notified.Store(in.SABundle.QMSAID, true) }})
			mustOK(t, err, "IPsecKeyManagerAddAndRegister0")
			cGet := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
			cSet := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextCreated)
			cSpi := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)
			cIn := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)
			cUpd := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)
			cOut := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
			cGone := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
			spare, err := fx.api.FwpmFilterAdd0(TransportFilter(wfp.DirectionInbound, PeerA4, netip4("192.0.2.77")), nil)
			mustOK(t, err, "FwpmFilterAdd0")
			fx.sync1(t, r)
			before := snapshot(t, fx.api)

			w := open(t, fx.h, fx.h.Admin(), nil)
			mustOK(t, w.FwpmTransactionBegin0(0), "begin")
			newFilter, err := w.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.78")), nil)
			mustOK(t, err, "FwpmFilterAdd0 in the transaction")
			mustOK(t, w.FwpmFilterDeleteById0(spare), "FwpmFilterDeleteById0 in the transaction")
			cGet.getSPI(t, w)
			const setSPI = 0x00ABCDEF
			mustOK(t, w.IPsecSaContextSetSpi0(cSet.id, cSet.getSpi, setSPI), "SetSpi in the transaction")
			cSpi.addInbound(t, w)
			cIn.addOutbound(t, w)
			mustOK(t, w.IPsecSaContextUpdate0(wfp.SABundleUpdateNAPContext|wfp.SABundleUpdateMMSAID,
				&wfp.IPsecSAContext1{SAContextID: cUpd.id, InboundSA: &wfp.IPsecSADetails1{SABundle: wfp.IPsecSABundle1{NAPContext: 99, MMSAID: 77}}}), "Update in the transaction")
			mustOK(t, w.IPsecSaContextExpire0(cOut.id), "Expire in the transaction")
			mustOK(t, w.IPsecSaContextExpire0(cGone.id), "Expire of a created context in the transaction")

			// The transaction sees its own changes.
			wantState(t, w, cGet.id, wfp.SAContextSPISet)
			wantState(t, w, cSpi.id, wfp.SAContextInboundAdded)
			wantState(t, w, cIn.id, wfp.SAContextOutboundAdded)
			wantState(t, w, cOut.id, wfp.SAContextExpired)
			wantGone(t, w, cGone.id)
			if got := get(t, w, cSet.id).InboundSPI; got != setSPI {
				t.Errorf("InboundSPI in the transaction = %#x, want %#x", got, setSPI)
			}
			if _, err := w.FwpmFilterGetById0(newFilter); err != nil {
				t.Errorf("filter added in the transaction not visible in it: %v", err)
			}

			end.end(t, w)
			after := snapshot(t, fx.api)
			wantUnchanged(t, before, after, "a transaction ended by "+end.name)
			_, err = fx.api.FwpmFilterGetById0(newFilter)
			wantErr(t, err, wfp.ErrFilterNotFound, "filter added in the undone transaction")
			wantEvents(t, fx.sync1(t, r), nil, "events of an undone transaction")

			// The SPIs reserved in the transaction are free again.
			other := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
			mustOK(t, fx.api.IPsecSaContextSetSpi0(other.id, other.getSpi, cGet.spi), "SetSpi of the SPI that the undone GetSpi reserved")
			other6 := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextCreated)
			mustOK(t, fx.api.IPsecSaContextSetSpi0(other6.id, other6.getSpi, setSPI), "SetSpi of the SPI that the undone SetSpi reserved")
			// And the contexts can go on from their old states.
			cGet.getSPI(t, fx.api)
			cSpi.addInbound(t, fx.api)
			cIn.addOutbound(t, fx.api)
			if _, ok := notified.Load(cIn.inbound.QMSAID); !ok {
				// The committed AddOutbound notifies; wait for it, then
				// make sure the undone one never did.
				deadline := time.Now().Add(asyncDeadline)
				for time.Now().Before(deadline) {
					if _, ok := notified.Load(cIn.inbound.QMSAID); ok {
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
			}
			if _, ok := notified.Load(cIn.inbound.QMSAID); !ok {
				t.Errorf("no key notification for a committed AddOutbound")
			}
		})
	}

	s.run(t, "KeyNotificationsOnlyAfterCommit", func(t *testing.T) {
		fx := s.fixture(t)
		var mu sync.Mutex
		var got []uint32
		_, err := fx.api.IPsecKeyManagerAddAndRegister0(&wfp.IPsecKeyManager0{DisplayData: wfp.FwpmDisplayData0{Name: "observer"}},
			&wfp.IPsecKeyManagerCallbacks0{KeyNotify: func(in, _ *wfp.IPsecSADetails1) {
				mu.Lock()
				got = append(got, in.SABundle.QMSAID)
				mu.Unlock()
			}})
		mustOK(t, err, "IPsecKeyManagerAddAndRegister0")
		a := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)
		b := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)
		mustOK(t, fx.api.FwpmTransactionBegin0(0), "begin")
		a.addOutbound(t, fx.api)
		mustOK(t, fx.api.FwpmTransactionAbort0(), "abort")
		mustOK(t, fx.api.FwpmTransactionBegin0(0), "begin")
		b.addOutbound(t, fx.api)
		time.Sleep(100 * time.Millisecond) // real time for a wrongly early notification
		mu.Lock()
		early := len(got)
		mu.Unlock()
		if early != 0 {
			t.Errorf("%d key notifications before commit", early)
		}
		mustOK(t, fx.api.FwpmTransactionCommit0(), "commit")
		deadline := time.Now().Add(asyncDeadline)
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if d := diff([]uint32{b.inbound.QMSAID}, got); d != "" {
			t.Errorf("key notifications (by qmSaId; -want +got):\n%s", d)
		}
	})

	s.run(t, "FailedCallKeepsTransaction", func(t *testing.T) {
		fx := s.fixture(t)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		mustOK(t, fx.api.FwpmTransactionBegin0(0), "begin")
		f1, err := fx.api.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.78")), nil)
		mustOK(t, err, "FwpmFilterAdd0")
		_, err = fx.api.FwpmFilterAdd0(&wfp.FwpmFilter0{LayerKey: wfp.LayerOutboundTransportV4, Action: wfp.FwpmAction0{Type: wfp.ActionPermit}}, nil)
		wantErr(t, err, wfp.ErrNullDisplayName, "failing FwpmFilterAdd0")
		c.getSPI(t, fx.api)
		err = fx.api.IPsecSaContextAddInbound1(c.id, &wfp.IPsecSABundle1{IPVersion: wfp.IPVersionV4})
		wantErr(t, err, wfp.ErrZeroLengthArray, "failing AddInbound")
		mustOK(t, fx.api.FwpmTransactionCommit0(), "commit")
		if _, err := fx.api.FwpmFilterGetById0(f1); err != nil {
			t.Errorf("filter added before the failed calls lost: %v", err)
		}
		sc := get(t, fx.api, c.id)
		if sc.State != wfp.SAContextSPISet || sc.InboundSPI != c.spi {
			t.Errorf("context after commit: state %v spi %#x, want SPI_SET %#x", sc.State, sc.InboundSPI, c.spi)
		}
	})

	s.run(t, "FilterIDsNotReusedAfterAbort", func(t *testing.T) {
		fx := s.fixture(t)
		mustOK(t, fx.api.FwpmTransactionBegin0(0), "begin")
		id1, err := fx.api.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.78")), nil)
		mustOK(t, err, "FwpmFilterAdd0")
		mustOK(t, fx.api.FwpmTransactionAbort0(), "abort")
		id2, err := fx.api.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.78")), nil)
		mustOK(t, err, "FwpmFilterAdd0")
		if id2 == id1 || id2 == fx.f4.out || id2 == fx.f6.in {
			t.Errorf("filter id %d reused (aborted id %d)", id2, id1)
		}
	})

	s.run(t, "EnumInsideTransactionSeesOwnChanges", func(t *testing.T) {
		fx := s.fixture(t)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		mustOK(t, fx.api.FwpmTransactionBegin0(0), "begin")
		c.getSPI(t, fx.api)
		c.addInbound(t, fx.api)
		cs := enumContexts(t, fx.api, nil)
		if len(cs) != 1 || cs[0].State != wfp.SAContextInboundAdded || cs[0].InboundSPI != c.spi || cs[0].InboundSA == nil {
			t.Errorf("enumeration inside the transaction: %+v, want the context INBOUND_ADDED with SPI %#x", cs, c.spi)
		}
		if sas := enumSAs(t, fx.api, nil); len(sas) != 1 || sas[0].SADirection != wfp.DirectionInbound {
			t.Errorf("SA enumeration inside the transaction: %d entries, want the inbound one", len(sas))
		}
		mustOK(t, fx.api.FwpmTransactionAbort0(), "abort")
		if cs := enumContexts(t, fx.api, nil); len(cs) != 1 || cs[0].State != wfp.SAContextCreated {
			t.Errorf("enumeration after abort: %+v, want the context CREATED", cs)
		}
	})

	s.run(t, "EventsOnlyAfterCommit", func(t *testing.T) {
		fx := s.fixture(t)
		r, _ := subscribe(t, fx.api, nil)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)
		wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{add(c.id)}, "create")
		w := open(t, fx.h, fx.h.Admin(), nil)
		mustOK(t, w.FwpmTransactionBegin0(0), "begin")
		mustOK(t, w.IPsecSaContextExpire0(c.id), "Expire (deletes a context without SAs at once)")
		time.Sleep(100 * time.Millisecond) // real time for a wrongly early callback to show up
		if ev := r.all()[r.cursor:]; len(ev) != 0 {
			t.Errorf("events delivered before commit: %v", ev)
		}
		mustOK(t, w.FwpmTransactionCommit0(), "commit")
		r.waitFor(t, "DELETE after commit", func(ev []wfp.IPsecSAContextChange0) bool {
			return hasEvent(ev, wfp.SAContextEventDelete, c.id) >= 0
		})
		wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{del(c.id)}, "committed transaction")
	})

	s.run(t, "WriterExcludesOtherSessions", func(t *testing.T) {
		fx := s.fixture(t)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		w := open(t, fx.h, fx.h.Admin(), nil)
		o := open(t, fx.h, fx.h.Admin(), &wfp.FwpmSession0{TxnWaitTimeoutInMSec: 50})
		mustOK(t, w.FwpmTransactionBegin0(0), "begin")
		tr := fx.outboundTraffic(wfp.IPVersionV4)
		calls := []apiCall{
			{"FwpmTransactionBegin0(0)", func(a wfp.API) error { return a.FwpmTransactionBegin0(0) }},
			{"FwpmTransactionBegin0(READ_ONLY)", func(a wfp.API) error { return a.FwpmTransactionBegin0(wfp.TxnReadOnly) }},
			{"FwpmFilterAdd0", func(a wfp.API) error {
				_, err := a.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.78")), nil)
				return err
			}},
			{"IPsecSaContextCreate1", func(a wfp.API) error { _, _, err := a.IPsecSaContextCreate1(&tr, nil); return err }},
			{"IPsecSaContextGetSpi1", func(a wfp.API) error { _, err := a.IPsecSaContextGetSpi1(c.id, c.getSpi); return err }},
			{"IPsecSaContextGetById1", func(a wfp.API) error { _, err := a.IPsecSaContextGetById1(c.id); return err }},
			{"IPsecSaContextCreateEnumHandle0", func(a wfp.API) error { _, err := a.IPsecSaContextCreateEnumHandle0(nil); return err }},
		}
		for _, call := range calls {
			start := time.Now()
			err := call.fn(o)
			el := time.Since(start)
			wantErr(t, err, wfp.ErrTimeout, "%s while another session holds a read/write transaction", call.name)
			if el < 40*time.Millisecond || el > 10*time.Second {
				t.Errorf("%s failed after %v; want about the session's 50 ms txnWaitTimeoutInMSec", call.name, el)
			}
		}
		mustOK(t, w.FwpmTransactionCommit0(), "commit")
		wantState(t, o, c.id, wfp.SAContextCreated)
		mustOK(t, o.FwpmTransactionBegin0(0), "begin after the writer committed")
		mustOK(t, o.FwpmTransactionCommit0(), "commit")
	})

	for _, tc := range []struct {
		name    string
		timeout uint32
	}{{"Timeout5s", 5000}, {"DefaultTimeout", 0}, {"Infinite", 0xFFFFFFFF}} {
		s.run(t, "WaiterProceedsAfterCommit/"+tc.name, func(t *testing.T) {
			fx := s.fixture(t)
			w := open(t, fx.h, fx.h.Admin(), nil)
			o := open(t, fx.h, fx.h.Admin(), &wfp.FwpmSession0{TxnWaitTimeoutInMSec: tc.timeout})
			mustOK(t, w.FwpmTransactionBegin0(0), "begin")
			id, err := w.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.78")), nil)
			mustOK(t, err, "FwpmFilterAdd0")
			done := make(chan error, 1)
			go func() {
				_, err := o.FwpmFilterGetById0(id)
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("another session's read returned (%v) while a read/write transaction was open", err)
			case <-time.After(200 * time.Millisecond):
			}
			mustOK(t, w.FwpmTransactionCommit0(), "commit")
			select {
			case err := <-done:
				mustOK(t, err, "waiting FwpmFilterGetById0 after the writer committed")
			case <-time.After(asyncDeadline):
				t.Fatalf("waiting call did not proceed after commit")
			}
		})
	}

	s.run(t, "ReadOnlyTransactionsShare", func(t *testing.T) {
		fx := s.fixture(t)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		r1 := open(t, fx.h, fx.h.Admin(), &wfp.FwpmSession0{TxnWaitTimeoutInMSec: 50})
		r2 := open(t, fx.h, fx.h.Admin(), &wfp.FwpmSession0{TxnWaitTimeoutInMSec: 50})
		wr := open(t, fx.h, fx.h.Admin(), &wfp.FwpmSession0{TxnWaitTimeoutInMSec: 50})
		mustOK(t, r1.FwpmTransactionBegin0(wfp.TxnReadOnly), "first read-only begin")
		mustOK(t, r2.FwpmTransactionBegin0(wfp.TxnReadOnly), "second read-only begin while the first is open")
		wantState(t, r2, c.id, wfp.SAContextCreated)
		wantState(t, wr, c.id, wfp.SAContextCreated) // an implicit read
		_, err := wr.IPsecSaContextGetSpi1(c.id, c.getSpi)
		wantErr(t, err, wfp.ErrTimeout, "implicit write while read-only transactions are open")
		wantErr(t, wr.FwpmTransactionBegin0(0), wfp.ErrTimeout, "read/write begin while read-only transactions are open")
		mustOK(t, r1.FwpmTransactionCommit0(), "commit")
		mustOK(t, r2.FwpmTransactionAbort0(), "abort")
		_, err = wr.IPsecSaContextGetSpi1(c.id, c.getSpi)
		mustOK(t, err, "write after the read-only transactions ended")
	})

	for _, tc := range []struct {
		name string
		ro   bool
		next func(api wfp.API, fx *fixture) error
	}{
		{"Commit", false, func(a wfp.API, _ *fixture) error { return a.FwpmTransactionCommit0() }},
		{"Abort", false, func(a wfp.API, _ *fixture) error { return a.FwpmTransactionAbort0() }},
		{"Read", false, func(a wfp.API, fx *fixture) error { _, err := a.FwpmFilterGetById0(fx.f4.out); return err }},
		{"Write", false, func(a wfp.API, _ *fixture) error {
			_, err := a.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.79")), nil)
			return err
		}},
		{"ReadOnlyCommit", true, func(a wfp.API, _ *fixture) error { return a.FwpmTransactionCommit0() }},
	} {
		s.run(t, "LockTimeout/"+tc.name, func(t *testing.T) {
			fx := s.fixture(t)
			w := open(t, fx.h, fx.h.Admin(), nil)
			o := open(t, fx.h, fx.h.Admin(), &wfp.FwpmSession0{TxnWaitTimeoutInMSec: 50})
			r, _ := subscribe(t, fx.api, nil)
			c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
			fx.sync1(t, r)
			before := snapshot(t, fx.api)
			var id uint64
			if tc.ro {
				mustOK(t, w.FwpmTransactionBegin0(wfp.TxnReadOnly), "begin")
			} else {
				mustOK(t, w.FwpmTransactionBegin0(0), "begin")
				var err error
				id, err = w.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.78")), nil)
				mustOK(t, err, "FwpmFilterAdd0")
				mustOK(t, w.IPsecSaContextExpire0(c.id), "Expire")
			}
			fx.h.Advance(59 * time.Minute)
			// Still inside the transaction after 59 minutes.
			if tc.ro {
				wantState(t, w, c.id, wfp.SAContextCreated)
			} else {
				wantGone(t, w, c.id)
			}
			fx.h.Advance(time.Minute + time.Second)
			// The lock is free: another session writes at once.
			oid, err := o.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.80")), nil)
			mustOK(t, err, "another session's write after the lock timeout")
			mustOK(t, o.FwpmFilterDeleteById0(oid), "FwpmFilterDeleteById0")
			wantErr(t, tc.next(w, fx), wfp.ErrTxnAborted, "next call in a forcibly aborted transaction")
			wantErr(t, w.FwpmTransactionCommit0(), wfp.ErrNoTxnInProgress, "commit after FWP_E_TXN_ABORTED")
			if id != 0 {
				_, err = fx.api.FwpmFilterGetById0(id)
				wantErr(t, err, wfp.ErrFilterNotFound, "filter added in the forcibly aborted transaction")
			}
			wantState(t, fx.api, c.id, wfp.SAContextCreated)
			wantEvents(t, fx.sync1(t, r), nil, "events of a forcibly aborted transaction")
			wantUnchanged(t, before, snapshot(t, fx.api), "a forcibly aborted transaction")
		})
	}
}
