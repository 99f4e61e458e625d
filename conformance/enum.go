package conformance

import (
	"net/netip"
	"testing"

	"github.com/sadb-dev/sadb/wfp"
)

func (s *suite) enumeration(t *testing.T) {
	s.run(t, "Empty", func(t *testing.T) {
		fx := s.fixture(t)
		if cs := enumContexts(t, fx.api, nil); len(cs) != 0 {
			t.Errorf("contexts in a fresh engine: %v", ids(cs))
		}
		if sas := enumSAs(t, fx.api, nil); len(sas) != 0 {
			t.Errorf("SAs in a fresh engine: %d", len(sas))
		}
	})

	s.run(t, "ContextsPaging", func(t *testing.T) {
		fx := s.fixture(t)
		var want []uint64
		for i := range 7 {
			c := fx.ctxAt(t, fx.api, wfp.IPVersion(i%2), allStates[i%len(allStates)])
			want = append(want, c.id)
		}
		for _, page := range []uint32{1, 2, 3, 7, 8, 100} {
			h, err := fx.api.IPsecSaContextCreateEnumHandle0(nil)
			mustOK(t, err, "IPsecSaContextCreateEnumHandle0")
			var got []uint64
			for {
				p, err := fx.api.IPsecSaContextEnum1(h, page)
				mustOK(t, err, "IPsecSaContextEnum1")
				if uint32(len(p)) > page {
					t.Fatalf("page of %d entries for %d requested", len(p), page)
				}
				got = append(got, ids(p)...)
				if uint32(len(p)) < page {
					break
				}
			}
			for range 2 {
				p, err := fx.api.IPsecSaContextEnum1(h, page)
				mustOK(t, err, "IPsecSaContextEnum1 after the end")
				if len(p) != 0 {
					t.Errorf("page size %d: %d entries after the end", page, len(p))
				}
			}
			if d := diff(want, got); d != "" {
				t.Errorf("page size %d: ids (-want +got):\n%s", page, d)
			}
			mustOK(t, fx.api.IPsecSaContextDestroyEnumHandle0(h), "destroy")
		}
		// Asking for 0 entries returns none and consumes nothing.
		h, err := fx.api.IPsecSaContextCreateEnumHandle0(nil)
		mustOK(t, err, "IPsecSaContextCreateEnumHandle0")
		p, err := fx.api.IPsecSaContextEnum1(h, 0)
		mustOK(t, err, "IPsecSaContextEnum1(0)")
		if len(p) != 0 {
			t.Errorf("Enum1(0) returned %d entries", len(p))
		}
		p, err = fx.api.IPsecSaContextEnum1(h, 100)
		mustOK(t, err, "IPsecSaContextEnum1")
		if d := diff(want, ids(p)); d != "" {
			t.Errorf("after Enum1(0): ids (-want +got):\n%s", d)
		}
	})

	s.run(t, "ContextsSnapshot", func(t *testing.T) {
		fx := s.fixture(t)
		a := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		b := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)
		want := []*wfp.IPsecSAContext1{fx.wantContext(t, a, wfp.SAContextCreated), fx.wantContext(t, b, wfp.SAContextSPISet)}
		h, err := fx.api.IPsecSaContextCreateEnumHandle0(nil)
		mustOK(t, err, "IPsecSaContextCreateEnumHandle0")
		sh, err := fx.api.IPsecSaCreateEnumHandle0(nil)
		mustOK(t, err, "IPsecSaCreateEnumHandle0")
		// Changes after the snapshot are not seen through it.
		mustOK(t, fx.api.IPsecSaContextDeleteById0(a.id), "DeleteById")
		b.addInbound(t, fx.api)
		fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextOutboundAdded)
		got, err := fx.api.IPsecSaContextEnum1(h, 100)
		mustOK(t, err, "IPsecSaContextEnum1")
		if d := diffCtx(want, got); d != "" {
			t.Errorf("snapshot (-want +got):\n%s", d)
		}
		sas, err := fx.api.IPsecSaEnum1(sh, 100)
		mustOK(t, err, "IPsecSaEnum1")
		if len(sas) != 0 {
			t.Errorf("SA snapshot taken before any SA existed has %d entries", len(sas))
		}
	})

	s.run(t, "Version0MatchesVersion1", func(t *testing.T) {
		fx := s.fixture(t)
		for _, st := range allStates {
			fx.ctxAt(t, fx.api, wfp.IPVersionV4, st)
			fx.ctxAt(t, fx.api, wfp.IPVersionV6, st)
		}
		c1 := enumContexts(t, fx.api, nil)
		h, err := fx.api.IPsecSaContextCreateEnumHandle0(nil)
		mustOK(t, err, "IPsecSaContextCreateEnumHandle0")
		c0, err := fx.api.IPsecSaContextEnum0(h, 100)
		mustOK(t, err, "IPsecSaContextEnum0")
		var want0 []*wfp.IPsecSAContext0
		for _, c := range c1 {
			want0 = append(want0, c.ToContext0())
		}
		if d := diffCtx(want0, c0); d != "" {
			t.Errorf("Enum0 vs Enum1 (-narrowed Enum1 +Enum0):\n%s", d)
		}
		s1 := enumSAs(t, fx.api, nil)
		sh, err := fx.api.IPsecSaCreateEnumHandle0(nil)
		mustOK(t, err, "IPsecSaCreateEnumHandle0")
		s0, err := fx.api.IPsecSaEnum0(sh, 100)
		mustOK(t, err, "IPsecSaEnum0")
		var wantS0 []*wfp.IPsecSADetails0
		for _, d := range s1 {
			wantS0 = append(wantS0, d.ToDetails0())
		}
		if d := diffCtx(wantS0, s0); d != "" {
			t.Errorf("SaEnum0 vs SaEnum1 (-narrowed SaEnum1 +SaEnum0):\n%s", d)
		}
	})

	s.run(t, "SAs", func(t *testing.T) {
		fx := s.fixture(t)
		var want, wantIn, wantOut []*wfp.IPsecSADetails1
		for i, st := range append(allStates, allStates...) {
			v := wfp.IPVersion(i % 2)
			c := fx.ctxAt(t, fx.api, v, st)
			w := fx.wantContext(t, c, st)
			if w.InboundSA != nil {
				want = append(want, w.InboundSA)
				wantIn = append(wantIn, w.InboundSA)
			}
			if w.OutboundSA != nil {
				want = append(want, w.OutboundSA)
				wantOut = append(wantOut, w.OutboundSA)
			}
		}
		if d := diffCtx(want, enumSAs(t, fx.api, nil)); d != "" {
			t.Errorf("all SAs (-want +got):\n%s", d)
		}
		if d := diffCtx(wantIn, enumSAs(t, fx.api, &wfp.IPsecSAEnumTemplate0{SADirection: wfp.DirectionInbound})); d != "" {
			t.Errorf("inbound SAs (-want +got):\n%s", d)
		}
		if d := diffCtx(wantOut, enumSAs(t, fx.api, &wfp.IPsecSAEnumTemplate0{SADirection: wfp.DirectionOutbound})); d != "" {
			t.Errorf("outbound SAs (-want +got):\n%s", d)
		}
		for _, dir := range []wfp.Direction{wfp.DirectionMax, 9} {
			_, err := fx.api.IPsecSaCreateEnumHandle0(&wfp.IPsecSAEnumTemplate0{SADirection: dir})
			wantErr(t, err, wfp.ErrInvalidEnumerator, "IPsecSaCreateEnumHandle0 with saDirection %d", dir)
		}
	})

	s.run(t, "ContextTemplates", func(t *testing.T) {
		fx := s.fixture(t)
		c4 := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		c6 := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextCreated)
		f9 := fx.addTransport(t, fx.api, PeerA4, netip4("198.51.100.9"))
		tr9 := TransportTraffic(f9.local, f9.remote, f9.out)
		id9, _, err := fx.api.IPsecSaContextCreate1(&tr9, nil)
		mustOK(t, err, "Create")
		ft := fx.tunnel(t, wfp.IPVersionV4)
		tt := TunnelTraffic(ft.local, ft.remote, ft.out)
		idT, _, err := fx.api.IPsecSaContextCreate1(&tt, nil)
		mustOK(t, err, "Create tunnel")
		empty := wfp.FwpConditionValue0{}
		for _, tc := range []struct {
			name          string
			local, remote wfp.FwpConditionValue0
			want          []uint64
		}{
			{"Empty", empty, empty, []uint64{c4.id, c6.id, id9, idT}},
			{"LocalV4", wfp.AddrValue(PeerA4), empty, []uint64{c4.id, id9, idT}},
			{"RemoteV4", empty, wfp.AddrValue(PeerB4), []uint64{c4.id, idT}},
			{"RemoteV4Subnet", empty, wfp.PrefixValue(netip.MustParsePrefix("198.51.100.0/24")), []uint64{id9}},
			{"BothV4", wfp.AddrValue(PeerA4), wfp.PrefixValue(netip.MustParsePrefix("192.0.2.0/24")), []uint64{c4.id, idT}},
			{"LocalV6", wfp.AddrValue(PeerA6), empty, []uint64{c6.id}},
			{"RemoteV6Subnet", empty, wfp.PrefixValue(netip.MustParsePrefix("2001:db8::/32")), []uint64{c6.id}},
			{"NoMatch", wfp.AddrValue(netip4("203.0.113.1")), empty, nil},
			{"InnerSelectorsDoNotCount", wfp.PrefixValue(InnerA4), empty, nil},
		} {
			got := ids(enumContexts(t, fx.api, &wfp.IPsecSAContextEnumTemplate0{LocalSubNet: tc.local, RemoteSubNet: tc.remote}))
			if d := diff(tc.want, got); d != "" {
				t.Errorf("template %s: ids (-want +got):\n%s", tc.name, d)
			}
		}
		for _, tc := range []struct {
			name string
			v    wfp.FwpConditionValue0
			want wfp.Error
		}{
			{"Uint16", plain(wfp.Uint16Value(1)), wfp.ErrTypeMismatch},
			{"Uint64", plain(wfp.Uint64Value(1)), wfp.ErrTypeMismatch},
			{"Range", rangeValue(wfp.Uint32Value(1), wfp.Uint32Value(2)), wfp.ErrTypeMismatch},
			{"NonContiguousMask", v4Mask("192.0.2.0", 0xFF00FF00), wfp.ErrInvalidNetMask},
			{"PrefixOver128", v6Prefix("2001:db8::", 129), wfp.ErrInvalidNetMask},
		} {
			for _, local := range []bool{true, false} {
				tmpl := &wfp.IPsecSAContextEnumTemplate0{RemoteSubNet: tc.v}
				if local {
					tmpl = &wfp.IPsecSAContextEnumTemplate0{LocalSubNet: tc.v}
				}
				_, err := fx.api.IPsecSaContextCreateEnumHandle0(tmpl)
				wantErr(t, err, tc.want, "IPsecSaContextCreateEnumHandle0 with a %s subnet (local %v)", tc.name, local)
			}
		}
	})

	s.run(t, "Handles", func(t *testing.T) {
		fx := s.fixture(t)
		fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
		other := open(t, fx.h, fx.h.Admin(), nil)
		ch, err := fx.api.IPsecSaContextCreateEnumHandle0(nil)
		mustOK(t, err, "IPsecSaContextCreateEnumHandle0")
		sh, err := fx.api.IPsecSaCreateEnumHandle0(nil)
		mustOK(t, err, "IPsecSaCreateEnumHandle0")
		fh, err := fx.api.FwpmFilterCreateEnumHandle0(nil)
		mustOK(t, err, "FwpmFilterCreateEnumHandle0")
		oh, err := other.IPsecSaContextCreateEnumHandle0(nil)
		mustOK(t, err, "other session's IPsecSaContextCreateEnumHandle0")
		osh, err := other.IPsecSaCreateEnumHandle0(nil)
		mustOK(t, err, "other session's IPsecSaCreateEnumHandle0")
		ctxEnum := func(h wfp.EnumHandle) error { _, err := fx.api.IPsecSaContextEnum1(h, 10); return err }
		ctxEnum0 := func(h wfp.EnumHandle) error { _, err := fx.api.IPsecSaContextEnum0(h, 10); return err }
		saEnum := func(h wfp.EnumHandle) error { _, err := fx.api.IPsecSaEnum1(h, 10); return err }
		saEnum0 := func(h wfp.EnumHandle) error { _, err := fx.api.IPsecSaEnum0(h, 10); return err }
		for _, tc := range []struct {
			name string
			err  error
		}{
			{"context enum of handle 0", ctxEnum(0)},
			{"context enum of an SA handle", ctxEnum(sh)},
			{"context enum of a filter handle", ctxEnum(fh)},
			{"context enum of another session's handle", ctxEnum(oh)},
			{"context enum0 of another session's handle", ctxEnum0(oh)},
			{"SA enum of handle 0", saEnum(0)},
			{"SA enum of a context handle", saEnum(ch)},
			{"SA enum0 of a context handle", saEnum0(ch)},
			{"SA enum of another session's handle", saEnum(osh)},
			{"destroy context handle 0", fx.api.IPsecSaContextDestroyEnumHandle0(0)},
			{"destroy an SA handle as a context handle", fx.api.IPsecSaContextDestroyEnumHandle0(sh)},
			{"destroy a context handle as an SA handle", fx.api.IPsecSaDestroyEnumHandle0(ch)},
			{"destroy another session's context handle", fx.api.IPsecSaContextDestroyEnumHandle0(oh)},
			{"destroy another session's SA handle", fx.api.IPsecSaDestroyEnumHandle0(osh)},
		} {
			wantErr(t, tc.err, wfp.ErrorInvalidHandle, "%s", tc.name)
		}
		// The handles used wrongly above still work for their owner.
		if err := ctxEnum(ch); err != nil {
			t.Errorf("context handle after misuse: %v", err)
		}
		if err := saEnum(sh); err != nil {
			t.Errorf("SA handle after misuse: %v", err)
		}
		if _, err := other.IPsecSaContextEnum1(oh, 10); err != nil {
			t.Errorf("other session's handle after misuse: %v", err)
		}
		mustOK(t, fx.api.IPsecSaContextDestroyEnumHandle0(ch), "destroy")
		mustOK(t, fx.api.IPsecSaDestroyEnumHandle0(sh), "destroy")
		wantErr(t, ctxEnum(ch), wfp.ErrorInvalidHandle, "context enum of a destroyed handle")
		wantErr(t, saEnum(sh), wfp.ErrorInvalidHandle, "SA enum of a destroyed handle")
		wantErr(t, fx.api.IPsecSaContextDestroyEnumHandle0(ch), wfp.ErrorInvalidHandle, "second destroy")
		wantErr(t, fx.api.IPsecSaDestroyEnumHandle0(sh), wfp.ErrorInvalidHandle, "second destroy")
	})
}
