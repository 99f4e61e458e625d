package conformance

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

// notifyLog records key notifications.
type notifyLog struct {
	mu  sync.Mutex // guards got
	got [][2]*wfp.IPsecSADetails1
}

func (n *notifyLog) notify(in, out *wfp.IPsecSADetails1) {
	n.mu.Lock()
	n.got = append(n.got, [2]*wfp.IPsecSADetails1{in.Clone(), out.Clone()})
	n.mu.Unlock()
}

func (n *notifyLog) wait(t testing.TB, count int) [][2]*wfp.IPsecSADetails1 {
	t.Helper()
	deadline := time.Now().Add(asyncDeadline)
	for {
		n.mu.Lock()
		got := slices.Clone(n.got)
		n.mu.Unlock()
		if len(got) >= count {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d key notifications, want %d", len(got), count)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (s *suite) keyManagers(t *testing.T) {
	notifyOnly := func() *wfp.IPsecKeyManagerCallbacks0 {
		return &wfp.IPsecKeyManagerCallbacks0{KeyNotify: func(_, _ *wfp.IPsecSADetails1) {}}
	}
	mgr := func(name string, flags uint32) *wfp.IPsecKeyManager0 {
		return &wfp.IPsecKeyManager0{DisplayData: wfp.FwpmDisplayData0{Name: name}, Flags: flags}
	}

	s.run(t, "RegisterListUnregister", func(t *testing.T) {
		fx := s.fixture(t)
		other := open(t, fx.h, fx.h.Admin(), nil)
		key := wfp.NewGUID()
		m1 := mgr("notifier", 0)
		m1.KeyManagerKey = key
		m1.KeyDictationTimeoutHint = 10
		h1, err := fx.api.IPsecKeyManagerAddAndRegister0(m1, notifyOnly())
		mustOK(t, err, "register a notifier")
		m2 := mgr("dictator", wfp.KeyManagerFlagDictateKey)
		h2, err := other.IPsecKeyManagerAddAndRegister0(m2, dictatingCallbacks())
		mustOK(t, err, "register a dictator in another session")
		kms, err := fx.api.IPsecKeyManagersGet0()
		mustOK(t, err, "IPsecKeyManagersGet0")
		if len(kms) != 2 {
			t.Fatalf("IPsecKeyManagersGet0 = %+v, want both registrations", kms)
		}
		var gen wfp.GUID
		for _, k := range kms {
			switch k.DisplayData.Name {
			case "notifier":
				if d := diff(m1, k); d != "" {
					t.Errorf("notifier (-registered +listed):\n%s", d)
				}
			case "dictator":
				gen = k.KeyManagerKey
				m2.KeyManagerKey = gen
				// A zero hint means 5 s; whether the list shows 0 or 5 is
				// not specified.
				if k.KeyDictationTimeoutHint == wfp.KeyDictationTimeoutDefault {
					m2.KeyDictationTimeoutHint = wfp.KeyDictationTimeoutDefault
				}
				if gen.IsZero() {
					t.Errorf("zero keyManagerKey was not replaced by a generated one")
				}
				if d := diff(m2, k); d != "" {
					t.Errorf("dictator (-registered +listed):\n%s", d)
				}
			default:
				t.Errorf("unexpected key manager %+v", k)
			}
		}
		mustOK(t, fx.api.IPsecKeyManagerUnregisterAndDelete0(h1), "unregister")
		wantErr(t, fx.api.IPsecKeyManagerUnregisterAndDelete0(h1), wfp.ErrorInvalidHandle, "second unregister")
		wantErr(t, fx.api.IPsecKeyManagerUnregisterAndDelete0(h2+h1+1000), wfp.ErrorInvalidHandle, "unregister an unknown handle")
		kms, err = other.IPsecKeyManagersGet0()
		mustOK(t, err, "IPsecKeyManagersGet0")
		if len(kms) != 1 || kms[0].KeyManagerKey != gen {
			t.Errorf("after unregistering the notifier: %+v", kms)
		}
		// The key is free again.
		m3 := mgr("again", 0)
		m3.KeyManagerKey = key
		_, err = fx.api.IPsecKeyManagerAddAndRegister0(m3, notifyOnly())
		mustOK(t, err, "re-register with the unregistered key")
		mustOK(t, other.IPsecKeyManagerUnregisterAndDelete0(h2), "unregister the dictator")
	})

	s.run(t, "RegisterErrors", func(t *testing.T) {
		fx := s.fixture(t)
		used := mgr("used", 0)
		used.KeyManagerKey = wfp.NewGUID()
		_, err := fx.api.IPsecKeyManagerAddAndRegister0(used, notifyOnly())
		mustOK(t, err, "register")
		_, err = fx.api.IPsecKeyManagerAddAndRegister0(mgr("dictator", wfp.KeyManagerFlagDictateKey), dictatingCallbacks())
		mustOK(t, err, "register dictator")
		before := snapshot(t, fx.api)
		withHint := func(h uint8) *wfp.IPsecKeyManager0 { m := mgr("hint", 0); m.KeyDictationTimeoutHint = h; return m }
		dict := func(mod func(c *wfp.IPsecKeyManagerCallbacks0)) *wfp.IPsecKeyManagerCallbacks0 {
			c := dictatingCallbacks()
			mod(c)
			return c
		}
		sameKey := mgr("same key", 0)
		sameKey.KeyManagerKey = used.KeyManagerKey
		for _, tc := range []struct {
			name string
			m    *wfp.IPsecKeyManager0
			cb   *wfp.IPsecKeyManagerCallbacks0
			want wfp.Error
		}{
			{"NilManager", nil, notifyOnly(), wfp.ErrNullPointer},
			{"NilCallbacks", mgr("x", 0), nil, wfp.ErrNullPointer},
			{"UnknownFlag", mgr("x", 0x2), notifyOnly(), wfp.ErrInvalidFlags},
			{"HintOver10s", withHint(11), notifyOnly(), wfp.ErrInvalidInterval},
			{"DictatorWithoutCheck", mgr("x", wfp.KeyManagerFlagDictateKey), dict(func(c *wfp.IPsecKeyManagerCallbacks0) { c.KeyDictationCheck = nil }), wfp.ErrNullPointer},
			{"DictatorWithoutDictation", mgr("x", wfp.KeyManagerFlagDictateKey), dict(func(c *wfp.IPsecKeyManagerCallbacks0) { c.KeyDictation = nil }), wfp.ErrNullPointer},
			{"DictatorWithoutNotify", mgr("x", wfp.KeyManagerFlagDictateKey), dict(func(c *wfp.IPsecKeyManagerCallbacks0) { c.KeyNotify = nil }), wfp.ErrNullPointer},
			{"NotifierWithCheck", mgr("x", 0), dict(func(c *wfp.IPsecKeyManagerCallbacks0) { c.KeyDictation = nil }), wfp.ErrInvalidParameter},
			{"NotifierWithDictation", mgr("x", 0), dict(func(c *wfp.IPsecKeyManagerCallbacks0) { c.KeyDictationCheck = nil }), wfp.ErrInvalidParameter},
			{"NotifierWithoutNotify", mgr("x", 0), &wfp.IPsecKeyManagerCallbacks0{}, wfp.ErrNullPointer},
			{"SecondDictator", mgr("x", wfp.KeyManagerFlagDictateKey), dictatingCallbacks(), wfp.ErrAlreadyExists},
			{"KeyInUse", sameKey, notifyOnly(), wfp.ErrAlreadyExists},
		} {
			_, err := fx.api.IPsecKeyManagerAddAndRegister0(tc.m, tc.cb)
			wantErr(t, err, tc.want, "IPsecKeyManagerAddAndRegister0 %s", tc.name)
		}
		wantUnchanged(t, before, snapshot(t, fx.api), "refused registrations")
		_, err = fx.api.IPsecKeyManagerAddAndRegister0(withHint(0), notifyOnly())
		mustOK(t, err, "hint 0 (default)")
	})

	s.run(t, "KeyNotify", func(t *testing.T) {
		fx := s.fixture(t)
		var withKeys, without notifyLog
		dictated := make(chan string, 10)
		_, err := fx.api.IPsecKeyManagerAddAndRegister0(mgr("with keys", wfp.KeyManagerFlagDictateKey), &wfp.IPsecKeyManagerCallbacks0{
			KeyDictationCheck: func(*wfp.IPsecTraffic1) (bool, uint32) { dictated <- "check"; return false, 0 },
			KeyDictation:      func(_, _ *wfp.IPsecSADetails1) bool { dictated <- "dictation"; return false },
			KeyNotify:         withKeys.notify,
		})
		mustOK(t, err, "register")
		plain := open(t, fx.h, fx.h.Admin(), nil)
		_, err = plain.IPsecKeyManagerAddAndRegister0(mgr("without keys", 0), &wfp.IPsecKeyManagerCallbacks0{KeyNotify: without.notify})
		mustOK(t, err, "register")
		a := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)
		b := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextOutboundAdded)
		a.addOutbound(t, fx.api)
		gotK := withKeys.wait(t, 2)
		gotN := without.wait(t, 2)
		byQM := func(l [][2]*wfp.IPsecSADetails1, qm uint32) [2]*wfp.IPsecSADetails1 {
			for _, n := range l {
				if n[0].SABundle.QMSAID == qm {
					return n
				}
			}
			t.Fatalf("no notification for qmSaId %d", qm)
			return [2]*wfp.IPsecSADetails1{}
		}
		for i, c := range []*sactx{b, a} {
			want := fx.wantContext(t, c, wfp.SAContextOutboundAdded)
			gotK := byQM(gotK, c.inbound.QMSAID)
			gotN := byQM(gotN, c.inbound.QMSAID)
			if d := diffCtx([2]*wfp.IPsecSADetails1{want.InboundSA, want.OutboundSA}, gotK); d != "" {
				t.Errorf("notification %d to a session with key material (-want +got):\n%s", i, d)
			}
			if !noKeys(&gotN[0].SABundle) || !noKeys(&gotN[1].SABundle) {
				t.Errorf("notification %d to a session without key material carries keys", i)
			}
			stripped := [2]*wfp.IPsecSADetails1{want.InboundSA.Clone(), want.OutboundSA.Clone()}
			stripped[0].SABundle = *stripKeys(&stripped[0].SABundle)
			stripped[1].SABundle = *stripKeys(&stripped[1].SABundle)
			if d := diffCtx(stripped, gotN); d != "" {
				t.Errorf("notification %d without key material (-want +got):\n%s", i, d)
			}
		}
		// Nothing else notifies: more plumbing short of AddOutbound,
		// updates, expiry.
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)
		mustOK(t, fx.api.IPsecSaContextUpdate0(wfp.SABundleUpdateNAPContext, &wfp.IPsecSAContext1{SAContextID: b.id,
			OutboundSA: &wfp.IPsecSADetails1{SABundle: wfp.IPsecSABundle1{NAPContext: 1}}}), "Update")
		mustOK(t, fx.api.IPsecSaContextExpire0(a.id), "Expire")
		c.addOutbound(t, fx.api)
		if got := withKeys.wait(t, 3); len(got) != 3 || got[2][0].SABundle.QMSAID != c.inbound.QMSAID {
			t.Errorf("notifications: %d, the third for qmSaId %d; want exactly one more, for context %d", len(got), got[len(got)-1][0].SABundle.QMSAID, c.id)
		}
		select {
		case d := <-dictated:
			t.Errorf("%s callback invoked; sadb never calls the dictation callbacks", d)
		default:
		}
	})

	s.run(t, "KeyNotifyDoesNotBlockTheCaller", func(t *testing.T) {
		fx := s.fixture(t)
		release := make(chan struct{})
		called := make(chan struct{}, 10)
		_, err := fx.api.IPsecKeyManagerAddAndRegister0(mgr("slow", 0), &wfp.IPsecKeyManagerCallbacks0{KeyNotify: func(_, _ *wfp.IPsecSADetails1) {
			called <- struct{}{}
			<-release
		}})
		mustOK(t, err, "register")
		t.Cleanup(func() { close(release) })
		a := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)
		b := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextInboundAdded)
		done := make(chan error, 1)
		go func() {
			err := fx.api.IPsecSaContextAddOutbound1(a.id, a.outbound)
			if err == nil {
				err = fx.api.IPsecSaContextAddOutbound1(b.id, b.outbound)
			}
			done <- err
		}()
		select {
		case err := <-done:
			mustOK(t, err, "AddOutbound")
		case <-time.After(asyncDeadline):
			t.Fatalf("AddOutbound blocked behind a running keyNotify callback")
		}
		select {
		case <-called:
		case <-time.After(asyncDeadline):
			t.Fatalf("keyNotify never called")
		}
	})
}
