package wire

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	pb "github.com/sadb-dev/sadb/api/sadb/v1"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/wfp"
)

// Every wfp value the API carries survives the trip to a message and back.
func TestRoundTrip(t *testing.T) {
	local, remote := wfp.MustV6("2001:db8::1"), wfp.MustV6("2001:db8::2")
	tr := wfp.IPsecTraffic1{IPVersion: wfp.IPVersionV6, LocalV6Address: local, RemoteV6Address: remote,
		TrafficType: wfp.TrafficTypeTransport, IPsecFilterID: 7, RemotePort: 443, LocalPort: 50000, IPProtocol: 6, LocalIfLUID: 9, RealIfProfileID: 3}
	b := conformance.CBCBundle(wfp.IPVersionV6, 0x1234, conformance.TestKey(1, 16), conformance.TestKey(2, 32))
	b.IPsecID = &wfp.IPsecID0{MMTargetName: "peer", Tokens: []wfp.IPsecToken0{{Type: 1, Principal: 1, Mode: 1, Token: 42}}, LogonID: 5}
	b.KeyModuleState = &wfp.IPsecKeyModuleState0{KeyModuleKey: wfp.NewGUID(), StateBlob: []byte{1, 2, 3}}
	b.SALookupContext = wfp.NewGUID()
	b.QMFilterID = 77
	prov := wfp.ProviderIKEEXT
	f := &wfp.FwpmFilter0{FilterKey: wfp.NewGUID(), DisplayData: wfp.FwpmDisplayData0{Name: "n", Description: "d"}, Flags: 1,
		ProviderKey: &prov, ProviderData: []byte{9}, LayerKey: wfp.LayerOutboundTransportV6, SubLayerKey: wfp.SublayerUniversal,
		Weight: wfp.Uint8Value(3), FilterCondition: []wfp.FwpmFilterCondition0{
			wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.PrefixValue(netipMust("2001:db8::/64"))),
			wfp.ValueCondition(wfp.ConditionIPProtocol, wfp.MatchEqual, wfp.Uint8Value(6)),
			{FieldKey: wfp.ConditionIPLocalPort, MatchType: wfp.MatchRange, ConditionValue: wfp.FwpConditionValue0{
				FwpValue0: wfp.FwpValue0{Type: wfp.DataTypeRange}, RangeValue: &wfp.FwpRange0{ValueLow: wfp.Uint16Value(1), ValueHigh: wfp.Uint16Value(9)}}},
		},
		Action:     wfp.FwpmAction0{Type: wfp.ActionCalloutTerminating, CalloutKey: wfp.CalloutIPsecOutboundTransportV6},
		RawContext: 5, FilterID: 11, EffectiveWeight: wfp.Uint64Value(1 << 40)}
	sc := &wfp.IPsecSAContext1{SAContextID: 3, State: wfp.SAContextOutboundAdded, Traffic: tr, InboundSPI: 0x1234,
		InboundSA: &wfp.IPsecSADetails1{IPVersion: wfp.IPVersionV6, SADirection: wfp.DirectionInbound, Traffic: tr, SABundle: *b,
			TransportFilter: f, VirtualIfTunnelInfo: &wfp.IPsecVirtualIfTunnelInfo0{VirtualIfTunnelID: 1, TrafficSelectorID: 2},
			Counters: &wfp.SACounters{Bytes: 1, Packets: 2, ReplayDrops: 3, ICVFailures: 4, OtherDrops: 5, LastUseUnixSec: 6}}}

	gotT, err := TrafficFromPB(TrafficPB(&tr))
	check(t, "traffic", tr, gotT, err)
	gotB, err := BundleFromPB(BundlePB(b))
	check(t, "bundle", b, gotB, err)
	gotF, err := FilterFromPB(FilterPB(f))
	check(t, "filter", f, gotF, err)
	gotC, err := ContextFromPB(ContextPB(sc))
	check(t, "context", sc, gotC, err)
	sd := &wfp.SecurityDescriptor{Owner: "uid:0", Group: "gid:0", DACL: &wfp.ACL{{Type: wfp.AccessDenied, Mask: wfp.Delete, SID: "cert:x"}}}
	gotSD, err := SDFromPB(SDPB(sd))
	check(t, "sd", sd, gotSD, err)
	st := &wfp.IPsecStatistics1{}
	st.AggregateSAStatistics.ActiveSAs = 4
	st.AggregateDropPacketStatistics.TotalDropPacketsInbound = 9
	st.OutboundTrafficStatistics.TotalSuccessfulPackets = 12
	gotSt, err := StatisticsFromPB(StatisticsPB(st))
	check(t, "statistics", st, gotSt, err)
	// The message survives serialization too.
	raw, err := proto.Marshal(ContextPB(sc))
	if err != nil {
		t.Fatal(err)
	}
	var m pb.SAContext
	if err := proto.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	gotC, err = ContextFromPB(&m)
	check(t, "context after marshal", sc, gotC, err)

	// Pages: each filter once, shared again when decoded.
	other := f.Clone()
	other.FilterID = 12
	sc2 := sc.Clone()
	sc2.SAContextID = 4
	sc2.InboundSA.TransportFilter = f
	sc2.OutboundSA = sc2.InboundSA.Clone()
	sc2.OutboundSA.TransportFilter = other
	page := []*wfp.IPsecSAContext1{sc, sc2, {SAContextID: 5}}
	pm := ContextsPB(page)
	if len(pm.Filters) != 2 {
		t.Fatalf("a page with 2 distinct filters carries %d", len(pm.Filters))
	}
	raw, err = proto.Marshal(pm)
	if err != nil {
		t.Fatal(err)
	}
	var pm2 pb.SAContexts
	if err := proto.Unmarshal(raw, &pm2); err != nil {
		t.Fatal(err)
	}
	gotPage, err := ContextsFromPB(&pm2)
	check(t, "context page", page, gotPage, err)
	if gotPage[0].InboundSA.TransportFilter != gotPage[1].InboundSA.TransportFilter {
		t.Errorf("the details of one filter do not share its decoded copy")
	}
	ds := []*wfp.IPsecSADetails1{sc.InboundSA, sc2.InboundSA, sc2.OutboundSA}
	dm := DetailsListPB(ds)
	if len(dm.Filters) != 2 {
		t.Fatalf("an SA page with 2 distinct filters carries %d", len(dm.Filters))
	}
	gotDs, err := DetailsListFromPB(dm)
	check(t, "SA page", ds, gotDs, err)
}

