package conformance

import (
	"testing"

	"github.com/sadb-dev/sadb/wfp"
)

// apiCall is one call of the API with fixed arguments, for tables that run
// every function.
type apiCall struct {
	name string
	fn   func(api wfp.API) error
}

// everyCall returns one call of every API function, with arguments that
// would be valid for context id, filter id and the given objects.
func everyCall(fx *fixture, id, filterID uint64) []apiCall {
	tr := fx.outboundTraffic(wfp.IPVersionV4)
	gs := fx.inboundGetSpi(wfp.IPVersionV4)
	gs0 := &wfp.IPsecGetSPI0{InboundIPsecTraffic: gs.InboundIPsecTraffic.ToTraffic0(), IPVersion: gs.IPVersion}
	tr0 := tr.ToTraffic0()
	b := GCMBundle(wfp.IPVersionV4, 0x1234, TestKey(20, 1))
	b0 := b.ToBundle0()
	acl := wfp.ACL{allow(fx.h.Admin().User, wfp.GenericAll)}
	km := func() (*wfp.IPsecKeyManager0, *wfp.IPsecKeyManagerCallbacks0) {
		return &wfp.IPsecKeyManager0{DisplayData: wfp.FwpmDisplayData0{Name: "km"}},
			&wfp.IPsecKeyManagerCallbacks0{KeyNotify: func(_, _ *wfp.IPsecSADetails1) {}}
	}
	return []apiCall{
		{"FwpmEngineClose0", func(a wfp.API) error { return a.FwpmEngineClose0() }},
		{"FwpmTransactionBegin0", func(a wfp.API) error { return a.FwpmTransactionBegin0(0) }},
		{"FwpmTransactionCommit0", func(a wfp.API) error { return a.FwpmTransactionCommit0() }},
		{"FwpmTransactionAbort0", func(a wfp.API) error { return a.FwpmTransactionAbort0() }},
		{"FwpmEngineGetSecurityInfo0", func(a wfp.API) error {
			_, err := a.FwpmEngineGetSecurityInfo0(wfp.DACLSecurityInformation)
			return err
		}},
		{"FwpmEngineSetSecurityInfo0", func(a wfp.API) error {
			return a.FwpmEngineSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &acl)
		}},
		{"IPsecSaDbGetSecurityInfo0", func(a wfp.API) error {
			_, err := a.IPsecSaDbGetSecurityInfo0(wfp.DACLSecurityInformation)
			return err
		}},
		{"IPsecSaDbSetSecurityInfo0", func(a wfp.API) error {
			return a.IPsecSaDbSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &acl)
		}},
		{"FwpmFilterAdd0", func(a wfp.API) error {
			_, err := a.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, PeerB4), nil)
			return err
		}},
		{"FwpmFilterDeleteById0", func(a wfp.API) error { return a.FwpmFilterDeleteById0(filterID) }},
		{"FwpmFilterGetById0", func(a wfp.API) error {
			_, err := a.FwpmFilterGetById0(filterID)
			return err
		}},
		{"FwpmFilterCreateEnumHandle0", func(a wfp.API) error {
			_, err := a.FwpmFilterCreateEnumHandle0(nil)
			return err
		}},
		{"FwpmFilterEnum0", func(a wfp.API) error {
			_, err := a.FwpmFilterEnum0(1, 10)
			return err
		}},
		{"FwpmFilterDestroyEnumHandle0", func(a wfp.API) error { return a.FwpmFilterDestroyEnumHandle0(1) }},
		{"IPsecSaContextCreate0", func(a wfp.API) error {
			_, _, err := a.IPsecSaContextCreate0(&tr0)
			return err
		}},
		{"IPsecSaContextCreate1", func(a wfp.API) error {
			_, _, err := a.IPsecSaContextCreate1(&tr, nil)
			return err
		}},
		{"IPsecSaContextGetSpi0", func(a wfp.API) error {
			_, err := a.IPsecSaContextGetSpi0(id, gs0)
			return err
		}},
		{"IPsecSaContextGetSpi1", func(a wfp.API) error {
			_, err := a.IPsecSaContextGetSpi1(id, gs)
			return err
		}},
		{"IPsecSaContextSetSpi0", func(a wfp.API) error { return a.IPsecSaContextSetSpi0(id, gs, 0x1234) }},
		{"IPsecSaContextAddInbound0", func(a wfp.API) error { return a.IPsecSaContextAddInbound0(id, &b0) }},
		{"IPsecSaContextAddInbound1", func(a wfp.API) error { return a.IPsecSaContextAddInbound1(id, b) }},
		{"IPsecSaContextAddOutbound0", func(a wfp.API) error { return a.IPsecSaContextAddOutbound0(id, &b0) }},
		{"IPsecSaContextAddOutbound1", func(a wfp.API) error { return a.IPsecSaContextAddOutbound1(id, b) }},
		{"IPsecSaContextUpdate0", func(a wfp.API) error {
			return a.IPsecSaContextUpdate0(wfp.SABundleUpdateNAPContext, &wfp.IPsecSAContext1{SAContextID: id, InboundSA: &wfp.IPsecSADetails1{}})
		}},
		{"IPsecSaContextExpire0", func(a wfp.API) error { return a.IPsecSaContextExpire0(id) }},
		{"IPsecSaContextDeleteById0", func(a wfp.API) error { return a.IPsecSaContextDeleteById0(id) }},
		{"IPsecSaContextGetById0", func(a wfp.API) error {
			_, err := a.IPsecSaContextGetById0(id)
			return err
		}},
		{"IPsecSaContextGetById1", func(a wfp.API) error {
			_, err := a.IPsecSaContextGetById1(id)
			return err
		}},
		{"IPsecSaContextCreateEnumHandle0", func(a wfp.API) error {
			_, err := a.IPsecSaContextCreateEnumHandle0(nil)
			return err
		}},
		{"IPsecSaContextEnum0", func(a wfp.API) error {
			_, err := a.IPsecSaContextEnum0(1, 10)
			return err
		}},
		{"IPsecSaContextEnum1", func(a wfp.API) error {
			_, err := a.IPsecSaContextEnum1(1, 10)
			return err
		}},
		{"IPsecSaContextDestroyEnumHandle0", func(a wfp.API) error { return a.IPsecSaContextDestroyEnumHandle0(1) }},
		{"IPsecSaContextSubscribe0", func(a wfp.API) error {
			_, err := a.IPsecSaContextSubscribe0(&wfp.IPsecSAContextSubscription0{}, func(*wfp.IPsecSAContextChange0) {})
			return err
		}},
		{"IPsecSaContextUnsubscribe0", func(a wfp.API) error { return a.IPsecSaContextUnsubscribe0(1) }},
		{"IPsecSaContextSubscriptionsGet0", func(a wfp.API) error {
			_, err := a.IPsecSaContextSubscriptionsGet0()
			return err
		}},
		{"IPsecSaCreateEnumHandle0", func(a wfp.API) error {
			_, err := a.IPsecSaCreateEnumHandle0(nil)
			return err
		}},
		{"IPsecSaEnum0", func(a wfp.API) error {
			_, err := a.IPsecSaEnum0(1, 10)
			return err
		}},
		{"IPsecSaEnum1", func(a wfp.API) error {
			_, err := a.IPsecSaEnum1(1, 10)
			return err
		}},
		{"IPsecSaDestroyEnumHandle0", func(a wfp.API) error { return a.IPsecSaDestroyEnumHandle0(1) }},
		{"IPsecGetStatistics0", func(a wfp.API) error {
			_, err := a.IPsecGetStatistics0()
			return err
		}},
		{"IPsecGetStatistics1", func(a wfp.API) error {
			_, err := a.IPsecGetStatistics1()
			return err
		}},
		{"IPsecKeyManagerAddAndRegister0", func(a wfp.API) error {
			m, cb := km()
			_, err := a.IPsecKeyManagerAddAndRegister0(m, cb)
			return err
		}},
		{"IPsecKeyManagerUnregisterAndDelete0", func(a wfp.API) error { return a.IPsecKeyManagerUnregisterAndDelete0(1) }},
		{"IPsecKeyManagersGet0", func(a wfp.API) error {
			_, err := a.IPsecKeyManagersGet0()
			return err
		}},
	}
}

