package conformance

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

func (s *suite) subscriptions(t *testing.T) {
	s.run(t, "CommitOrder", func(t *testing.T) {
		fx := s.fixture(t)
		other := open(t, fx.h, fx.h.Admin(), nil)
		r1, _ := subscribe(t, fx.api, nil)
		r2, _ := subscribe(t, other, nil)
		var want []wfp.IPsecSAContextChange0
		var cs []*sactx
		for i := range 20 {
			c := fx.ctxAt(t, fx.api, wfp.IPVersion(i%2), allStates[i%4])
			want = append(want, add(c.id))
			cs = append(cs, c)
		}
		tr6 := fx.outboundTraffic(wfp.IPVersionV6)
		tr0 := tr6.ToTraffic0()
		id0, _, err := fx.api.IPsecSaContextCreate0(&tr0)
		mustOK(t, err, "Create0")
		want = append(want, add(id0))
		for i, j := range []int{7, 3, 19, 0, 11, 5, 12, 1, 18, 2} {
			c := cs[j]
			switch {
			case i%2 == 0:
				mustOK(t, fx.api.IPsecSaContextDeleteById0(c.id), "DeleteById")
			case allStates[j%4] <= wfp.SAContextSPISet:
				mustOK(t, fx.api.IPsecSaContextExpire0(c.id), "Expire (deletes at once)")
			default:
				mustOK(t, fx.api.IPsecSaContextExpire0(c.id), "Expire (lingers)")
				mustOK(t, fx.api.IPsecSaContextDeleteById0(c.id), "DeleteById")
			}
			want = append(want, del(c.id))
		}
		mustOK(t, fx.api.IPsecSaContextDeleteById0(id0), "DeleteById")
		want = append(want, del(id0))
		got := fx.sync(t, r1, r2)
		wantEvents(t, got[0], want, "subscriber in the acting session")
		wantEvents(t, got[1], want, "subscriber in another session")
	})

	s.run(t, "ConcurrentSessions", func(t *testing.T) {
		fx := s.fixture(t)
		r1, _ := subscribe(t, fx.api, nil)
		r2, _ := subscribe(t, open(t, fx.h, fx.h.Admin(), nil), nil)
		const workers, per = 4, 10
		var wg sync.WaitGroup
		created := make([][]uint64, workers)
		errs := make(chan error, workers*per*2)
		for w := range workers {
			api := open(t, fx.h, fx.h.Admin(), nil)
			wg.Add(1)
			go func() {
				defer wg.Done()
				tr := fx.outboundTraffic(wfp.IPVersion(w % 2))
				for range per {
					id, _, err := api.IPsecSaContextCreate1(&tr, nil)
					if err != nil {
						errs <- err
						return
					}
					created[w] = append(created[w], id)
					if len(created[w])%2 == 0 {
						if err := api.IPsecSaContextDeleteById0(created[w][len(created[w])-2]); err != nil {
							errs <- err
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("worker: %v", err)
		}
		got := fx.sync(t, r1, r2)
		if d := diff(got[0], got[1]); d != "" {
			t.Errorf("two subscribers saw different orders (-first +second):\n%s", d)
		}
		for w := range workers {
			// Each worker's own actions appear in its order.
			var mine []wfp.IPsecSAContextChange0
			own := map[uint64]bool{}
			for _, id := range created[w] {
				own[id] = true
			}
			for _, e := range got[0] {
				if own[e.SAContextID] {
					mine = append(mine, e)
				}
			}
			var want []wfp.IPsecSAContextChange0
			for i, id := range created[w] {
				want = append(want, add(id))
				if i%2 == 1 {
					want = append(want, del(created[w][i-1]))
				}
			}
			wantEvents(t, mine, want, "one worker's events")
		}
		if n := len(got[0]); n != workers*per*3/2 {
			t.Errorf("%d events, want %d", n, workers*per*3/2)
		}
	})

	s.run(t, "Templates", func(t *testing.T) {
		fx := s.fixture(t)
		f9 := fx.addTransport(t, fx.api, PeerA4, netip4("198.51.100.9"))
		rAll, _ := subscribe(t, fx.api, nil)
		rB4, _ := subscribe(t, fx.api, &wfp.IPsecSAContextEnumTemplate0{RemoteSubNet: wfp.AddrValue(PeerB4)})
		rV6, _ := subscribe(t, fx.api, &wfp.IPsecSAContextEnumTemplate0{LocalSubNet: wfp.PrefixValue(netip.MustParsePrefix("2001:db8::/64"))})
		r9, _ := subscribe(t, fx.api, &wfp.IPsecSAContextEnumTemplate0{RemoteSubNet: wfp.PrefixValue(netip.MustParsePrefix("198.51.100.0/24"))})
		create9 := func() uint64 {
			tr := TransportTraffic(f9.local, f9.remote, f9.out)
			id, _, err := fx.api.IPsecSaContextCreate1(&tr, nil)
			mustOK(t, err, "Create")
			return id
		}
		a := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated).id
		b := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextCreated).id
		c := create9()
		for _, id := range []uint64{a, b, c} {
			mustOK(t, fx.api.IPsecSaContextDeleteById0(id), "DeleteById")
		}
		// Sentinels: the last event each templated subscriber must get.
		sent6 := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextCreated).id
		sent9 := create9()
		got := fx.sync(t, rAll, rB4)
		wantEvents(t, got[0], []wfp.IPsecSAContextChange0{add(a), add(b), add(c), del(a), del(b), del(c), add(sent6), add(sent9)}, "no template")
		wantEvents(t, got[1], []wfp.IPsecSAContextChange0{add(a), del(a)}, "template remote 192.0.2.2")
		ev6 := rV6.waitFor(t, "IPv6 sentinel", func(ev []wfp.IPsecSAContextChange0) bool { return hasEvent(ev, wfp.SAContextEventAdd, sent6) >= 0 })
		wantEvents(t, ev6, []wfp.IPsecSAContextChange0{add(b), del(b), add(sent6)}, "template local 2001:db8::/64")
		ev9 := r9.waitFor(t, "198.51.100.9 sentinel", func(ev []wfp.IPsecSAContextChange0) bool { return hasEvent(ev, wfp.SAContextEventAdd, sent9) >= 0 })
		wantEvents(t, ev9, []wfp.IPsecSAContextChange0{add(c), del(c), add(sent9)}, "template remote 198.51.100.0/24")
	})

	s.run(t, "SubscribeErrors", func(t *testing.T) {
		fx := s.fixture(t)
		before := snapshot(t, fx.api)
		cb := func(*wfp.IPsecSAContextChange0) {}
		for _, tc := range []struct {
			name string
			sub  *wfp.IPsecSAContextSubscription0
			cb   wfp.IPsecSAContextCallback0
			want wfp.Error
		}{
			{"NilSubscription", nil, cb, wfp.ErrNullPointer},
			{"NilCallback", &wfp.IPsecSAContextSubscription0{}, nil, wfp.ErrNullPointer},
			{"Flags", &wfp.IPsecSAContextSubscription0{Flags: 1}, cb, wfp.ErrInvalidFlags},
			{"TemplateType", &wfp.IPsecSAContextSubscription0{EnumTemplate: &wfp.IPsecSAContextEnumTemplate0{LocalSubNet: plain(wfp.Uint16Value(3))}}, cb, wfp.ErrTypeMismatch},
			{"TemplateMask", &wfp.IPsecSAContextSubscription0{EnumTemplate: &wfp.IPsecSAContextEnumTemplate0{RemoteSubNet: v4Mask("192.0.2.0", 0x00FFFFFF)}}, cb, wfp.ErrInvalidNetMask},
			{"TemplatePrefix", &wfp.IPsecSAContextSubscription0{EnumTemplate: &wfp.IPsecSAContextEnumTemplate0{RemoteSubNet: v6Prefix("2001:db8::", 200)}}, cb, wfp.ErrInvalidNetMask},
		} {
			_, err := fx.api.IPsecSaContextSubscribe0(tc.sub, tc.cb)
			wantErr(t, err, tc.want, "IPsecSaContextSubscribe0 %s", tc.name)
		}
		wantUnchanged(t, before, snapshot(t, fx.api), "refused subscriptions")
	})

	s.run(t, "SubscriptionsGet", func(t *testing.T) {
		fx := s.fixture(t)
		a := open(t, fx.h, fx.h.Admin(), nil)
		b := open(t, fx.h, fx.h.Admin(), nil)
		tmpl := &wfp.IPsecSAContextEnumTemplate0{RemoteSubNet: wfp.AddrValue(PeerB4)}
		_, ha := subscribe(t, a, nil)
		_, hb := subscribe(t, b, tmpl)
		subs, err := fx.api.IPsecSaContextSubscriptionsGet0()
		mustOK(t, err, "IPsecSaContextSubscriptionsGet0")
		want := []*wfp.IPsecSAContextSubscription0{
			{SessionKey: a.Session().SessionKey},
			{EnumTemplate: tmpl, SessionKey: b.Session().SessionKey},
		}
		sortSubs := func(l []*wfp.IPsecSAContextSubscription0) {
			slices.SortFunc(l, func(x, y *wfp.IPsecSAContextSubscription0) int {
				return slices.Compare(x.SessionKey[:], y.SessionKey[:])
			})
		}
		sortSubs(subs)
		sortSubs(want)
		if d := diff(want, subs); d != "" {
			t.Errorf("subscriptions (-want +got):\n%s", d)
		}
		mustOK(t, a.IPsecSaContextUnsubscribe0(ha), "Unsubscribe")
		subs, err = b.IPsecSaContextSubscriptionsGet0()
		mustOK(t, err, "IPsecSaContextSubscriptionsGet0")
		if d := diff([]*wfp.IPsecSAContextSubscription0{{EnumTemplate: tmpl, SessionKey: b.Session().SessionKey}}, subs); d != "" {
			t.Errorf("subscriptions after unsubscribing (-want +got):\n%s", d)
		}
		mustOK(t, b.FwpmEngineClose0(), "close")
		subs, err = fx.api.IPsecSaContextSubscriptionsGet0()
		mustOK(t, err, "IPsecSaContextSubscriptionsGet0")
		if len(subs) != 0 {
			t.Errorf("subscriptions after their session closed: %+v", subs)
		}
		_ = hb
	})

	s.run(t, "UnsubscribeHandles", func(t *testing.T) {
		fx := s.fixture(t)
		other := open(t, fx.h, fx.h.Admin(), nil)
		r, h := subscribe(t, other, nil)
		mustOK(t, fx.api.IPsecSaContextUnsubscribe0(0), "Unsubscribe(0)")
		before := snapshot(t, fx.api)
		wantErr(t, fx.api.IPsecSaContextUnsubscribe0(h), wfp.ErrorInvalidHandle, "unsubscribing another session's subscription")
		wantErr(t, fx.api.IPsecSaContextUnsubscribe0(h+1000), wfp.ErrorInvalidHandle, "unsubscribing an unknown handle")
		wantUnchanged(t, before, snapshot(t, fx.api), "refused unsubscribes")
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{add(c.id)}, "subscription after the refused unsubscribes")
		mustOK(t, other.IPsecSaContextUnsubscribe0(h), "Unsubscribe")
		wantErr(t, other.IPsecSaContextUnsubscribe0(h), wfp.ErrorInvalidHandle, "second unsubscribe")
		mustOK(t, other.IPsecSaContextUnsubscribe0(0), "Unsubscribe(0)")
	})

	s.run(t, "UnsubscribeWaitsForCallback", func(t *testing.T) {
		fx := s.fixture(t)
		other := open(t, fx.h, fx.h.Admin(), nil)
		entered := make(chan struct{}, 100)
		release := make(chan struct{})
		var mu sync.Mutex
		calls := 0
		h, err := other.IPsecSaContextSubscribe0(&wfp.IPsecSAContextSubscription0{}, func(*wfp.IPsecSAContextChange0) {
			mu.Lock()
			calls++
			mu.Unlock()
			entered <- struct{}{}
			<-release
		})
		mustOK(t, err, "Subscribe")
		released := false
		t.Cleanup(func() {
			if !released {
				close(release)
			}
		})
		rOK, _ := subscribe(t, fx.api, nil)
		fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		select {
		case <-entered:
		case <-time.After(asyncDeadline):
			t.Fatalf("callback never invoked")
		}
		// The blocked callback holds only its own subscription.
		more := []uint64{fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated).id, fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextCreated).id}
		if got := fx.sync1(t, rOK); len(got) != 3 {
			t.Errorf("other subscriber got %v while a callback was blocked, want 3 ADDs", got)
		}
		done := make(chan error, 1)
		go func() { done <- other.IPsecSaContextUnsubscribe0(h) }()
		select {
		case err := <-done:
			t.Fatalf("Unsubscribe returned (%v) while its callback was running", err)
		case <-time.After(200 * time.Millisecond):
		}
		close(release)
		released = true
		select {
		case err := <-done:
			mustOK(t, err, "Unsubscribe")
		case <-time.After(asyncDeadline):
			t.Fatalf("Unsubscribe did not return after the callback did")
		}
		// Undelivered events are discarded; nothing comes after Unsubscribe.
		for _, id := range more {
			mustOK(t, fx.api.IPsecSaContextDeleteById0(id), "DeleteById")
		}
		fx.sync1(t, rOK)
		time.Sleep(100 * time.Millisecond) // real time for a wrongly late callback
		mu.Lock()
		defer mu.Unlock()
		if calls != 1 {
			t.Errorf("callback invoked %d times, want 1 (the blocked one)", calls)
		}
	})

	s.run(t, "SessionCloseEndsSubscriptions", func(t *testing.T) {
		fx := s.fixture(t)
		other, err := fx.h.Open(fx.h.Admin(), nil)
		mustOK(t, err, "open")
		entered := make(chan struct{}, 100)
		release := make(chan struct{})
		var mu sync.Mutex
		calls := 0
		_, err = other.IPsecSaContextSubscribe0(&wfp.IPsecSAContextSubscription0{}, func(*wfp.IPsecSAContextChange0) {
			mu.Lock()
			calls++
			mu.Unlock()
			entered <- struct{}{}
			<-release
		})
		mustOK(t, err, "Subscribe")
		rOK, _ := subscribe(t, fx.api, nil)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		select {
		case <-entered:
		case <-time.After(asyncDeadline):
			close(release)
			t.Fatalf("callback never invoked")
		}
		done := make(chan error, 1)
		go func() { done <- other.FwpmEngineClose0() }()
		select {
		case err := <-done:
			t.Errorf("FwpmEngineClose0 returned (%v) while a callback of its subscription was running", err)
		case <-time.After(200 * time.Millisecond):
		}
		close(release)
		select {
		case err := <-done:
			mustOK(t, err, "FwpmEngineClose0")
		case <-time.After(asyncDeadline):
			t.Fatalf("FwpmEngineClose0 did not return after the callback did")
		}
		mustOK(t, fx.api.IPsecSaContextDeleteById0(c.id), "DeleteById")
		fx.sync1(t, rOK)
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		n := calls
		mu.Unlock()
		if n != 1 {
			t.Errorf("callback invoked %d times, want 1: the session's close must end its subscription", n)
		}
		subs, err := fx.api.IPsecSaContextSubscriptionsGet0()
		mustOK(t, err, "IPsecSaContextSubscriptionsGet0")
		if len(subs) != 1 {
			t.Errorf("subscriptions after close: %+v, want only the observer's", subs)
		}
	})

	s.run(t, "EventsOfEveryDeletion", func(t *testing.T) {
		fx := s.fixture(t)
		r, _ := subscribe(t, fx.api, nil)
		byDelete := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
		byExpire := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)
		byLinger := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextExpired)
		byLifetime := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)
		byLifetime.inbound.Lifetime.LifetimeSeconds = 30
		byLifetime.addInbound(t, fx.api)
		byIdle := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextSPISet)
		byIdle.inbound.IdleTimeoutSeconds = 45
		byIdle.addInbound(t, fx.api)
		wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{add(byDelete.id), add(byExpire.id), add(byLinger.id), add(byLifetime.id), add(byIdle.id)}, "creates")
		mustOK(t, fx.api.IPsecSaContextDeleteById0(byDelete.id), "DeleteById")
		mustOK(t, fx.api.IPsecSaContextExpire0(byExpire.id), "Expire")
		wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{del(byDelete.id), del(byExpire.id)}, "delete and expire")
		fx.h.Advance(31 * time.Second)
		wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{del(byLifetime.id)}, "lifetime")
		fx.h.Advance(15 * time.Second)
		wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{del(byIdle.id)}, "idle timeout")
		fx.h.Advance(15 * time.Second)
		wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{del(byLinger.id)}, "linger")
	})
}
