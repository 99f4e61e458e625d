package conformance

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

func permitAt(layer wfp.LayerID, conds ...wfp.FwpmFilterCondition0) *wfp.FwpmFilter0 {
	return &wfp.FwpmFilter0{
		DisplayData:     wfp.FwpmDisplayData0{Name: "permit"},
		LayerKey:        layer,
		FilterCondition: conds,
		Action:          wfp.FwpmAction0{Type: wfp.ActionPermit},
	}
}

func calloutAt(layer wfp.LayerID, callout wfp.CalloutID) *wfp.FwpmFilter0 {
	return &wfp.FwpmFilter0{
		DisplayData: wfp.FwpmDisplayData0{Name: "callout"},
		LayerKey:    layer,
		Action:      wfp.FwpmAction0{Type: wfp.ActionCalloutTerminating, CalloutKey: callout},
	}
}

func v4Mask(addr string, mask uint32) wfp.FwpConditionValue0 {
	return wfp.FwpConditionValue0{FwpValue0: wfp.FwpValue0{Type: wfp.DataTypeV4AddrMask},
		V4AddrMask: &wfp.FwpV4AddrAndMask{Addr: wfp.MustV4(addr), Mask: mask}}
}

func v6Prefix(addr string, bits uint8) wfp.FwpConditionValue0 {
	return wfp.FwpConditionValue0{FwpValue0: wfp.FwpValue0{Type: wfp.DataTypeV6AddrMask},
		V6AddrMask: &wfp.FwpV6AddrAndMask{Addr: wfp.MustV6(addr), PrefixLength: bits}}
}

func rangeValue(lo, hi wfp.FwpValue0) wfp.FwpConditionValue0 {
	return wfp.FwpConditionValue0{FwpValue0: wfp.FwpValue0{Type: wfp.DataTypeRange}, RangeValue: &wfp.FwpRange0{ValueLow: lo, ValueHigh: hi}}
}

func plain(v wfp.FwpValue0) wfp.FwpConditionValue0 { return wfp.FwpConditionValue0{FwpValue0: v} }