func (s *suite) sessions(t *testing.T) {
	s.run(t, "ZeroSessionKeyIsGenerated", func(t *testing.T) {
		h := s.f(t)
		a := open(t, h, h.Admin(), nil)
		b := open(t, h, h.Admin(), &wfp.FwpmSession0{})
		ka, kb := a.Session().SessionKey, b.Session().SessionKey
		if ka.IsZero() || kb.IsZero() || ka == kb {
			t.Errorf("session keys %v and %v: want two distinct nonzero keys", ka, kb)
		}
	})

	s.run(t, "DuplicateSessionKey", func(t *testing.T) {
		h := s.f(t)
		key := wfp.NewGUID()
		a, err := h.Open(h.Admin(), &wfp.FwpmSession0{SessionKey: key})
		mustOK(t, err, "first open")
		if got := a.Session().SessionKey; got != key {
			t.Errorf("SessionKey = %v, want the one given, %v", got, key)
		}
		_, err = h.Open(h.Admin(), &wfp.FwpmSession0{SessionKey: key})
		wantErr(t, err, wfp.ErrAlreadyExists, "second open with the same sessionKey")
		mustOK(t, a.FwpmEngineClose0(), "close")
		b := open(t, h, h.Admin(), &wfp.FwpmSession0{SessionKey: key})
		if got := b.Session().SessionKey; got != key {
			t.Errorf("reopened SessionKey = %v, want %v", got, key)
		}
	})

	s.run(t, "Flags", func(t *testing.T) {
		h := s.f(t)
		for _, fl := range []uint32{0, wfp.SessionFlagDynamic, wfp.SessionFlagReserved, wfp.SessionFlagKeyMaterial,
			wfp.SessionFlagDynamic | wfp.SessionFlagReserved | wfp.SessionFlagKeyMaterial} {
			api := open(t, h, h.Admin(), &wfp.FwpmSession0{Flags: fl})
			if got := api.Session().Flags; got != fl {
				t.Errorf("session opened with flags %#x reports %#x", fl, got)
			}
		}
		for _, fl := range []uint32{0x2, 0x4, 0x100, 0x80000000, wfp.SessionFlagDynamic | 0x20000000} {
			_, err := h.Open(h.Admin(), &wfp.FwpmSession0{Flags: fl})
			wantErr(t, err, wfp.ErrInvalidFlags, "FwpmEngineOpen0 flags %#x", fl)
		}
	})

	s.run(t, "EngineFillsIdentity", func(t *testing.T) {
		h := s.f(t)
		dd := wfp.FwpmDisplayData0{Name: "keying daemon", Description: "conformance"}
		api := open(t, h, h.Admin(), &wfp.FwpmSession0{DisplayData: dd, TxnWaitTimeoutInMSec: 1234})
		got := api.Session()
		if got.SID != h.Admin().User || got.Username != string(h.Admin().User) {
			t.Errorf("session sid/username = %q/%q, want the token's user %q", got.SID, got.Username, h.Admin().User)
		}
		if got.KernelMode {
			t.Errorf("user-mode session reports kernelMode")
		}
		if got.DisplayData != dd || got.TxnWaitTimeoutInMSec != 1234 {
			t.Errorf("session = %+v, want displayData %+v and txnWaitTimeoutInMSec 1234 as given", got, dd)
		}
		if h.Users() > 0 {
			u := open(t, h, h.User(0), nil)
			if got := u.Session().SID; got != h.User(0).User {
				t.Errorf("user session sid = %q, want %q", got, h.User(0).User)
			}
		}
	})

	s.run(t, "ClosedSessionRefusesEveryCall", func(t *testing.T) {
		fx := s.fixture(t)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextInboundAdded)
		api, err := fx.h.Open(fx.h.Admin(), nil)
		mustOK(t, err, "open")
		mustOK(t, api.FwpmEngineClose0(), "first close")
		before := snapshot(t, fx.api)
		for _, c := range everyCall(fx, c.id, fx.f4.out) {
			wantErr(t, c.fn(api), wfp.ErrorInvalidHandle, "%s on a closed session", c.name)
		}
		if got := api.Session(); got.SessionKey.IsZero() {
			t.Logf("Session() after close returns a zero session key")
		}
		wantUnchanged(t, before, snapshot(t, fx.api), "calls on a closed session")
	})

	s.run(t, "CloseUnregistersKeyManagers", func(t *testing.T) {
		fx := s.fixture(t)
		api := open(t, fx.h, fx.h.Admin(), nil)
		_, err := api.IPsecKeyManagerAddAndRegister0(&wfp.IPsecKeyManager0{DisplayData: wfp.FwpmDisplayData0{Name: "dictator"}, Flags: wfp.KeyManagerFlagDictateKey}, dictatingCallbacks())
		mustOK(t, err, "IPsecKeyManagerAddAndRegister0")
		mustOK(t, api.FwpmEngineClose0(), "close")
		kms, err := fx.api.IPsecKeyManagersGet0()
		mustOK(t, err, "IPsecKeyManagersGet0")
		if len(kms) != 0 {
			t.Errorf("key managers after their session closed: %+v", kms)
		}
		_, err = fx.api.IPsecKeyManagerAddAndRegister0(&wfp.IPsecKeyManager0{DisplayData: wfp.FwpmDisplayData0{Name: "dictator 2"}, Flags: wfp.KeyManagerFlagDictateKey}, dictatingCallbacks())
		mustOK(t, err, "registering a dictating key manager after the previous one's session closed")
	})

	s.run(t, "KernelModeSkipsAccessChecks", func(t *testing.T) {
		fx := s.fixture(t)
		tok := fx.h.Admin()
		tok.KernelMode = true
		api := open(t, fx.h, tok, nil)
		if !api.Session().KernelMode {
			t.Skip("harness does not open kernel-mode sessions")
		}
		empty := wfp.ACL{}
		mustOK(t, fx.api.IPsecSaDbSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &empty), "empty SA DB DACL")
		mustOK(t, fx.api.FwpmEngineSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &empty), "empty engine DACL")
		c := fx.ctxAt(t, api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
		wantState(t, api, c.id, wfp.SAContextOutboundAdded)
		_, err := api.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.9")), nil)
		mustOK(t, err, "kernel-mode FwpmFilterAdd0 with an empty engine DACL")
		mustOK(t, api.FwpmTransactionBegin0(0), "kernel-mode FwpmTransactionBegin0")
		mustOK(t, api.FwpmTransactionCommit0(), "commit")
	})
}
