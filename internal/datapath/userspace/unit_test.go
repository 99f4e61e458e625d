package userspace

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/internal/esp"
	"github.com/sadb-dev/sadb/wfp"
)

// offline returns a Backend that can check SAs and compile filters but
// has no device, sockets or goroutines.
func offline(tb testing.TB) *Backend {
	tb.Helper()
	cfg, err := Config{}.withDefaults()
	if err != nil {
		tb.Fatal(err)
	}
	b := &Backend{cfg: cfg, log: cfg.Logger, tab: newTables()}
	return b
}

func transportSA(dir wfp.Direction, bundle *wfp.IPsecSABundle1) *datapath.SA {
	f := conformance.TransportFilter(dir, addrA4, addrB4)
	f.FilterID = 7
	return &datapath.SA{
		ID:      datapath.SAID{Context: 1, Direction: dir},
		Traffic: conformance.TransportTraffic(addrA4, addrB4, 7),
		Filter:  f,
		Bundle:  bundle,
	}
}

func TestCheckSARefusesWeakTransforms(t *testing.T) {
	b := offline(t)
	md5 := conformance.CBCBundle(wfp.IPVersionV4, 0x1000, key(16), key(16))
	des := conformance.CBCBundle(wfp.IPVersionV4, 0x1000, key(16), key(32))
	des.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherTransform.CipherTransformID = wfp.CipherTransformIDCBCDES
	des.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherKey = key(8)
	tdes := conformance.CBCBundle(wfp.IPVersionV4, 0x1000, key(24), key(32))
	tdes.SAList[0].ESPAuthAndCipherInformation.SACipherInformation.CipherTransform.CipherTransformID = wfp.CipherTransformIDCBC3DES
	cipherOnly := conformance.Bundle(wfp.IPVersionV4, 0, wfp.IPsecSA0{SPI: 0x1000, SATransformType: wfp.TransformESPCipher,
		ESPCipherInformation: &wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: wfp.CipherTransformIDAES128}, CipherKey: key(16)}})
	ahMD5 := conformance.Bundle(wfp.IPVersionV4, 0, conformance.AHSA(0x1000, key(16)))
	ahUDP := transportSA(wfp.DirectionInbound, conformance.Bundle(wfp.IPVersionV4, 0, conformance.AHSA(0x1000, key(32))))
	ahUDP.UDPEncapsulation = &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4500, RemoteUDPEncapPort: 4500}
	for _, tc := range []struct {
		name string
		sa   *datapath.SA
		code wfp.Error
	}{
		{"hmac-md5", transportSA(wfp.DirectionOutbound, md5), wfp.ErrInvalidAuthTransform},
		{"des", transportSA(wfp.DirectionOutbound, des), wfp.ErrInvalidCipherTransform},
		{"3des", transportSA(wfp.DirectionInbound, tdes), wfp.ErrInvalidCipherTransform},
		{"esp-cipher-only", transportSA(wfp.DirectionInbound, cipherOnly), wfp.ErrInvalidAuthTransform},
		{"ah-md5", transportSA(wfp.DirectionInbound, ahMD5), wfp.ErrInvalidAuthTransform},
		{"ah-in-udp", ahUDP, wfp.ErrInvalidParameter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.CheckSA(tc.sa)
			if !errors.Is(err, tc.code) {
				t.Fatalf("CheckSA: %v, want %v", err, tc.code)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		bundle *wfp.IPsecSABundle1
	}{
		{"gcm-128", conformance.GCMBundle(wfp.IPVersionV4, 0x1000, key(20))},
		{"gcm-256", conformance.GCMBundle(wfp.IPVersionV4, 0x1000, key(36))},
		{"cbc-sha1", conformance.CBCBundle(wfp.IPVersionV4, 0x1000, key(16), key(20))},
		{"cbc-sha256", conformance.CBCBundle(wfp.IPVersionV4, 0x1000, key(32), key(32))},
		{"esp-null-sha256", conformance.Bundle(wfp.IPVersionV4, 0, conformance.ESPAuthSA(0x1000, key(32)))},
		{"esp+ah", espAH(wfp.IPVersionV4, 0x1000, espAHKeys())},
		{"ah", ahOnly(wfp.IPVersionV4, 0x1000, ahKeys())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := b.CheckSA(transportSA(wfp.DirectionInbound, tc.bundle)); err != nil {
				t.Fatalf("CheckSA: %v", err)
			}
		})
	}
}

func TestCheckSAChangesNothing(t *testing.T) {
	b := offline(t)
	sa := transportSA(wfp.DirectionInbound, conformance.GCMBundle(wfp.IPVersionV4, 0x1000, key(20)))
	if err := b.CheckSA(sa); err != nil {
		t.Fatal(err)
	}
	if b.tab.in.Len() != 0 || len(b.sas) != 0 {
		t.Fatalf("CheckSA installed something")
	}
}