func (s *suite) filters(t *testing.T) {
	base := func() *wfp.FwpmFilter0 { return TransportFilter(wfp.DirectionOutbound, PeerA4, PeerB4) }
	base6 := func() *wfp.FwpmFilter0 { return TransportFilter(wfp.DirectionOutbound, PeerA6, PeerB6) }
	withCond := func(f *wfp.FwpmFilter0, c wfp.FwpmFilterCondition0) *wfp.FwpmFilter0 {
		f.FilterCondition = append(f.FilterCondition, c)
		return f
	}
	g := wfp.NewGUID()
	unknownLayer := wfp.LayerID(g)
	badCases := []struct {
		name   string
		filter func() *wfp.FwpmFilter0
		sd     *wfp.SecurityDescriptor
		want   wfp.Error
	}{
		{"NilFilter", func() *wfp.FwpmFilter0 { return nil }, nil, wfp.ErrNullPointer},
		{"UnknownLayer", func() *wfp.FwpmFilter0 { return permitAt(unknownLayer) }, nil, wfp.ErrLayerNotFound},
		{"ALELayer", func() *wfp.FwpmFilter0 { return permitAt(wfp.LayerALEAuthConnectV4) }, nil, wfp.ErrIncompatibleLayer},
		{"DiscardLayer", func() *wfp.FwpmFilter0 { return permitAt(wfp.LayerOutboundTransportV4Discard) }, nil, wfp.ErrIncompatibleLayer},
		{"UnknownSublayer", func() *wfp.FwpmFilter0 { f := base(); f.SubLayerKey = wfp.SublayerID(wfp.NewGUID()); return f }, nil, wfp.ErrSublayerNotFound},
		{"UnknownConditionField", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.ValueCondition(wfp.FieldID(wfp.NewGUID()), wfp.MatchEqual, wfp.Uint32Value(1)))
		}, nil, wfp.ErrConditionNotFound},
		{"ConditionNotAtLayer/ALEAppID", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.ValueCondition(wfp.ConditionALEAppID, wfp.MatchEqual, wfp.FwpValue0{Type: wfp.DataTypeByteBlob, ByteBlob: []byte("app")}))
		}, nil, wfp.ErrConditionNotFound},
		{"ConditionNotAtLayer/DestinationAddressTypeInbound", func() *wfp.FwpmFilter0 {
			return withCond(TransportFilter(wfp.DirectionInbound, PeerA4, PeerB4), wfp.ValueCondition(wfp.ConditionIPDestinationAddressType, wfp.MatchEqual, wfp.Uint8Value(1)))
		}, nil, wfp.ErrConditionNotFound},
		{"ConditionNotAtLayer/LocalAddressTypeAtIPsecLayer", func() *wfp.FwpmFilter0 {
			return permitAt(wfp.LayerIPsecV4, wfp.ValueCondition(wfp.ConditionIPLocalAddressType, wfp.MatchEqual, wfp.Uint8Value(1)))
		}, nil, wfp.ErrConditionNotFound},
		{"TypeMismatch/AddressUint16", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.ValueCondition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.Uint16Value(1)))
		}, nil, wfp.ErrTypeMismatch},
		{"TypeMismatch/V6AddressAtV4Layer", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.AddrValue(PeerB6)))
		}, nil, wfp.ErrTypeMismatch},
		{"TypeMismatch/V6MaskAtV4Layer", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, v6Prefix("2001:db8::", 64)))
		}, nil, wfp.ErrTypeMismatch},
		{"TypeMismatch/V4AddressAtV6Layer", func() *wfp.FwpmFilter0 {
			return withCond(base6(), wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.AddrValue(PeerB4)))
		}, nil, wfp.ErrTypeMismatch},
		{"TypeMismatch/V4MaskAtV6Layer", func() *wfp.FwpmFilter0 {
			return withCond(base6(), wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, v4Mask("192.0.2.0", 0xFFFFFF00)))
		}, nil, wfp.ErrTypeMismatch},
		{"TypeMismatch/PortUint32", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchEqual, wfp.Uint32Value(500)))
		}, nil, wfp.ErrTypeMismatch},
		{"TypeMismatch/ProtocolUint16", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.ValueCondition(wfp.ConditionIPProtocol, wfp.MatchEqual, wfp.Uint16Value(17)))
		}, nil, wfp.ErrTypeMismatch},
		{"TypeMismatch/AddressTypeUint32", func() *wfp.FwpmFilter0 {
			f := base()
			f.FilterCondition[0] = wfp.ValueCondition(wfp.ConditionIPLocalAddressType, wfp.MatchEqual, wfp.Uint32Value(1))
			return f
		}, nil, wfp.ErrTypeMismatch},
		{"TypeMismatch/InterfaceLUIDUint32", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.ValueCondition(wfp.ConditionIPLocalInterface, wfp.MatchEqual, wfp.Uint32Value(1)))
		}, nil, wfp.ErrTypeMismatch},
		{"TypeMismatch/InterfaceIndexUint64", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.ValueCondition(wfp.ConditionInterfaceIndex, wfp.MatchEqual, wfp.Uint64Value(1)))
		}, nil, wfp.ErrTypeMismatch},
		{"MatchTypeMismatch/MaskGreater", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchGreater, v4Mask("192.0.2.0", 0xFFFFFF00)))
		}, nil, wfp.ErrMatchTypeMismatch},
		{"MatchTypeMismatch/FlagsOnPort", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchFlagsAllSet, wfp.Uint16Value(1)))
		}, nil, wfp.ErrMatchTypeMismatch},
		{"MatchTypeMismatch/RangeWithoutRangeValue", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchRange, wfp.Uint16Value(1)))
		}, nil, wfp.ErrMatchTypeMismatch},
		{"MatchTypeMismatch/Prefix", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchPrefix, wfp.Uint16Value(1)))
		}, nil, wfp.ErrMatchTypeMismatch},
		{"MatchTypeMismatch/NotPrefix", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchNotPrefix, wfp.Uint16Value(1)))
		}, nil, wfp.ErrMatchTypeMismatch},
		{"MatchTypeMismatch/EqualCaseInsensitive", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchEqualCaseInsensitive, wfp.Uint16Value(1)))
		}, nil, wfp.ErrMatchTypeMismatch},
		{"InvalidNetMask/V4", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, v4Mask("192.0.2.0", 0xFF00FF00)))
		}, nil, wfp.ErrInvalidNetMask},
		{"InvalidNetMask/V6", func() *wfp.FwpmFilter0 {
			return withCond(base6(), wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, v6Prefix("2001:db8::", 129)))
		}, nil, wfp.ErrInvalidNetMask},
		{"InvalidRange/LowAboveHigh", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.Condition(wfp.ConditionIPRemotePort, wfp.MatchRange, rangeValue(wfp.Uint16Value(600), wfp.Uint16Value(500))))
		}, nil, wfp.ErrInvalidRange},
		{"InvalidRange/MixedTypes", func() *wfp.FwpmFilter0 {
			return withCond(base(), wfp.Condition(wfp.ConditionIPRemotePort, wfp.MatchRange, rangeValue(wfp.Uint16Value(500), wfp.Uint32Value(600))))
		}, nil, wfp.ErrInvalidRange},
		{"InvalidActionType/Continue", func() *wfp.FwpmFilter0 {
			f := permitAt(wfp.LayerIPsecV4)
			f.Action.Type = wfp.ActionContinue
			return f
		}, nil, wfp.ErrInvalidActionType},
		{"InvalidActionType/None", func() *wfp.FwpmFilter0 {
			f := permitAt(wfp.LayerIPsecV4)
			f.Action.Type = wfp.ActionNone
			return f
		}, nil, wfp.ErrInvalidActionType},
		{"InvalidActionType/Zero", func() *wfp.FwpmFilter0 {
			f := permitAt(wfp.LayerIPsecV4)
			f.Action.Type = 0
			return f
		}, nil, wfp.ErrInvalidActionType},
		{"CalloutAtIPsecLayer", func() *wfp.FwpmFilter0 {
			return calloutAt(wfp.LayerIPsecV4, wfp.CalloutIPsecOutboundTransportV4)
		}, nil, wfp.ErrActionIncompatibleWithLayer},
		{"CalloutAtIKEEXTLayer", func() *wfp.FwpmFilter0 {
			return calloutAt(wfp.LayerIKEEXTV4, wfp.CalloutIPsecOutboundTransportV4)
		}, nil, wfp.ErrActionIncompatibleWithLayer},
		{"CalloutAtKMDemuxLayer", func() *wfp.FwpmFilter0 {
			return calloutAt(wfp.LayerIPsecKMDemuxV6, wfp.CalloutIPsecOutboundTransportV6)
		}, nil, wfp.ErrActionIncompatibleWithLayer},
		{"UnknownCallout", func() *wfp.FwpmFilter0 {
			return calloutAt(wfp.LayerOutboundTransportV4, wfp.CalloutID(wfp.NewGUID()))
		}, nil, wfp.ErrCalloutNotFound},
		{"CalloutWrongDirection", func() *wfp.FwpmFilter0 {
			return calloutAt(wfp.LayerOutboundTransportV4, wfp.CalloutIPsecInboundTransportV4)
		}, nil, wfp.ErrIncompatibleLayer},
		{"CalloutWrongVersion", func() *wfp.FwpmFilter0 {
			return calloutAt(wfp.LayerOutboundTransportV4, wfp.CalloutIPsecOutboundTransportV6)
		}, nil, wfp.ErrIncompatibleLayer},
		{"TunnelCalloutWrongDirection", func() *wfp.FwpmFilter0 {
			return calloutAt(wfp.LayerInboundTransportV6, wfp.CalloutIPsecOutboundTunnelV6)
		}, nil, wfp.ErrIncompatibleLayer},
		{"ALECalloutAtTransportLayer", func() *wfp.FwpmFilter0 {
			return calloutAt(wfp.LayerOutboundTransportV4, wfp.CalloutIPsecALEConnectV4)
		}, nil, wfp.ErrIncompatibleLayer},
		{"ForwardCalloutAtTransportLayer", func() *wfp.FwpmFilter0 {
			return calloutAt(wfp.LayerOutboundTransportV4, wfp.CalloutIPsecForwardOutboundTunnelV4)
		}, nil, wfp.ErrIncompatibleLayer},
		{"TransportCalloutAtForwardLayer", func() *wfp.FwpmFilter0 {
			return calloutAt(wfp.LayerIPForwardV4, wfp.CalloutIPsecOutboundTransportV4)
		}, nil, wfp.ErrIncompatibleLayer},
		{"NullDisplayName", func() *wfp.FwpmFilter0 { f := base(); f.DisplayData.Name = ""; return f }, nil, wfp.ErrNullDisplayName},
		{"Reserved", func() *wfp.FwpmFilter0 { f := base(); r := wfp.NewGUID(); f.Reserved = &r; return f }, nil, wfp.ErrReserved},
		{"Flags/Disabled", func() *wfp.FwpmFilter0 { f := base(); f.Flags = wfp.FilterFlagDisabled; return f }, nil, wfp.ErrInvalidFlags},
		{"Flags/Unknown", func() *wfp.FwpmFilter0 { f := base(); f.Flags = 0x00100000; return f }, nil, wfp.ErrInvalidFlags},
		{"Flags/PersistentAndBoottime", func() *wfp.FwpmFilter0 {
			f := base()
			f.Flags = wfp.FilterFlagPersistent | wfp.FilterFlagBoottime
			return f
		}, nil, wfp.ErrInvalidFlags},
		{"Flags/PermitIfCalloutUnregisteredOnPermit", func() *wfp.FwpmFilter0 {
			f := permitAt(wfp.LayerOutboundTransportV4)
			f.Flags = wfp.FilterFlagPermitIfCalloutUnregistered
			return f
		}, nil, wfp.ErrInvalidFlags},
		{"Flags/PermitIfCalloutUnregisteredOnInspection", func() *wfp.FwpmFilter0 {
			f := base()
			f.Action.Type = wfp.ActionCalloutInspection
			f.Flags = wfp.FilterFlagPermitIfCalloutUnregistered
			return f
		}, nil, wfp.ErrInvalidFlags},
		{"Flags/HasProviderContext", func() *wfp.FwpmFilter0 {
			f := base()
			f.Flags = wfp.FilterFlagHasProviderContext
			f.ProviderContextKey = wfp.NewGUID()
			return f
		}, nil, wfp.ErrProviderContextNotFound},
		{"UnknownProvider", func() *wfp.FwpmFilter0 {
			f := base()
			p := wfp.ProviderID(wfp.NewGUID())
			f.ProviderKey = &p
			return f
		}, nil, wfp.ErrProviderNotFound},
		{"Weight/RangeAbove15", func() *wfp.FwpmFilter0 { f := base(); f.Weight = wfp.Uint8Value(16); return f }, nil, wfp.ErrInvalidWeight},
		{"Weight/Uint32", func() *wfp.FwpmFilter0 { f := base(); f.Weight = wfp.Uint32Value(1); return f }, nil, wfp.ErrInvalidWeight},
		{"Weight/Uint16", func() *wfp.FwpmFilter0 { f := base(); f.Weight = wfp.Uint16Value(1); return f }, nil, wfp.ErrInvalidWeight},
		{"SecurityDescriptor/BadOwner", base, &wfp.SecurityDescriptor{Owner: "bogus"}, wfp.ErrorInvalidSecurityDescrHRESULT},
		{"SecurityDescriptor/BadACESID", base, &wfp.SecurityDescriptor{Owner: "uid:0", DACL: &wfp.ACL{{Type: wfp.AccessAllowed, Mask: wfp.ActrlRead, SID: "nobody"}}}, wfp.ErrorInvalidSecurityDescrHRESULT},
		{"SecurityDescriptor/BadACEType", base, &wfp.SecurityDescriptor{Owner: "uid:0", DACL: &wfp.ACL{{Type: 9, Mask: wfp.ActrlRead, SID: wfp.Everyone}}}, wfp.ErrorInvalidSecurityDescrHRESULT},
	}
	for _, tc := range badCases {
		s.run(t, "AddErrors/"+tc.name, func(t *testing.T) {
			fx := s.fixture(t)
			before := snapshot(t, fx.api)
			_, err := fx.api.FwpmFilterAdd0(tc.filter(), tc.sd)
			wantErr(t, err, tc.want, "FwpmFilterAdd0")
			wantUnchanged(t, before, snapshot(t, fx.api), "a failed FwpmFilterAdd0")
		})
	}

	s.run(t, "DuplicateFilterKey", func(t *testing.T) {
		fx := s.fixture(t)
		f := base()
		f.FilterKey = wfp.NewGUID()
		_, err := fx.api.FwpmFilterAdd0(f, nil)
		mustOK(t, err, "first add")
		before := snapshot(t, fx.api)
		g := base6()
		g.FilterKey = f.FilterKey
		_, err = fx.api.FwpmFilterAdd0(g, nil)
		wantErr(t, err, wfp.ErrAlreadyExists, "second filter with the same filterKey")
		wantUnchanged(t, before, snapshot(t, fx.api), "a refused duplicate")
	})

	goodCases := []struct {
		name   string
		filter func() *wfp.FwpmFilter0
	}{
		{"PermitAtIPsecLayer", func() *wfp.FwpmFilter0 {
			return permitAt(wfp.LayerIPsecV4, wfp.ValueCondition(wfp.ConditionIPProtocol, wfp.MatchEqual, wfp.Uint8Value(wfp.IPProtoUDP)))
		}},
		{"PermitAtIKEEXTLayer", func() *wfp.FwpmFilter0 {
			return permitAt(wfp.LayerIKEEXTV6, wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.AddrValue(PeerB6)))
		}},
		{"BlockAtKMDemuxLayer", func() *wfp.FwpmFilter0 {
			f := permitAt(wfp.LayerIPsecKMDemuxV4, wfp.Condition(wfp.ConditionIPLocalAddress, wfp.MatchEqual, v4Mask("192.0.2.0", 0xFFFFFF00)))
			f.Action.Type = wfp.ActionBlock
			return f
		}},
		{"BlockAtInboundIPPacket", func() *wfp.FwpmFilter0 {
			f := permitAt(wfp.LayerInboundIPPacketV6, wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchNotEqual, v6Prefix("2001:db8::", 32)))
			f.Action.Type = wfp.ActionBlock
			return f
		}},
		{"PermitAtOutboundIPPacket", func() *wfp.FwpmFilter0 { return permitAt(wfp.LayerOutboundIPPacketV4) }},
		{"ForwardTunnelCalloutAtIPForward", func() *wfp.FwpmFilter0 {
			return calloutAt(wfp.LayerIPForwardV4, wfp.CalloutIPsecForwardOutboundTunnelV4)
		}},
		{"DoSPCalloutAtIPForward", func() *wfp.FwpmFilter0 { return calloutAt(wfp.LayerIPForwardV6, wfp.CalloutIPsecDoSPForwardV6) }},
		{"TunnelCallout", func() *wfp.FwpmFilter0 {
			return TunnelFilter(wfp.DirectionInbound, netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.0.0/16"))
		}},
		{"InspectionCallout", func() *wfp.FwpmFilter0 { f := base(); f.Action.Type = wfp.ActionCalloutInspection; return f }},
		{"UnknownCalloutAction", func() *wfp.FwpmFilter0 {
			f := base()
			f.Action.Type = wfp.ActionCalloutUnknown
			f.Flags = wfp.FilterFlagPermitIfCalloutUnregistered
			return f
		}},
		{"PermitIfCalloutUnregistered", func() *wfp.FwpmFilter0 {
			f := base()
			f.Flags = wfp.FilterFlagPermitIfCalloutUnregistered
			return f
		}},
		{"Persistent", func() *wfp.FwpmFilter0 { f := base(); f.Flags = wfp.FilterFlagPersistent; return f }},
		{"IPsecSublayer", func() *wfp.FwpmFilter0 { f := base(); f.SubLayerKey = wfp.SublayerIPsecTunnel; return f }},
		{"WellKnownProvider", func() *wfp.FwpmFilter0 {
			f := base()
			p := wfp.ProviderIKEEXT
			f.ProviderKey = &p
			f.ProviderData = []byte{1, 2, 3}
			return f
		}},
		{"GivenFilterKey", func() *wfp.FwpmFilter0 { f := base(); f.FilterKey = wfp.NewGUID(); return f }},
		{"PortAndProtocolRanges", func() *wfp.FwpmFilter0 {
			return withCond(withCond(base(),
				wfp.Condition(wfp.ConditionIPRemotePort, wfp.MatchRange, rangeValue(wfp.Uint16Value(500), wfp.Uint16Value(4500)))),
				wfp.ValueCondition(wfp.ConditionIPProtocol, wfp.MatchEqual, wfp.Uint8Value(wfp.IPProtoUDP)))
		}},
		{"ConsecutiveConditionsOnOneField", func() *wfp.FwpmFilter0 {
			return withCond(withCond(base(),
				wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchEqual, wfp.Uint16Value(500))),
				wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchEqual, wfp.Uint16Value(4500)))
		}},
	}
	for _, tc := range goodCases {
		s.run(t, "AddAndGet/"+tc.name, func(t *testing.T) {
			fx := s.fixture(t)
			f := tc.filter()
			id, err := fx.api.FwpmFilterAdd0(f.Clone(), nil)
			mustOK(t, err, "FwpmFilterAdd0")
			got, err := fx.api.FwpmFilterGetById0(id)
			mustOK(t, err, "FwpmFilterGetById0")
			if got.FilterID != id {
				t.Errorf("filterId = %d, want %d", got.FilterID, id)
			}
			if got.FilterKey.IsZero() || (!f.FilterKey.IsZero() && got.FilterKey != f.FilterKey) {
				t.Errorf("filterKey = %v, want %v (a generated key when zero)", got.FilterKey, f.FilterKey)
			}
			if got.EffectiveWeight.Type != wfp.DataTypeUint64 {
				t.Errorf("effectiveWeight has type %v, want FWP_UINT64", got.EffectiveWeight.Type)
			}
			want := f.Clone()
			want.FilterKey, want.FilterID, want.EffectiveWeight = got.FilterKey, got.FilterID, got.EffectiveWeight
			if d := diff(want, got); d != "" {
				t.Errorf("FwpmFilterGetById0 returned a different filter (-added +got):\n%s", d)
			}
			if l := filterIDs(enumFilters(t, fx.api, nil)); !slices.Contains(l, id) {
				t.Errorf("added filter %d not enumerated: %v", id, l)
			}
		})
	}

	s.run(t, "Weights", func(t *testing.T) {
		fx := s.fixture(t)
		auto := func(conds, spec uint64) uint64 { return conds<<52 | spec<<40 }
		for _, tc := range []struct {
			name   string
			filter *wfp.FwpmFilter0
			want   uint64
		}{
			{"AutoV4", base(), auto(3, 2*32*4)},
			{"AutoV6", base6(), auto(3, 2*128)},
			{"AutoV4Subnet", TunnelFilter(wfp.DirectionOutbound, netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.0.0/24")), auto(2, (16+24)*4)},
			{"AutoPortAndProtocol", withCond(withCond(base(), wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchEqual, wfp.Uint16Value(500))),
				wfp.ValueCondition(wfp.ConditionIPProtocol, wfp.MatchEqual, wfp.Uint8Value(17))), auto(5, 2*32*4+16+16)},
			{"AutoNoConditions", permitAt(wfp.LayerIPsecV4), 0},
			{"Range15", func() *wfp.FwpmFilter0 { f := base(); f.Weight = wfp.Uint8Value(15); return f }(), 15<<60 | auto(3, 2*32*4)},
			{"Range0", func() *wfp.FwpmFilter0 { f := base(); f.Weight = wfp.Uint8Value(0); return f }(), auto(3, 2*32*4)},
			{"Explicit", func() *wfp.FwpmFilter0 { f := base(); f.Weight = wfp.Uint64Value(0xC000000000000123); return f }(), 0xC000000000000123},
		} {
			id, err := fx.api.FwpmFilterAdd0(tc.filter, nil)
			mustOK(t, err, "%s: FwpmFilterAdd0", tc.name)
			got, err := fx.api.FwpmFilterGetById0(id)
			mustOK(t, err, "FwpmFilterGetById0")
			if got.EffectiveWeight.Type != wfp.DataTypeUint64 || got.EffectiveWeight.Uint64 != tc.want {
				t.Errorf("%s: effectiveWeight %v %#x, want FWP_UINT64 %#x", tc.name, got.EffectiveWeight.Type, got.EffectiveWeight.Uint64, tc.want)
			}
		}
	})

	s.run(t, "DeleteAndGetErrors", func(t *testing.T) {
		fx := s.fixture(t)
		id, err := fx.api.FwpmFilterAdd0(base(), nil)
		mustOK(t, err, "FwpmFilterAdd0")
		mustOK(t, fx.api.FwpmFilterDeleteById0(id), "FwpmFilterDeleteById0")
		before := snapshot(t, fx.api)
		for _, bad := range []uint64{id, 0, 0xFFFFFFFFFFFF} {
			wantErr(t, fx.api.FwpmFilterDeleteById0(bad), wfp.ErrFilterNotFound, "FwpmFilterDeleteById0(%d)", bad)
			_, err := fx.api.FwpmFilterGetById0(bad)
			wantErr(t, err, wfp.ErrFilterNotFound, "FwpmFilterGetById0(%d)", bad)
		}
		wantUnchanged(t, before, snapshot(t, fx.api), "failed deletes")
	})

	s.run(t, "InUseByContext", func(t *testing.T) {
		fx := s.fixture(t)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextCreated)
		before := snapshot(t, fx.api)
		wantErr(t, fx.api.FwpmFilterDeleteById0(fx.f4.out), wfp.ErrInUse, "deleting the outbound filter of a context")
		wantUnchanged(t, before, snapshot(t, fx.api), "a refused filter delete")
		c.getSPI(t, fx.api)
		wantErr(t, fx.api.FwpmFilterDeleteById0(fx.f4.in), wfp.ErrInUse, "deleting the inbound filter of a context")
		mustOK(t, fx.api.IPsecSaContextDeleteById0(c.id), "IPsecSaContextDeleteById0")
		mustOK(t, fx.api.FwpmFilterDeleteById0(fx.f4.out), "deleting the outbound filter after the context")
		mustOK(t, fx.api.FwpmFilterDeleteById0(fx.f4.in), "deleting the inbound filter after the context")
	})

	s.run(t, "InUseThroughLinger", func(t *testing.T) {
		fx := s.fixture(t)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV6, wfp.SAContextExpired)
		wantErr(t, fx.api.FwpmFilterDeleteById0(fx.f6.in), wfp.ErrInUse, "deleting the inbound filter of an expired (lingering) context")
		fx.h.Advance(61 * time.Second)
		wantGone(t, fx.api, c.id)
		mustOK(t, fx.api.FwpmFilterDeleteById0(fx.f6.in), "deleting the inbound filter after the linger")
		mustOK(t, fx.api.FwpmFilterDeleteById0(fx.f6.out), "deleting the outbound filter after the linger")
	})

	s.run(t, "EnumTemplates", func(t *testing.T) {
		fx := s.fixture(t)
		tun, tunIn, err := TunnelFilters(fx.api, netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.0.0/16"))
		mustOK(t, err, "TunnelFilters")
		p := wfp.ProviderIKEEXT
		pf := permitAt(wfp.LayerIPsecV4)
		pf.ProviderKey = &p
		permit, err := fx.api.FwpmFilterAdd0(pf, nil)
		mustOK(t, err, "FwpmFilterAdd0")
		calloutOut4 := wfp.CalloutIPsecOutboundTransportV4
		for _, tc := range []struct {
			name string
			tmpl *wfp.FwpmFilterEnumTemplate0
			want []uint64
		}{
			{"Nil", nil, []uint64{fx.f4.out, fx.f4.in, fx.f6.out, fx.f6.in, tun, tunIn, permit}},
			{"AllLayers", &wfp.FwpmFilterEnumTemplate0{ActionMask: 0xFFFFFFFF}, []uint64{fx.f4.out, fx.f4.in, fx.f6.out, fx.f6.in, tun, tunIn, permit}},
			{"Layer", &wfp.FwpmFilterEnumTemplate0{LayerKey: wfp.LayerOutboundTransportV4, ActionMask: 0xFFFFFFFF}, []uint64{fx.f4.out, tun}},
			{"CalloutActions", &wfp.FwpmFilterEnumTemplate0{ActionMask: uint32(wfp.ActionFlagCallout)}, []uint64{fx.f4.out, fx.f4.in, fx.f6.out, fx.f6.in, tun, tunIn}},
			{"Callout", &wfp.FwpmFilterEnumTemplate0{ActionMask: uint32(wfp.ActionFlagCallout), CalloutKey: &calloutOut4}, []uint64{fx.f4.out}},
			{"Provider", &wfp.FwpmFilterEnumTemplate0{ProviderKey: &p, ActionMask: 0xFFFFFFFF}, []uint64{permit}},
			{"FullyContained", &wfp.FwpmFilterEnumTemplate0{LayerKey: wfp.LayerOutboundTransportV4, ActionMask: 0xFFFFFFFF,
				EnumType:        wfp.FilterEnumFullyContained,
				FilterCondition: []wfp.FwpmFilterCondition0{wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, v4Mask("192.0.2.0", 0xFFFFFF00))},
			}, []uint64{fx.f4.out}},
			{"Overlapping", &wfp.FwpmFilterEnumTemplate0{LayerKey: wfp.LayerOutboundTransportV4, ActionMask: 0xFFFFFFFF,
				EnumType:        wfp.FilterEnumOverlapping,
				FilterCondition: []wfp.FwpmFilterCondition0{wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, v4Mask("10.0.0.0", 0xFF000000))},
			}, []uint64{tun}},
		} {
			got := filterIDs(enumFilters(t, fx.api, tc.tmpl))
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if d := diff(want, got); d != "" {
				t.Errorf("%s: filters (-want +got):\n%s", tc.name, d)
			}
		}
	})

	s.run(t, "EnumPaging", func(t *testing.T) {
		fx := s.fixture(t)
		for i := range 6 {
			_, err := fx.api.FwpmFilterAdd0(permitAt(wfp.LayerIPsecV4, wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchEqual, wfp.Uint16Value(uint16(1000+i)))), nil)
			mustOK(t, err, "FwpmFilterAdd0")
		}
		h, err := fx.api.FwpmFilterCreateEnumHandle0(nil)
		mustOK(t, err, "FwpmFilterCreateEnumHandle0")
		var n int
		for _, want := range []int{4, 4, 2, 0, 0} {
			page, err := fx.api.FwpmFilterEnum0(h, 4)
			mustOK(t, err, "FwpmFilterEnum0")
			if len(page) != want {
				t.Errorf("page %d: %d entries, want %d (10 filters, pages of 4)", n, len(page), want)
			}
			n++
		}
		mustOK(t, fx.api.FwpmFilterDestroyEnumHandle0(h), "destroy")
		_, err = fx.api.FwpmFilterEnum0(h, 4)
		wantErr(t, err, wfp.ErrorInvalidHandle, "FwpmFilterEnum0 on a destroyed handle")
		wantErr(t, fx.api.FwpmFilterDestroyEnumHandle0(h), wfp.ErrorInvalidHandle, "second destroy")
		other := open(t, fx.h, fx.h.Admin(), nil)
		h2, err := other.FwpmFilterCreateEnumHandle0(nil)
		mustOK(t, err, "FwpmFilterCreateEnumHandle0")
		_, err = fx.api.FwpmFilterEnum0(h2, 4)
		wantErr(t, err, wfp.ErrorInvalidHandle, "FwpmFilterEnum0 on another session's handle")
		wantErr(t, fx.api.FwpmFilterDestroyEnumHandle0(h2), wfp.ErrorInvalidHandle, "destroying another session's handle")
		sh, err := fx.api.IPsecSaContextCreateEnumHandle0(nil)
		mustOK(t, err, "IPsecSaContextCreateEnumHandle0")
		_, err = fx.api.FwpmFilterEnum0(sh, 4)
		wantErr(t, err, wfp.ErrorInvalidHandle, "FwpmFilterEnum0 on an SA-context enumeration handle")
		_, err = fx.api.FwpmFilterEnum0(0, 4)
		wantErr(t, err, wfp.ErrorInvalidHandle, "FwpmFilterEnum0 on handle 0")
	})
}
