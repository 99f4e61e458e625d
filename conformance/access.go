package conformance

import (
	"fmt"
	"math/bits"
	"slices"
	"testing"

	"github.com/sadb-dev/sadb/wfp"
)

type aclObject int

const (
	objEngine aclObject = iota
	objSADB
	objFilter
)

// aclRow is one row of the access-control table of docs/semantics.md.
type aclRow struct {
	name  string
	obj   aclObject
	needs wfp.AccessMask // every right the call needs on obj
	// prep prepares what the call acts on, as the administrator; for
	// objFilter it adds the filter with sd and returns its id.
	prep func(t *testing.T, fx *fixture, sd *wfp.SecurityDescriptor) any
	// call makes the call as the user (u is nil for FwpmEngineOpen0).
	call func(fx *fixture, u wfp.API, d any) error
	// cleanup undoes what a successful call left open (a transaction).
	cleanup func(t *testing.T, u wfp.API)
}

func aclRows() []aclRow {
	ctxIn := func(st wfp.SAContextState) func(t *testing.T, fx *fixture, _ *wfp.SecurityDescriptor) any {
		return func(t *testing.T, fx *fixture, _ *wfp.SecurityDescriptor) any {
			return fx.ctxAt(t, fx.api, wfp.IPVersionV4, st)
		}
	}
	none := func(*testing.T, *fixture, *wfp.SecurityDescriptor) any { return nil }
	addFilter := func(t *testing.T, fx *fixture, sd *wfp.SecurityDescriptor) any {
		id, err := fx.api.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.60")), sd)
		mustOK(t, err, "FwpmFilterAdd0 with a security descriptor")
		return id
	}
	endTxn := func(t *testing.T, u wfp.API) { mustOK(t, u.FwpmTransactionAbort0(), "abort") }
	userACL := func(fx *fixture) *wfp.ACL {
		return &wfp.ACL{allow(fx.h.Admin().User, wfp.GenericAll), allow(fx.h.User(0).User, wfp.FwpmGenericAll)}
	}
	gs0 := func(c *sactx) *wfp.IPsecGetSPI0 {
		return &wfp.IPsecGetSPI0{InboundIPsecTraffic: c.getSpi.InboundIPsecTraffic.ToTraffic0(), IPVersion: c.v}
	}
	all := wfp.OwnerSecurityInformation | wfp.GroupSecurityInformation | wfp.DACLSecurityInformation
	return []aclRow{
		{name: "FwpmEngineOpen0", obj: objEngine, needs: wfp.ActrlOpen, prep: none,
			call: func(fx *fixture, _ wfp.API, _ any) error {
				api, err := fx.h.Open(fx.h.User(0), nil)
				if err == nil {
					_ = api.FwpmEngineClose0()
				}
				return err
			}},
		{name: "FwpmTransactionBegin0/ReadOnly", obj: objEngine, needs: wfp.ActrlBeginReadTxn, prep: none, cleanup: endTxn,
			call: func(_ *fixture, u wfp.API, _ any) error { return u.FwpmTransactionBegin0(wfp.TxnReadOnly) }},
		{name: "FwpmTransactionBegin0/ReadWrite", obj: objEngine, needs: wfp.ActrlBeginWriteTxn, prep: none, cleanup: endTxn,
			call: func(_ *fixture, u wfp.API, _ any) error { return u.FwpmTransactionBegin0(0) }},
		{name: "FwpmEngineGetSecurityInfo0", obj: objEngine, needs: wfp.ReadControl, prep: none,
			call: func(_ *fixture, u wfp.API, _ any) error { _, err := u.FwpmEngineGetSecurityInfo0(all); return err }},
		{name: "FwpmEngineSetSecurityInfo0/DACL", obj: objEngine, needs: wfp.WriteDAC, prep: none,
			call: func(fx *fixture, u wfp.API, _ any) error {
				acl := wfp.ACL{allow(fx.h.Admin().User, wfp.GenericAll), allow(wfp.Everyone, wfp.ActrlOpen|wfp.ActrlClassify|wfp.ActrlRead)}
				return u.FwpmEngineSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &acl)
			}},
		{name: "FwpmEngineSetSecurityInfo0/Owner", obj: objEngine, needs: wfp.WriteOwner, prep: none,
			call: func(fx *fixture, u wfp.API, _ any) error {
				o := fx.h.User(0).User
				return u.FwpmEngineSetSecurityInfo0(wfp.OwnerSecurityInformation, &o, nil, nil)
			}},
		{name: "FwpmEngineSetSecurityInfo0/Group", obj: objEngine, needs: wfp.WriteOwner, prep: none,
			call: func(_ *fixture, u wfp.API, _ any) error {
				g := wfp.GroupSID(4242)
				return u.FwpmEngineSetSecurityInfo0(wfp.GroupSecurityInformation, nil, &g, nil)
			}},
		{name: "FwpmFilterAdd0", obj: objEngine, needs: wfp.ActrlAdd | wfp.ActrlAddLink, prep: none,
			call: func(_ *fixture, u wfp.API, _ any) error {
				_, err := u.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.61")), nil)
				return err
			}},
		{name: "FwpmFilterCreateEnumHandle0", obj: objEngine, needs: wfp.ActrlEnum, prep: none,
			call: func(_ *fixture, u wfp.API, _ any) error { _, err := u.FwpmFilterCreateEnumHandle0(nil); return err }},
		{name: "FwpmFilterDeleteById0", obj: objFilter, needs: wfp.Delete, prep: addFilter,
			call: func(_ *fixture, u wfp.API, d any) error { return u.FwpmFilterDeleteById0(d.(uint64)) }},
		{name: "FwpmFilterGetById0", obj: objFilter, needs: wfp.ActrlRead, prep: addFilter,
			call: func(_ *fixture, u wfp.API, d any) error { _, err := u.FwpmFilterGetById0(d.(uint64)); return err }},
		{name: "IPsecSaContextCreate0", obj: objSADB, needs: wfp.ActrlAdd, prep: none,
			call: func(fx *fixture, u wfp.API, _ any) error {
				tr1 := fx.outboundTraffic(wfp.IPVersionV4)
				tr := tr1.ToTraffic0()
				_, _, err := u.IPsecSaContextCreate0(&tr)
				return err
			}},
		{name: "IPsecSaContextCreate1", obj: objSADB, needs: wfp.ActrlAdd, prep: none,
			call: func(fx *fixture, u wfp.API, _ any) error {
				tr := fx.outboundTraffic(wfp.IPVersionV6)
				_, _, err := u.IPsecSaContextCreate1(&tr, nil)
				return err
			}},
		{name: "IPsecSaContextGetSpi0", obj: objSADB, needs: wfp.ActrlAdd, prep: ctxIn(wfp.SAContextCreated),
			call: func(_ *fixture, u wfp.API, d any) error {
				_, err := u.IPsecSaContextGetSpi0(d.(*sactx).id, gs0(d.(*sactx)))
				return err
			}},
		{name: "IPsecSaContextGetSpi1", obj: objSADB, needs: wfp.ActrlAdd, prep: ctxIn(wfp.SAContextCreated),
			call: func(_ *fixture, u wfp.API, d any) error {
				_, err := u.IPsecSaContextGetSpi1(d.(*sactx).id, d.(*sactx).getSpi)
				return err
			}},
		{name: "IPsecSaContextSetSpi0", obj: objSADB, needs: wfp.ActrlAdd, prep: ctxIn(wfp.SAContextCreated),
			call: func(_ *fixture, u wfp.API, d any) error {
				return u.IPsecSaContextSetSpi0(d.(*sactx).id, d.(*sactx).getSpi, 0x6060)
			}},
		{name: "IPsecSaContextAddInbound0", obj: objSADB, needs: wfp.ActrlAdd, prep: ctxIn(wfp.SAContextSPISet),
			call: func(_ *fixture, u wfp.API, d any) error {
				b := d.(*sactx).inboundBundle().ToBundle0()
				return u.IPsecSaContextAddInbound0(d.(*sactx).id, &b)
			}},
		{name: "IPsecSaContextAddInbound1", obj: objSADB, needs: wfp.ActrlAdd, prep: ctxIn(wfp.SAContextSPISet),
			call: func(_ *fixture, u wfp.API, d any) error {
				return u.IPsecSaContextAddInbound1(d.(*sactx).id, d.(*sactx).inboundBundle())
			}},
		{name: "IPsecSaContextAddOutbound0", obj: objSADB, needs: wfp.ActrlAdd, prep: ctxIn(wfp.SAContextInboundAdded),
			call: func(_ *fixture, u wfp.API, d any) error {
				b := d.(*sactx).outbound.ToBundle0()
				return u.IPsecSaContextAddOutbound0(d.(*sactx).id, &b)
			}},
		{name: "IPsecSaContextAddOutbound1", obj: objSADB, needs: wfp.ActrlAdd, prep: ctxIn(wfp.SAContextInboundAdded),
			call: func(_ *fixture, u wfp.API, d any) error {
				return u.IPsecSaContextAddOutbound1(d.(*sactx).id, d.(*sactx).outbound.Clone())
			}},
		{name: "IPsecSaContextUpdate0", obj: objSADB, needs: wfp.ActrlAdd, prep: ctxIn(wfp.SAContextInboundAdded),
			call: func(_ *fixture, u wfp.API, d any) error {
				return u.IPsecSaContextUpdate0(wfp.SABundleUpdateNAPContext, &wfp.IPsecSAContext1{SAContextID: d.(*sactx).id,
					InboundSA: &wfp.IPsecSADetails1{SABundle: wfp.IPsecSABundle1{NAPContext: 8}}})
			}},
		{name: "IPsecSaContextExpire0", obj: objSADB, needs: wfp.Delete, prep: ctxIn(wfp.SAContextOutboundAdded),
			call: func(_ *fixture, u wfp.API, d any) error { return u.IPsecSaContextExpire0(d.(*sactx).id) }},
		{name: "IPsecSaContextExpire0/Created", obj: objSADB, needs: wfp.Delete, prep: ctxIn(wfp.SAContextCreated),
			call: func(_ *fixture, u wfp.API, d any) error { return u.IPsecSaContextExpire0(d.(*sactx).id) }},
		{name: "IPsecSaContextDeleteById0", obj: objSADB, needs: wfp.Delete, prep: ctxIn(wfp.SAContextOutboundAdded),
			call: func(_ *fixture, u wfp.API, d any) error { return u.IPsecSaContextDeleteById0(d.(*sactx).id) }},
		{name: "IPsecSaContextGetById0", obj: objSADB, needs: wfp.ActrlRead, prep: ctxIn(wfp.SAContextOutboundAdded),
			call: func(_ *fixture, u wfp.API, d any) error {
				_, err := u.IPsecSaContextGetById0(d.(*sactx).id)
				return err
			}},
		{name: "IPsecSaContextGetById1", obj: objSADB, needs: wfp.ActrlRead, prep: ctxIn(wfp.SAContextOutboundAdded),
			call: func(_ *fixture, u wfp.API, d any) error {
				_, err := u.IPsecSaContextGetById1(d.(*sactx).id)
				return err
			}},
		{name: "IPsecSaContextCreateEnumHandle0", obj: objSADB, needs: wfp.ActrlEnum | wfp.ActrlRead, prep: ctxIn(wfp.SAContextOutboundAdded),
			call: func(_ *fixture, u wfp.API, _ any) error { _, err := u.IPsecSaContextCreateEnumHandle0(nil); return err }},
		{name: "IPsecSaCreateEnumHandle0", obj: objSADB, needs: wfp.ActrlEnum | wfp.ActrlRead, prep: ctxIn(wfp.SAContextOutboundAdded),
			call: func(_ *fixture, u wfp.API, _ any) error { _, err := u.IPsecSaCreateEnumHandle0(nil); return err }},
		{name: "IPsecSaContextSubscribe0", obj: objSADB, needs: wfp.ActrlSubscribe, prep: none,
			call: func(_ *fixture, u wfp.API, _ any) error {
				_, err := u.IPsecSaContextSubscribe0(&wfp.IPsecSAContextSubscription0{}, func(*wfp.IPsecSAContextChange0) {})
				return err
			}},
		{name: "IPsecSaContextSubscriptionsGet0", obj: objSADB, needs: wfp.ActrlRead, prep: none,
			call: func(_ *fixture, u wfp.API, _ any) error { _, err := u.IPsecSaContextSubscriptionsGet0(); return err }},
		{name: "IPsecGetStatistics0", obj: objSADB, needs: wfp.ActrlReadStats, prep: none,
			call: func(_ *fixture, u wfp.API, _ any) error { _, err := u.IPsecGetStatistics0(); return err }},
		{name: "IPsecGetStatistics1", obj: objSADB, needs: wfp.ActrlReadStats, prep: none,
			call: func(_ *fixture, u wfp.API, _ any) error { _, err := u.IPsecGetStatistics1(); return err }},
		{name: "IPsecSaDbGetSecurityInfo0", obj: objSADB, needs: wfp.ReadControl, prep: none,
			call: func(_ *fixture, u wfp.API, _ any) error { _, err := u.IPsecSaDbGetSecurityInfo0(all); return err }},
		{name: "IPsecSaDbSetSecurityInfo0/DACL", obj: objSADB, needs: wfp.WriteDAC, prep: none,
			call: func(fx *fixture, u wfp.API, _ any) error {
				return u.IPsecSaDbSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, userACL(fx))
			}},
		{name: "IPsecSaDbSetSecurityInfo0/Owner", obj: objSADB, needs: wfp.WriteOwner, prep: none,
			call: func(fx *fixture, u wfp.API, _ any) error {
				o := fx.h.User(0).User
				return u.IPsecSaDbSetSecurityInfo0(wfp.OwnerSecurityInformation, &o, nil, nil)
			}},
		{name: "IPsecSaDbSetSecurityInfo0/Group", obj: objSADB, needs: wfp.WriteOwner, prep: none,
			call: func(_ *fixture, u wfp.API, _ any) error {
				g := wfp.GroupSID(4242)
				return u.IPsecSaDbSetSecurityInfo0(wfp.GroupSecurityInformation, nil, &g, nil)
			}},
		{name: "IPsecKeyManagerAddAndRegister0", obj: objSADB, needs: wfp.ActrlAdd, prep: none,
			call: func(_ *fixture, u wfp.API, _ any) error {
				_, err := u.IPsecKeyManagerAddAndRegister0(&wfp.IPsecKeyManager0{DisplayData: wfp.FwpmDisplayData0{Name: "km"}},
					&wfp.IPsecKeyManagerCallbacks0{KeyNotify: func(_, _ *wfp.IPsecSADetails1) {}})
				return err
			}},
		{name: "IPsecKeyManagersGet0", obj: objSADB, needs: wfp.ActrlRead, prep: none,
			call: func(_ *fixture, u wfp.API, _ any) error { _, err := u.IPsecKeyManagersGet0(); return err }},
	}
}