func TestESPConfigKeys(t *testing.T) {
	k := key(20)
	c, err := espConfig(&conformance.GCMBundle(wfp.IPVersionV4, 0x1234, k).SAList[0], esp.Inbound, 4096)
	if err != nil {
		t.Fatal(err)
	}
	want := esp.Config{Protocol: esp.ProtocolESP, Direction: esp.Inbound, SPI: 0x1234, Encryption: esp.EncryptionAESGCM128, EncryptionKey: esp.Key(k), ReplayWindow: 4096}
	if diff := cmp.Diff(want, *c); diff != "" {
		t.Fatalf("GCM config (-want +got):\n%s", diff)
	}
	gmac := conformance.Bundle(wfp.IPVersionV4, 0, wfp.IPsecSA0{SPI: 0x1234, SATransformType: wfp.TransformESPAuth,
		ESPAuthInformation: &wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: wfp.AuthTransformIDGCMAES256}, AuthKey: key(36)}})
	c, err = espConfig(&gmac.SAList[0], esp.Outbound, 64)
	if err != nil || c.Integrity != esp.IntegrityAESGMAC256 || c.Encryption != esp.EncryptionNull || c.ReplayWindow != 0 {
		t.Fatalf("GMAC config %v, %v", c, err)
	}
}

func wcond(field wfp.FieldID, m wfp.MatchType, v wfp.FwpConditionValue0) wfp.FwpmFilterCondition0 {
	return wfp.Condition(field, m, v)
}

func TestSPDOrderAndVerdicts(t *testing.T) {
	icmp := &wfp.FwpmFilter0{FilterID: 3, LayerKey: wfp.LayerOutboundTransportV4, Action: wfp.FwpmAction0{Type: wfp.ActionPermit},
		FilterCondition: []wfp.FwpmFilterCondition0{wfp.ValueCondition(wfp.ConditionIPProtocol, wfp.MatchEqual, wfp.Uint8Value(protoICMP))},
		EffectiveWeight: wfp.Uint64Value(100)}
	block := &wfp.FwpmFilter0{FilterID: 4, LayerKey: wfp.LayerOutboundTransportV4, Action: wfp.FwpmAction0{Type: wfp.ActionBlock},
		FilterCondition: []wfp.FwpmFilterCondition0{wfp.ValueCondition(wfp.ConditionIPRemotePort, wfp.MatchEqual, wfp.Uint16Value(23))},
		EffectiveWeight: wfp.Uint64Value(50)}
	ipsec := conformance.TransportFilter(wfp.DirectionOutbound, addrA4, addrB4)
	ipsec.FilterID, ipsec.EffectiveWeight = 5, wfp.Uint64Value(10)
	unknownPermit := &wfp.FwpmFilter0{FilterID: 6, LayerKey: wfp.LayerOutboundTransportV4, Action: wfp.FwpmAction0{Type: wfp.ActionPermit},
		FilterCondition: []wfp.FwpmFilterCondition0{wfp.ValueCondition(wfp.ConditionInterfaceIndex, wfp.MatchEqual, wfp.Uint32Value(2))},
		EffectiveWeight: wfp.Uint64Value(1000)}
	var rs []*rule
	for _, f := range []*wfp.FwpmFilter0{ipsec, block, icmp, unknownPermit} {
		rs = append(rs, compileFilter(f).rule)
	}
	sortRules(rs)
	for _, tc := range []struct {
		name string
		fl   flow
		want uint64
	}{
		{"icmp-permitted", flow{local: addrA4, remote: addrB4, proto: protoICMP, localPort: 8}, 3},
		{"telnet-blocked", flow{local: addrA4, remote: addrB4, proto: protoTCP, localPort: 40000, remotePort: 23}, 4},
		{"tcp-protected", flow{local: addrA4, remote: addrB4, proto: protoTCP, localPort: 40000, remotePort: 80}, 5},
		{"other-host", flow{local: addrA4, remote: netip.MustParseAddr("192.0.2.9"), proto: protoTCP}, 0},
		{"opaque-ports-not-blocked-by-port", flow{local: addrA4, remote: addrB4, proto: protoTCP, opaquePorts: true}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got uint64
			if r := lookup(rs, &tc.fl); r != nil {
				got = r.id
			}
			if got != tc.want {
				t.Fatalf("filter %d, want %d", got, tc.want)
			}
		})
	}
}