// A page whose references do not hold is refused, not half decoded.
func TestBadPages(t *testing.T) {
	d := func(ref uint32, inline *pb.Filter) *pb.SAContext {
		return &pb.SAContext{SaContextId: 1, InboundSa: &pb.SADetails{TransportFilterRef: ref, TransportFilter: inline}}
	}
	f := FilterPB(&wfp.FwpmFilter0{FilterID: 1})
	for name, m := range map[string]*pb.SAContexts{
		"reference past the filters": {SaContexts: []*pb.SAContext{d(2, nil)}, Filters: []*pb.Filter{f}},
		"reference without filters":  {SaContexts: []*pb.SAContext{d(1, nil)}},
		"inline and reference":       {SaContexts: []*pb.SAContext{d(1, f)}, Filters: []*pb.Filter{f}},
		"empty filter":               {SaContexts: []*pb.SAContext{d(1, nil)}, Filters: []*pb.Filter{nil}},
		"empty context":              {SaContexts: []*pb.SAContext{nil}},
	} {
		if got, err := ContextsFromPB(m); err == nil {
			t.Errorf("%s: decoded %v", name, got)
		}
		dl := &pb.SADetailsList{Filters: m.Filters}
		for _, c := range m.SaContexts {
			dl.Details = append(dl.Details, c.GetInboundSa())
		}
		if got, err := DetailsListFromPB(dl); err == nil {
			t.Errorf("%s (SA page): decoded %v", name, got)
		}
	}
}

func check[T any](t *testing.T, what string, want, got T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s round trip (-want +got):\n%s", what, d)
	}
}

func TestBadShapes(t *testing.T) {
	cases := map[string]func() error{
		"short IPv6 address": func() error { _, err := TrafficFromPB(&pb.Traffic{LocalV6Address: []byte{1, 2}}); return err },
		"port over 16 bits":  func() error { _, err := TrafficFromPB(&pb.Traffic{RemotePort: 70000}); return err },
		"GUID of 3 bytes":    func() error { _, err := FilterFromPB(&pb.Filter{LayerKey: []byte{1, 2, 3}}); return err },
		"byte array 16 of 4": func() error {
			_, err := ValueFromPB(&pb.Value{Type: uint32(wfp.DataTypeByteArray16), HasBytes: true, Bytes: []byte{1, 2, 3, 4}})
			return err
		},
		"null SA":           func() error { _, err := BundleFromPB(&pb.Bundle{SaList: []*pb.SA{nil}}); return err },
		"too many SAs":      func() error { _, err := BundleFromPB(&pb.Bundle{SaList: make([]*pb.SA, 100)}); return err },
		"statistics arrays": func() error { _, err := StatisticsFromPB(&pb.Statistics{}); return err },
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ErrBadShape) {
			t.Errorf("%s: got %v, want ErrBadShape", name, err)
		}
	}
}