// eachRight returns the single rights of m.
func eachRight(m wfp.AccessMask) []wfp.AccessMask {
	var out []wfp.AccessMask
	for m != 0 {
		b := wfp.AccessMask(1) << bits.TrailingZeros32(uint32(m))
		out = append(out, b)
		m &^= b
	}
	return out
}

// applyGrant gives the user mask on the row's object and prepares the
// call's target. For the engine, the default "everyone OPEN" entry is
// dropped so that OPEN is only what mask says.
func (row aclRow) applyGrant(t *testing.T, fx *fixture, mask wfp.AccessMask) any {
	t.Helper()
	user := fx.h.User(0).User
	switch row.obj {
	case objEngine:
		d := row.prep(t, fx, nil)
		acl := wfp.ACL{allow(fx.h.Admin().User, wfp.GenericAll), allow(user, mask)}
		mustOK(t, fx.api.FwpmEngineSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &acl), "FwpmEngineSetSecurityInfo0")
		return d
	case objSADB:
		d := row.prep(t, fx, nil)
		grantSADB(t, fx.api, fx.h, allow(user, mask))
		return d
	default:
		sd := &wfp.SecurityDescriptor{Owner: fx.h.Admin().User, Group: fx.h.Admin().User,
			DACL: &wfp.ACL{allow(fx.h.Admin().User, wfp.GenericAll), allow(user, mask)}}
		return row.prep(t, fx, sd)
	}
}