func TestConditionPrefixes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conds []wfp.FwpmFilterCondition0
		v4    bool
		want  []string
		all   bool
	}{
		{"none", nil, true, nil, true},
		{"host", []wfp.FwpmFilterCondition0{wcond(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.AddrValue(addrB4))}, true, []string{"192.0.2.2/32"}, false},
		{"subnet", []wfp.FwpmFilterCondition0{wcond(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.PrefixValue(subnetB4))}, true, []string{"203.0.113.0/24"}, false},
		{"v6-subnet", []wfp.FwpmFilterCondition0{wcond(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.PrefixValue(subnetB6))}, false, []string{"2001:db8:b::/48"}, false},
		{"or", []wfp.FwpmFilterCondition0{
			wcond(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.AddrValue(addrB4)),
			wcond(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, wfp.PrefixValue(subnetB4)),
		}, true, []string{"192.0.2.2/32", "203.0.113.0/24"}, false},
		{"range", []wfp.FwpmFilterCondition0{{FieldKey: wfp.ConditionIPRemoteAddress, MatchType: wfp.MatchRange, ConditionValue: wfp.FwpConditionValue0{
			FwpValue0: wfp.FwpValue0{Type: wfp.DataTypeRange}, RangeValue: &wfp.FwpRange0{ValueLow: wfp.Uint32Value(uint32(wfp.MustV4("192.0.2.4"))), ValueHigh: wfp.Uint32Value(uint32(wfp.MustV4("192.0.2.9")))}}}},
			true, []string{"192.0.2.4/30", "192.0.2.8/31"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, _ := compileConds(tc.conds)
			got, all := cs.prefixes(fieldRemoteAddr, tc.v4, 16)
			var gs []string
			for _, p := range got {
				gs = append(gs, p.String())
			}
			if all != tc.all || !cmp.Equal(gs, tc.want) {
				t.Fatalf("prefixes %v all=%v, want %v all=%v", gs, all, tc.want, tc.all)
			}
		})
	}
}

func TestFixTransportChecksum(t *testing.T) {
	// A UDP packet whose checksum was computed over other addresses (as
	// after a NAT) gets the checksum of the addresses it now has.
	pkt := make([]byte, 20+8+4)
	ip := esp.IPv4(pkt)
	pkt[0] = 0x45
	ip.SetTotalLength(uint16(len(pkt)))
	pkt[8], pkt[9] = 64, protoUDP
	copy(pkt[12:], addrB4.AsSlice())
	copy(pkt[16:], addrA4.AsSlice())
	ip.UpdateChecksum()
	udp := pkt[20:]
	binary.BigEndian.PutUint16(udp[0:], 1000)
	binary.BigEndian.PutUint16(udp[2:], 2000)
	binary.BigEndian.PutUint16(udp[4:], 12)
	copy(udp[8:], "ping")
	binary.BigEndian.PutUint16(udp[6:], 0x1234) // wrong
	fixTransportChecksum(pkt)
	var sum uint64
	sum = checksumAdd(sum, pkt[12:20])
	sum += protoUDP + 12
	sum = checksumAdd(sum, udp)
	if checksumFold(sum) != 0xffff {
		t.Fatalf("checksum %#04x does not verify", binary.BigEndian.Uint16(udp[6:]))
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.TUN != DefaultTUN || c.MTU != DefaultMTU || c.ReplayWindow != 64 || c.UDPPort != 4500 || c.KeepaliveInterval != DefaultKeepalive {
		t.Fatalf("defaults: %+v", c)
	}
	for _, bad := range []Config{{MTU: 100}, {ReplayWindow: -1}, {Table: 254}, {RulePriority: 40000}, {TUN: "a-name-that-is-too-long"}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if c, err := (Config{ReplayWindow: 4096}).withDefaults(); err != nil || c.ReplayWindow != 4096 {
		t.Fatalf("window 4096: %v %v", c.ReplayWindow, err)
	}
}

// Failures counted by packet goroutines while the reporter drains the
// notice queue are all reported, each SA is queued at most once at a
// time, and an SA with nothing new is not queued.
func TestNoticeQueue(t *testing.T) {
	var q notices
	sts := make([]*saState, 8)
	for i := range sts {
		sts[i] = &saState{id: datapath.SAID{Context: uint64(i + 1)}, q: &q}
	}
	const perSA = 20000
	var wg sync.WaitGroup
	for _, st := range sts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perSA {
				st.replayFailed()
			}
		}()
	}
	stop := make(chan struct{})
	go func() { wg.Wait(); close(stop) }()
	var reported uint64
	var spare []*saState
	drain := func() {
		queued := q.take(spare)
		seen := map[*saState]bool{}
		for _, st := range queued {
			if seen[st] {
				t.Errorf("SA %v queued twice", st.id)
			}
			seen[st] = true
			st.queued.Store(false)
			reported += st.replayPending.Swap(0)
		}
		spare = queued[:0]
	}
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		default:
		}
		drain()
	}
	drain()
	if want := uint64(len(sts) * perSA); reported != want {
		t.Fatalf("reported %d failures, counted %d", reported, want)
	}
	if n := len(q.take(nil)); n != 0 {
		t.Fatalf("%d SAs queued with nothing to report", n)
	}
}