// FuzzCall decodes arbitrary bytes as a call and converts every part: the
// server does this with whatever a client sends, and must never panic.
func FuzzCall(f *testing.F) {
	seed, _ := proto.Marshal(&pb.ClientMessage{Call: &pb.Call{Id: 1, Op: &pb.Call_SaContextAddInbound{SaContextAddInbound: &pb.SAContextAddBundle{
		Id: 1, Bundle: BundlePB(conformance.GCMBundle(wfp.IPVersionV4, 300, conformance.TestKey(1, 20)))}}}})
	f.Add(seed)
	seed2, _ := proto.Marshal(&pb.ClientMessage{Call: &pb.Call{Op: &pb.Call_FilterAdd{FilterAdd: &pb.FilterAdd{Filter: FilterPB(&wfp.FwpmFilter0{
		LayerKey: wfp.LayerInboundTransportV4, FilterCondition: []wfp.FwpmFilterCondition0{wfp.Condition(wfp.ConditionIPLocalAddress, wfp.MatchEqual, wfp.PrefixValue(netipMust("192.0.2.0/24")))}})}}}})
	f.Add(seed2)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m pb.ClientMessage
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		c := m.GetCall()
		_, _ = SessionFromPB(c.GetOpen().GetSession())
		_, _ = FilterFromPB(c.GetFilterAdd().GetFilter())
		_, _ = SDFromPB(c.GetFilterAdd().GetSd())
		_, _ = FilterTemplateFromPB(c.GetFilterCreateEnumHandle())
		_, _ = TrafficFromPB(c.GetSaContextCreate().GetOutboundTraffic())
		_, _ = GetSPIFromPB(c.GetSaContextGetSpi().GetGetSpi())
		_, _ = BundleFromPB(c.GetSaContextAddInbound().GetBundle())
		_, _ = ContextFromPB(c.GetSaContextUpdate().GetNewValues())
		_, _ = ContextTemplateFromPB(c.GetSaContextCreateEnumHandle())
		_, _ = SubscriptionFromPB(c.GetSaContextSubscribe())
		_, _ = KeyManagerFromPB(c.GetKeyManagerAddAndRegister().GetKeyManager())
		_, _ = ACLFromPB(c.GetSadbSetSecurityInfo().GetDacl())
	})
}

// FuzzPage decodes arbitrary enumeration pages as the client does: an
// error or a page, never a panic.
func FuzzPage(f *testing.F) {
	b := conformance.GCMBundle(wfp.IPVersionV4, 300, conformance.TestKey(1, 20))
	flt := &wfp.FwpmFilter0{FilterID: 3, LayerKey: wfp.LayerInboundTransportV4}
	d := &wfp.IPsecSADetails1{IPVersion: wfp.IPVersionV4, SABundle: *b, TransportFilter: flt}
	page := ContextsPB([]*wfp.IPsecSAContext1{{SAContextID: 1, InboundSA: d, OutboundSA: d}, {SAContextID: 2}})
	seed, _ := proto.Marshal(&pb.Reply{Result: &pb.Reply_SaContexts{SaContexts: page}})
	f.Add(seed)
	seed2, _ := proto.Marshal(&pb.Reply{Result: &pb.Reply_SaDetails{SaDetails: DetailsListPB([]*wfp.IPsecSADetails1{d, d})}})
	f.Add(seed2)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m pb.Reply
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		if cs, err := ContextsFromPB(m.GetSaContexts()); err == nil {
			for _, c := range cs {
				if c == nil {
					t.Fatal("a decoded page has an empty entry")
				}
			}
		}
		if ds, err := DetailsListFromPB(m.GetSaDetails()); err == nil {
			for _, d := range ds {
				if d == nil {
					t.Fatal("a decoded SA page has an empty entry")
				}
			}
		}
	})
}