func (s *suite) accessControl(t *testing.T) {
	for _, row := range aclRows() {
		for _, missing := range eachRight(row.needs) {
			s.run(t, row.name+"/Without"+rightName(missing), func(t *testing.T) {
				fx := s.fixture(t)
				needUsers(t, fx.h, 1)
				r, _ := subscribe(t, fx.api, nil)
				mask := wfp.FwpmGenericAll &^ missing
				d := row.applyGrant(t, fx, mask)
				var u wfp.API
				if row.name != "FwpmEngineOpen0" {
					u = open(t, fx.h, fx.h.User(0), nil)
				}
				fx.sync1(t, r)
				before := snapshot(t, fx.api)
				err := row.call(fx, u, d)
				wantErr(t, err, wfp.ErrorAccessDenied, "%s without %v (holding %v)", row.name, missing, mask)
				wantUnchanged(t, before, snapshot(t, fx.api), "a call refused for access")
				wantEvents(t, fx.sync1(t, r), nil, "a call refused for access")
			})
		}
		s.run(t, row.name+"/Granted", func(t *testing.T) {
			fx := s.fixture(t)
			needUsers(t, fx.h, 1)
			mask := row.needs
			if row.obj == objEngine {
				mask |= wfp.ActrlOpen
			}
			d := row.applyGrant(t, fx, mask)
			var u wfp.API
			if row.name != "FwpmEngineOpen0" {
				u = open(t, fx.h, fx.h.User(0), nil)
			}
			mustOK(t, row.call(fx, u, d), "%s holding exactly %v", row.name, mask)
			if row.cleanup != nil {
				row.cleanup(t, u)
			}
		})
	}

	s.run(t, "DefaultsGiveUsersOnlyOpen", func(t *testing.T) {
		fx := s.fixture(t)
		needUsers(t, fx.h, 1)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
		u := open(t, fx.h, fx.h.User(0), nil)
		before := snapshot(t, fx.api)
		for _, call := range everyCall(fx, c.id, fx.f4.out) {
			switch call.name {
			case "FwpmEngineClose0", "FwpmTransactionCommit0", "FwpmTransactionAbort0", "FwpmFilterEnum0", "FwpmFilterDestroyEnumHandle0",
				"IPsecSaContextEnum0", "IPsecSaContextEnum1", "IPsecSaContextDestroyEnumHandle0", "IPsecSaContextUnsubscribe0",
				"IPsecSaEnum0", "IPsecSaEnum1", "IPsecSaDestroyEnumHandle0", "IPsecKeyManagerUnregisterAndDelete0":
				continue // act on the session's own state
			}
			wantErr(t, call.fn(u), wfp.ErrorAccessDenied, "%s by an unprivileged user under the default descriptors", call.name)
		}
		wantUnchanged(t, before, snapshot(t, fx.api), "calls refused under the default descriptors")
	})

	s.run(t, "DefaultDescriptors", func(t *testing.T) {
		fx := s.fixture(t)
		if fx.h.Admin().User != wfp.UserSID(0) {
			t.Skip("harness administrator is not uid:0")
		}
		info := wfp.OwnerSecurityInformation | wfp.DACLSecurityInformation
		esd, err := fx.api.FwpmEngineGetSecurityInfo0(info)
		mustOK(t, err, "FwpmEngineGetSecurityInfo0")
		want := &wfp.ACL{allow(wfp.UserSID(0), wfp.FwpmGenericAll), allow(wfp.Everyone, wfp.ActrlOpen|wfp.ActrlClassify)}
		if esd.Owner != wfp.UserSID(0) {
			t.Errorf("engine owner %q, want uid:0", esd.Owner)
		}
		if d := diff(want, esd.DACL); d != "" {
			t.Errorf("engine DACL (-want +got):\n%s", d)
		}
		ssd, err := fx.api.IPsecSaDbGetSecurityInfo0(info)
		mustOK(t, err, "IPsecSaDbGetSecurityInfo0")
		if ssd.Owner != wfp.UserSID(0) {
			t.Errorf("SA DB owner %q, want uid:0", ssd.Owner)
		}
		if d := diff(&wfp.ACL{allow(wfp.UserSID(0), wfp.FwpmGenericAll)}, ssd.DACL); d != "" {
			t.Errorf("SA DB DACL (-want +got):\n%s", d)
		}
	})

	s.run(t, "AdministratorAlwaysOpens", func(t *testing.T) {
		fx := s.fixture(t)
		empty := wfp.ACL{}
		mustOK(t, fx.api.FwpmEngineSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &empty), "empty engine DACL")
		api := open(t, fx.h, fx.h.Admin(), nil)
		if fx.h.Users() > 0 {
			_, err := fx.h.Open(fx.h.User(0), nil)
			wantErr(t, err, wfp.ErrorAccessDenied, "user FwpmEngineOpen0 with an empty engine DACL")
		}
		// The owner can put a DACL back (implicit WRITE_DAC).
		grantEngine(t, api, fx.h)
	})

	s.run(t, "DenyEntries", func(t *testing.T) {
		fx := s.fixture(t)
		needUsers(t, fx.h, 1)
		user := fx.h.User(0)
		tr := fx.outboundTraffic(wfp.IPVersionV4)
		createAs := func(api wfp.API) error { _, _, err := api.IPsecSaContextCreate1(&tr, nil); return err }
		u := open(t, fx.h, user, nil)
		type step struct {
			name string
			aces []wfp.ACE
			want wfp.Error // 0: allowed
		}
		steps := []step{
			{"DenyThenAllowEveryone", []wfp.ACE{deny(user.User, wfp.ActrlAdd), allow(wfp.Everyone, wfp.GenericAll)}, wfp.ErrorAccessDenied},
			{"AllowThenDeny", []wfp.ACE{allow(user.User, wfp.ActrlAdd), deny(user.User, wfp.ActrlAdd)}, 0},
			{"DenyOtherRight", []wfp.ACE{deny(user.User, wfp.Delete), allow(user.User, wfp.GenericAll)}, 0},
			{"AllowEveryone", []wfp.ACE{allow(wfp.Everyone, wfp.ActrlAdd)}, 0},
			{"AllowOtherUser", []wfp.ACE{allow(wfp.UserSID(4242), wfp.ActrlAdd)}, wfp.ErrorAccessDenied},
			{"DenyGenericWriteMapped", []wfp.ACE{deny(user.User, wfp.GenericWrite), allow(user.User, wfp.ActrlAdd)}, wfp.ErrorAccessDenied},
		}
		if len(user.Groups) > 0 {
			g := user.Groups[0]
			steps = append(steps,
				step{"DenyGroup", []wfp.ACE{deny(g, wfp.ActrlAdd), allow(user.User, wfp.GenericAll)}, wfp.ErrorAccessDenied},
				step{"AllowGroup", []wfp.ACE{allow(g, wfp.ActrlAdd)}, 0},
			)
		}
		for _, st := range steps {
			grantSADB(t, fx.api, fx.h, st.aces...)
			err := createAs(u)
			if st.want == 0 {
				if err != nil {
					t.Errorf("%s: user Create: %v, want success", st.name, err)
				}
			} else {
				wantErr(t, err, st.want, "%s: user Create", st.name)
			}
			mustOK(t, createAs(fx.api), "%s: administrator Create", st.name)
		}
		// Allows accumulate across entries: ENUM from one, READ from another.
		if len(user.Groups) > 0 {
			grantSADB(t, fx.api, fx.h, allow(user.User, wfp.ActrlEnum), allow(user.Groups[0], wfp.ActrlRead))
			_, err := u.IPsecSaContextCreateEnumHandle0(nil)
			mustOK(t, err, "ENUM and READ granted by two entries")
		}
		grantSADB(t, fx.api, fx.h, allow(user.User, wfp.ActrlEnum))
		_, err := u.IPsecSaContextCreateEnumHandle0(nil)
		wantErr(t, err, wfp.ErrorAccessDenied, "ENUM without READ")
	})

	s.run(t, "OwnerRights", func(t *testing.T) {
		fx := s.fixture(t)
		needUsers(t, fx.h, 1)
		user := fx.h.User(0).User
		o := user
		mustOK(t, fx.api.IPsecSaDbSetSecurityInfo0(wfp.OwnerSecurityInformation, &o, nil, nil), "make the user owner of the SA DB")
		grantSADB(t, fx.api, fx.h) // no entry for the user
		u := open(t, fx.h, fx.h.User(0), nil)
		tr := fx.outboundTraffic(wfp.IPVersionV4)
		_, _, err := u.IPsecSaContextCreate1(&tr, nil)
		wantErr(t, err, wfp.ErrorAccessDenied, "owner without ADD")
		sd, err := u.IPsecSaDbGetSecurityInfo0(wfp.OwnerSecurityInformation | wfp.DACLSecurityInformation)
		mustOK(t, err, "owner reads the descriptor (implicit READ_CONTROL)")
		if sd.Owner != user {
			t.Errorf("owner = %q, want %q", sd.Owner, user)
		}
		back := wfp.ACL{allow(fx.h.Admin().User, wfp.GenericAll)}
		adminSID := fx.h.Admin().User
		err = u.IPsecSaDbSetSecurityInfo0(wfp.OwnerSecurityInformation, &adminSID, nil, nil)
		wantErr(t, err, wfp.ErrorAccessDenied, "owner sets the owner without WRITE_OWNER")
		acl := append(back, allow(user, wfp.ActrlAdd))
		mustOK(t, u.IPsecSaDbSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &acl), "owner writes the DACL (implicit WRITE_DAC)")
		_, _, err = u.IPsecSaContextCreate1(&tr, nil)
		mustOK(t, err, "Create after the owner granted itself ADD")
	})

	s.run(t, "NilAndEmptyDACL", func(t *testing.T) {
		fx := s.fixture(t)
		needUsers(t, fx.h, 1)
		u := open(t, fx.h, fx.h.User(0), nil)
		tr := fx.outboundTraffic(wfp.IPVersionV4)
		mustOK(t, fx.api.IPsecSaDbSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, nil), "set a NULL DACL")
		_, _, err := u.IPsecSaContextCreate1(&tr, nil)
		mustOK(t, err, "user Create under a NULL DACL")
		empty := wfp.ACL{}
		mustOK(t, fx.api.IPsecSaDbSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &empty), "set an empty DACL")
		_, _, err = u.IPsecSaContextCreate1(&tr, nil)
		wantErr(t, err, wfp.ErrorAccessDenied, "user Create under an empty DACL")
		sd, err := fx.api.IPsecSaDbGetSecurityInfo0(wfp.OwnerSecurityInformation)
		mustOK(t, err, "owner reads the descriptor under an empty DACL")
		if sd.Owner == fx.h.Admin().User {
			_, _, err = fx.api.IPsecSaContextCreate1(&tr, nil)
			wantErr(t, err, wfp.ErrorAccessDenied, "owner Create under an empty DACL")
			grantSADB(t, fx.api, fx.h) // implicit WRITE_DAC
			_, _, err = fx.api.IPsecSaContextCreate1(&tr, nil)
			mustOK(t, err, "administrator Create after restoring the DACL")
		}
	})

	s.run(t, "GenericRights", func(t *testing.T) {
		fx := s.fixture(t)
		needUsers(t, fx.h, 3)
		ur, uw, ux := fx.h.User(0), fx.h.User(1), fx.h.User(2)
		grantSADB(t, fx.api, fx.h, allow(ur.User, wfp.GenericRead), allow(uw.User, wfp.GenericWrite), allow(ux.User, wfp.GenericExecute|wfp.GenericRead))
		sd, err := fx.api.IPsecSaDbGetSecurityInfo0(wfp.DACLSecurityInformation)
		mustOK(t, err, "IPsecSaDbGetSecurityInfo0")
		want := &wfp.ACL{allow(fx.h.Admin().User, wfp.FwpmGenericAll), allow(ur.User, wfp.FwpmGenericRead),
			allow(uw.User, wfp.FwpmGenericWrite), allow(ux.User, wfp.FwpmGenericExecute|wfp.FwpmGenericRead)}
		if d := diff(want, sd.DACL); d != "" {
			t.Errorf("stored DACL (generic rights mapped; -want +got):\n%s", d)
		}
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
		r := open(t, fx.h, ur, nil)
		w := open(t, fx.h, uw, nil)
		x := open(t, fx.h, ux, nil)
		tr := fx.outboundTraffic(wfp.IPVersionV4)
		_, err = r.IPsecSaContextGetById1(c.id)
		mustOK(t, err, "GENERIC_READ: GetById")
		_, err = r.IPsecGetStatistics1()
		mustOK(t, err, "GENERIC_READ: statistics")
		_, err = r.IPsecSaContextCreateEnumHandle0(nil)
		wantErr(t, err, wfp.ErrorAccessDenied, "GENERIC_READ: enumerate (no ENUM)")
		_, _, err = r.IPsecSaContextCreate1(&tr, nil)
		wantErr(t, err, wfp.ErrorAccessDenied, "GENERIC_READ: Create")
		_, _, err = w.IPsecSaContextCreate1(&tr, nil)
		mustOK(t, err, "GENERIC_WRITE: Create")
		_, err = w.IPsecSaContextGetById1(c.id)
		wantErr(t, err, wfp.ErrorAccessDenied, "GENERIC_WRITE: GetById")
		_, err = x.IPsecSaContextCreateEnumHandle0(nil)
		mustOK(t, err, "GENERIC_EXECUTE|GENERIC_READ: enumerate")
		_, err = x.IPsecSaContextSubscribe0(&wfp.IPsecSAContextSubscription0{}, func(*wfp.IPsecSAContextChange0) {})
		mustOK(t, err, "GENERIC_EXECUTE: subscribe")
		mustOK(t, w.IPsecSaContextDeleteById0(c.id), "GENERIC_WRITE: DeleteById")
	})

	s.run(t, "SecurityInfoArguments", func(t *testing.T) {
		fx := s.fixture(t)
		before := snapshot(t, fx.api)
		type getFn func(wfp.SecurityInformation) (*wfp.SecurityDescriptor, error)
		type setFn func(wfp.SecurityInformation, *wfp.SID, *wfp.SID, *wfp.ACL) error
		for _, obj := range []struct {
			name string
			get  getFn
			set  setFn
		}{
			{"Engine", fx.api.FwpmEngineGetSecurityInfo0, fx.api.FwpmEngineSetSecurityInfo0},
			{"SADB", fx.api.IPsecSaDbGetSecurityInfo0, fx.api.IPsecSaDbSetSecurityInfo0},
		} {
			for _, si := range []wfp.SecurityInformation{0, wfp.SACLSecurityInformation, wfp.OwnerSecurityInformation | wfp.SACLSecurityInformation, 0x10, 0x80000000} {
				_, err := obj.get(si)
				wantErr(t, err, wfp.ErrorInvalidParameter, "%s GetSecurityInfo(%#x)", obj.name, si)
				acl := wfp.ACL{allow(fx.h.Admin().User, wfp.GenericAll)}
				owner := fx.h.Admin().User
				err = obj.set(si, &owner, &owner, &acl)
				wantErr(t, err, wfp.ErrorInvalidParameter, "%s SetSecurityInfo(%#x)", obj.name, si)
			}
			bad := wfp.SID("bogus")
			wantErr(t, obj.set(wfp.OwnerSecurityInformation, &bad, nil, nil), wfp.ErrorInvalidSecurityDescr, "%s set an invalid owner SID", obj.name)
			wantErr(t, obj.set(wfp.GroupSecurityInformation, nil, &bad, nil), wfp.ErrorInvalidSecurityDescr, "%s set an invalid group SID", obj.name)
			for _, acl := range []wfp.ACL{
				{allow(fx.h.Admin().User, wfp.GenericAll), allow("nobody", wfp.ActrlRead)},
				{allow(fx.h.Admin().User, wfp.GenericAll), {Type: 7, Mask: wfp.ActrlRead, SID: wfp.Everyone}},
			} {
				wantErr(t, obj.set(wfp.DACLSecurityInformation, nil, nil, &acl), wfp.ErrorInvalidSecurityDescr, "%s set an invalid DACL %v", obj.name, acl)
			}
			// Reading returns what was asked for.
			sd, err := obj.get(wfp.OwnerSecurityInformation | wfp.GroupSecurityInformation | wfp.DACLSecurityInformation)
			mustOK(t, err, "%s GetSecurityInfo", obj.name)
			o := fx.h.Admin().User
			g := wfp.GroupSID(77)
			acl := append(slices.Clone(*sd.DACL), allow(wfp.GroupSID(77), wfp.ActrlRead))
			mustOK(t, obj.set(wfp.OwnerSecurityInformation|wfp.GroupSecurityInformation|wfp.DACLSecurityInformation, &o, &g, &acl), "%s SetSecurityInfo", obj.name)
			sd2, err := obj.get(wfp.OwnerSecurityInformation | wfp.GroupSecurityInformation | wfp.DACLSecurityInformation)
			mustOK(t, err, "%s GetSecurityInfo", obj.name)
			if d := diff(&wfp.SecurityDescriptor{Owner: o, Group: g, DACL: &acl}, sd2); d != "" {
				t.Errorf("%s descriptor after SetSecurityInfo (-want +got):\n%s", obj.name, d)
			}
			own, err := obj.get(wfp.OwnerSecurityInformation)
			mustOK(t, err, "%s GetSecurityInfo(OWNER)", obj.name)
			if own.Owner != o {
				t.Errorf("%s GetSecurityInfo(OWNER).Owner = %q, want %q", obj.name, own.Owner, o)
			}
			// Restore the DACL.
			mustOK(t, obj.set(wfp.DACLSecurityInformation, nil, nil, sd.DACL), "%s restore", obj.name)
		}
		after := snapshot(t, fx.api)
		if d := diff(before.EngineSD.DACL, after.EngineSD.DACL); d != "" {
			t.Errorf("engine DACL not restored (-before +after):\n%s", d)
		}
	})

	s.run(t, "FilterEnumerationSkipsUnreadable", func(t *testing.T) {
		fx := s.fixture(t)
		needUsers(t, fx.h, 1)
		user := fx.h.User(0).User
		admin := fx.h.Admin().User
		hidden, err := fx.api.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.70")),
			&wfp.SecurityDescriptor{Owner: admin, DACL: &wfp.ACL{allow(admin, wfp.GenericAll)}})
		mustOK(t, err, "FwpmFilterAdd0 hidden")
		readable, err := fx.api.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.71")),
			&wfp.SecurityDescriptor{Owner: admin, DACL: &wfp.ACL{allow(admin, wfp.GenericAll), allow(user, wfp.ActrlRead)}})
		mustOK(t, err, "FwpmFilterAdd0 readable")
		grantEngine(t, fx.api, fx.h, allow(user, wfp.ActrlEnum|wfp.ActrlRead))
		inherits, err := fx.api.FwpmFilterAdd0(TransportFilter(wfp.DirectionOutbound, PeerA4, netip4("192.0.2.72")), nil)
		mustOK(t, err, "FwpmFilterAdd0 with the engine's descriptor")
		u := open(t, fx.h, fx.h.User(0), nil)
		got := filterIDs(enumFilters(t, u, nil))
		if slices.Contains(got, hidden) {
			t.Errorf("user enumeration lists filter %d that the user may not READ", hidden)
		}
		if !slices.Contains(got, readable) || !slices.Contains(got, inherits) {
			t.Errorf("user enumeration %v lacks readable filters %d and %d", got, readable, inherits)
		}
		_, err = u.FwpmFilterGetById0(hidden)
		wantErr(t, err, wfp.ErrorAccessDenied, "FwpmFilterGetById0 of an unreadable filter")
	})

	s.run(t, "SubscriberNeedsRead", func(t *testing.T) {
		fx := s.fixture(t)
		needUsers(t, fx.h, 1)
		user := fx.h.User(0).User
		grantSADB(t, fx.api, fx.h, allow(user, wfp.ActrlSubscribe|wfp.ActrlRead))
		u := open(t, fx.h, fx.h.User(0), nil)
		ru, _ := subscribe(t, u, nil)
		c1 := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		ru.waitFor(t, "ADD of the first context", func(ev []wfp.IPsecSAContextChange0) bool { return len(ev) >= 1 })
		grantSADB(t, fx.api, fx.h, allow(user, wfp.ActrlSubscribe))
		c2 := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		mustOK(t, fx.api.IPsecSaContextDeleteById0(c2.id), "DeleteById")
		grantSADB(t, fx.api, fx.h, allow(user, wfp.ActrlSubscribe|wfp.ActrlRead))
		c3 := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		ev := ru.waitFor(t, "ADD of the third context", func(ev []wfp.IPsecSAContextChange0) bool {
			return hasEvent(ev, wfp.SAContextEventAdd, c3.id) >= 0
		})
		wantEvents(t, ev, []wfp.IPsecSAContextChange0{add(c1.id), add(c3.id)}, "subscriber that lost READ for a while")
	})

	s.run(t, "OrderOfChecks", func(t *testing.T) {
		fx := s.fixture(t)
		needUsers(t, fx.h, 1)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		grantEngine(t, fx.api, fx.h, allow(fx.h.User(0).User, wfp.ActrlBeginReadTxn))
		u := open(t, fx.h, fx.h.User(0), nil)
		_, err := u.IPsecSaContextGetSpi1(c.id, nil)
		wantErr(t, err, wfp.ErrorAccessDenied, "GetSpi(nil) without ADD: access before arguments")
		_, err = u.IPsecSaContextGetSpi1(987654, c.getSpi)
		wantErr(t, err, wfp.ErrorAccessDenied, "GetSpi(unknown id) without ADD: access before objects")
		wantErr(t, u.IPsecSaContextExpire0(987654), wfp.ErrorAccessDenied, "Expire(unknown id) without DELETE")
		mustOK(t, u.FwpmTransactionBegin0(wfp.TxnReadOnly), "begin read-only")
		_, err = u.IPsecSaContextGetSpi1(c.id, c.getSpi)
		wantErr(t, err, wfp.ErrIncompatibleTxn, "GetSpi without ADD in a read-only transaction: transaction rules before access")
		_, _, err = u.IPsecSaContextCreate1(nil, nil)
		wantErr(t, err, wfp.ErrTxnInProgress, "Create without ADD in a transaction")
		mustOK(t, u.FwpmTransactionAbort0(), "abort")
		d := open(t, fx.h, fx.h.User(0), &wfp.FwpmSession0{Flags: wfp.SessionFlagDynamic})
		_, _, err = d.IPsecSaContextCreate1(nil, nil)
		wantErr(t, err, wfp.ErrDynamicSessionInProgress, "Create without ADD in a dynamic session: dynamic rules before access")
		mustOK(t, d.FwpmEngineClose0(), "close")
		_, _, err = d.IPsecSaContextCreate1(nil, nil)
		wantErr(t, err, wfp.ErrorInvalidHandle, "Create on a closed session")
	})

	s.run(t, "UnknownFilterIsNotFoundForAnyone", func(t *testing.T) {
		fx := s.fixture(t)
		needUsers(t, fx.h, 1)
		u := open(t, fx.h, fx.h.User(0), nil)
		_, err := u.FwpmFilterGetById0(0xABCDEF)
		wantErr(t, err, wfp.ErrFilterNotFound, "FwpmFilterGetById0 of an unknown filter by a user without rights")
		wantErr(t, u.FwpmFilterDeleteById0(0xABCDEF), wfp.ErrFilterNotFound, "FwpmFilterDeleteById0 of an unknown filter by a user without rights")
		_, err = u.FwpmFilterGetById0(fx.f4.out)
		wantErr(t, err, wfp.ErrorAccessDenied, "FwpmFilterGetById0 of an existing filter by a user without READ")
	})

	s.run(t, "HandlesNeedNoFurtherRights", func(t *testing.T) {
		fx := s.fixture(t)
		needUsers(t, fx.h, 1)
		user := fx.h.User(0).User
		fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
		grantSADB(t, fx.api, fx.h, allow(user, wfp.FwpmGenericAll))
		grantEngine(t, fx.api, fx.h, allow(user, wfp.ActrlEnum|wfp.ActrlRead|wfp.ActrlBeginWriteTxn))
		u := open(t, fx.h, fx.h.User(0), nil)
		ch, err := u.IPsecSaContextCreateEnumHandle0(nil)
		mustOK(t, err, "IPsecSaContextCreateEnumHandle0")
		sh, err := u.IPsecSaCreateEnumHandle0(nil)
		mustOK(t, err, "IPsecSaCreateEnumHandle0")
		fh, err := u.FwpmFilterCreateEnumHandle0(nil)
		mustOK(t, err, "FwpmFilterCreateEnumHandle0")
		_, sub := subscribe(t, u, nil)
		km, err := u.IPsecKeyManagerAddAndRegister0(&wfp.IPsecKeyManager0{DisplayData: wfp.FwpmDisplayData0{Name: "km"}},
			&wfp.IPsecKeyManagerCallbacks0{KeyNotify: func(_, _ *wfp.IPsecSADetails1) {}})
		mustOK(t, err, "IPsecKeyManagerAddAndRegister0")
		// Take every right away.
		empty := wfp.ACL{allow(fx.h.Admin().User, wfp.GenericAll)}
		mustOK(t, fx.api.IPsecSaDbSetSecurityInfo0(wfp.DACLSecurityInformation, nil, nil, &empty), "revoke SA DB rights")
		grantEngine(t, fx.api, fx.h)
		for _, c := range []struct {
			name string
			err  error
		}{
			{"IPsecSaContextEnum1", func() error { _, err := u.IPsecSaContextEnum1(ch, 10); return err }()},
			{"IPsecSaEnum1", func() error { _, err := u.IPsecSaEnum1(sh, 10); return err }()},
			{"FwpmFilterEnum0", func() error { _, err := u.FwpmFilterEnum0(fh, 10); return err }()},
			{"IPsecSaContextDestroyEnumHandle0", u.IPsecSaContextDestroyEnumHandle0(ch)},
			{"IPsecSaDestroyEnumHandle0", u.IPsecSaDestroyEnumHandle0(sh)},
			{"FwpmFilterDestroyEnumHandle0", u.FwpmFilterDestroyEnumHandle0(fh)},
			{"IPsecSaContextUnsubscribe0", u.IPsecSaContextUnsubscribe0(sub)},
			{"IPsecKeyManagerUnregisterAndDelete0", u.IPsecKeyManagerUnregisterAndDelete0(km)},
		} {
			if c.err != nil {
				t.Errorf("%s after the rights were revoked: %v; it acts on the session's own handle and needs no right", c.name, c.err)
			}
		}
	})
}

func rightName(m wfp.AccessMask) string {
	s := m.String()
	if s == "" {
		return fmt.Sprintf("%#x", uint32(m))
	}
	return s
}
