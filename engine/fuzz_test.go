package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/sadb-dev/sadb/wfp"
)

// Fuzz targets for every validator. Each builds its input from the fuzzer's
// bytes, requires that validation never panics, that a failure is a wfp
// status code, and that whatever validation accepts can be stored and
// exported without trouble.

// byteSource turns fuzz input into field values.
type byteSource struct{ b []byte }

func (s *byteSource) u8() uint8 {
	if len(s.b) == 0 {
		return 0
	}
	v := s.b[0]
	s.b = s.b[1:]
	return v
}

func (s *byteSource) u16() uint16 { return uint16(s.u8()) | uint16(s.u8())<<8 }
func (s *byteSource) u32() uint32 { return uint32(s.u16()) | uint32(s.u16())<<16 }
func (s *byteSource) u64() uint64 { return uint64(s.u32()) | uint64(s.u32())<<32 }

func (s *byteSource) bytes() []byte {
	n := int(s.u8() % 48)
	n = min(n, len(s.b))
	out := append([]byte(nil), s.b[:n]...)
	s.b = s.b[n:]
	return out
}

func (s *byteSource) small(n uint8) uint32 { return uint32(s.u8() % n) }

func (s *byteSource) traffic() wfp.IPsecTraffic1 {
	t := wfp.IPsecTraffic1{IPVersion: wfp.IPVersion(s.small(4)), TrafficType: wfp.TrafficType(s.small(3))}
	if s.u8()&1 == 0 {
		t.LocalV4Address, t.RemoteV4Address = wfp.V4Addr(s.u32()), wfp.V4Addr(s.u32())
	} else {
		copy(t.LocalV6Address[:], s.bytes())
		copy(t.RemoteV6Address[:], s.bytes())
	}
	t.IPsecFilterID, t.TunnelPolicyID = uint64(s.small(4)), uint64(s.small(4))
	t.RemotePort, t.LocalPort, t.IPProtocol = s.u16(), s.u16(), s.u8()
	return t
}

// keyLens are the lengths the transforms take, and a few they do not.
var keyLens = []int{0, 8, 16, 20, 24, 28, 32, 36, 5, 40}

func (s *byteSource) key() wfp.Key {
	n := keyLens[int(s.u8())%len(keyLens)]
	k := make(wfp.Key, n)
	for i := range k {
		k[i] = s.u8()
	}
	return k
}

var fuzzAuthIDs = []wfp.IPsecAuthTransformID0{wfp.AuthTransformIDHMACMD596, wfp.AuthTransformIDHMACSHA196,
	wfp.AuthTransformIDHMACSHA256128, wfp.AuthTransformIDGCMAES128, wfp.AuthTransformIDGCMAES192, wfp.AuthTransformIDGCMAES256}

var fuzzCipherIDs = []wfp.IPsecCipherTransformID0{wfp.CipherTransformIDCBCDES, wfp.CipherTransformIDCBC3DES,
	wfp.CipherTransformIDAES128, wfp.CipherTransformIDAES192, wfp.CipherTransformIDAES256,
	wfp.CipherTransformIDGCMAES128, wfp.CipherTransformIDGCMAES192, wfp.CipherTransformIDGCMAES256}

func (s *byteSource) auth() wfp.IPsecSAAuthInformation0 {
	id := wfp.IPsecAuthTransformID0{AuthType: wfp.AuthType(s.small(8)), AuthConfig: wfp.AuthConfig(s.small(8))}
	if v := s.u8(); v < 224 {
		id = fuzzAuthIDs[int(v)%len(fuzzAuthIDs)]
	}
	return wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: id}, AuthKey: s.key()}
}

func (s *byteSource) cipher() wfp.IPsecSACipherInformation0 {
	id := wfp.IPsecCipherTransformID0{CipherType: wfp.CipherType(s.small(8)), CipherConfig: wfp.CipherConfig(s.small(10))}
	if v := s.u8(); v < 224 {
		id = fuzzCipherIDs[int(v)%len(fuzzCipherIDs)]
	}
	return wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: id}, CipherKey: s.key()}
}

func (s *byteSource) sa() wfp.IPsecSA0 {
	sa := wfp.IPsecSA0{SPI: s.u32(), SATransformType: wfp.TransformType(s.small(7))}
	mask := s.u8()
	if mask&0x80 == 0 && sa.SATransformType > 0 && sa.SATransformType < wfp.TransformTypeMax {
		mask = 1 << (sa.SATransformType - 1) // just the member that goes with the type
	}
	if mask&1 != 0 {
		a := s.auth()
		sa.AHInformation = &a
	}
	if mask&2 != 0 {
		a := s.auth()
		sa.ESPAuthInformation = &a
	}
	if mask&4 != 0 {
		c := s.cipher()
		sa.ESPCipherInformation = &c
	}
	if mask&8 != 0 {
		sa.ESPAuthAndCipherInformation = &wfp.IPsecSAAuthAndCipherInformation0{SAAuthInformation: s.auth(), SACipherInformation: s.cipher()}
	}
	if mask&16 != 0 {
		a := s.auth()
		sa.ESPAuthFWInformation = &a
	}
	return sa
}

func (s *byteSource) bundle() wfp.IPsecSABundle1 {
	flags := s.u32()
	if s.u8()&1 == 0 {
		flags &= wfp.SABundleFlagsValid
	}
	b := wfp.IPsecSABundle1{
		Flags:              flags,
		Lifetime:           wfp.IPsecSALifetime0{LifetimeSeconds: s.u32(), LifetimeKilobytes: s.u32(), LifetimePackets: s.u32()},
		IdleTimeoutSeconds: uint32(s.u16()),
		QMSAID:             s.u32(),
		IPVersion:          wfp.IPVersion(s.small(4)),
		PFSGroup:           wfp.PFSGroup(s.small(10)),
	}
	if s.u8()&1 != 0 {
		b.PeerV4PrivateAddress = wfp.V4Addr(s.u32())
	}
	if s.u8()&1 != 0 {
		b.IPsecID = &wfp.IPsecID0{MMTargetName: string(s.bytes()), Tokens: []wfp.IPsecToken0{{Type: wfp.TokenType(s.small(3))}}}
	}
	for range s.small(4) {
		b.SAList = append(b.SAList, s.sa())
	}
	return b
}

func checkCode(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var d *wfp.DetailedError
	if !errors.As(err, &d) || !d.Code.Known() {
		t.Fatalf("validator returned a non-WFP error: %v", err)
	}
}

func seeds(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	good := make([]byte, 256)
	for i := range good {
		good[i] = byte(i * 7)
	}
	f.Add(good)
}

func FuzzValidateBundle(f *testing.F) {
	seeds(f)
	// Seed with inputs that pass validation, found by a fixed random search,
	// so the checks after validation run even without fuzzing.
	rng := rand.New(rand.NewPCG(1, 2))
	for found, tries := 0, 0; found < 12 && tries < 200_000; tries++ {
		in := make([]byte, 200)
		for i := range in {
			in[i] = byte(rng.Uint32())
		}
		src := &byteSource{in}
		b := src.bundle()
		if validateBundle(&b, "b") == nil {
			f.Add(in)
			found++
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &byteSource{data}
		b := src.bundle()
		err := validateBundle(&b, "bundle")
		checkCode(t, err)
		if err != nil {
			return
		}
		nb := newBundle(&b, t0)
		out := nb.toWFP(true)
		if len(out.SAList) != len(b.SAList) {
			t.Fatalf("export lost SAs")
		}
		for i := range b.SAList {
			wa, wc := saKeyBlobs(&b.SAList[i])
			ga, gc := saKeyBlobs(&out.SAList[i])
			if string(wa) != string(ga) || string(wc) != string(gc) {
				t.Fatalf("SA %d keys changed in the engine's copy", i)
			}
			wai, wci := saTransformIDs(&b.SAList[i])
			gai, gci := saTransformIDs(&out.SAList[i])
			if wai != gai || wci != gci || b.SAList[i].SPI != out.SAList[i].SPI {
				t.Fatalf("SA %d transforms changed in the engine's copy", i)
			}
		}
		if err := validateBundle(out, "exported"); err != nil {
			t.Fatalf("exported bundle no longer valid: %v", err)
		}
		if rec, err := decodeBundle(encodeBundle(nb)); err != nil || rec.nSA != nb.nSA {
			t.Fatalf("store round trip: %v", err)
		}
		nb.zeroKeys()
		for _, c := range nb.keys.keys {
			if c != 0 {
				t.Fatalf("key not zeroed")
			}
		}
		stripped := nb.toWFP(true)
		for i := range stripped.SAList {
			a, c := saKeyBlobs(&stripped.SAList[i])
			if len(a)+len(c) != 0 {
				t.Fatalf("zeroed keys were exported")
			}
		}
	})
}

func FuzzValidateTraffic(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &byteSource{data}
		tr := src.traffic()
		checkCode(t, validateTraffic(&tr, "traffic"))
		g := wfp.IPsecGetSPI1{InboundIPsecTraffic: tr, IPVersion: wfp.IPVersion(src.small(4))}
		if src.u8()&1 != 0 {
			g.InboundUDPEncapsulation = &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: src.u16(), RemoteUDPEncapPort: src.u16()}
		}
		checkCode(t, validateGetSPI(&g))
	})
}

func FuzzPrepareFilter(f *testing.F) {
	seeds(f)
	layerIDs := make([]wfp.LayerID, 0, len(layers))
	for l := range layers {
		layerIDs = append(layerIDs, l)
	}
	fields := []wfp.FieldID{wfp.ConditionIPLocalAddress, wfp.ConditionIPRemoteAddress, wfp.ConditionIPProtocol,
		wfp.ConditionIPLocalPort, wfp.ConditionFlags, wfp.ConditionIPLocalInterface, wfp.FieldID(wfp.NewGUID())}
	calloutIDs := make([]wfp.CalloutID, 0, len(callouts))
	for c := range callouts {
		calloutIDs = append(calloutIDs, c)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &byteSource{data}
		flt := wfp.FwpmFilter0{
			DisplayData: wfp.FwpmDisplayData0{Name: string(src.bytes())},
			Flags:       src.u32() & 0xFFF,
			LayerKey:    layerIDs[int(src.u8())%len(layerIDs)],
			Action:      wfp.FwpmAction0{Type: wfp.ActionType(src.u16()), CalloutKey: calloutIDs[int(src.u8())%len(calloutIDs)]},
			Weight:      wfp.FwpValue0{Type: wfp.DataType(src.small(6)), Uint8: src.u8(), Uint64: src.u64()},
		}
		for range src.small(5) {
			v := wfp.FwpConditionValue0{FwpValue0: wfp.FwpValue0{Type: wfp.DataType(src.small(20)), Uint8: src.u8(), Uint16: src.u16(), Uint32: src.u32(), Uint64: src.u64()}}
			switch src.small(5) {
			case 0:
				v.Type = wfp.DataTypeV4AddrMask
				v.V4AddrMask = &wfp.FwpV4AddrAndMask{Addr: wfp.V4Addr(src.u32()), Mask: src.u32()}
			case 1:
				v.Type = wfp.DataTypeV6AddrMask
				v.V6AddrMask = &wfp.FwpV6AddrAndMask{PrefixLength: src.u8()}
			case 2:
				v.Type = wfp.DataTypeRange
				v.RangeValue = &wfp.FwpRange0{ValueLow: wfp.Uint16Value(src.u16()), ValueHigh: wfp.Uint16Value(src.u16())}
			case 3:
				a := wfp.FwpByteArray16{}
				copy(a[:], src.bytes())
				v.ByteArray16 = &a
			}
			flt.FilterCondition = append(flt.FilterCondition, wfp.FwpmFilterCondition0{
				FieldKey: fields[int(src.u8())%len(fields)], MatchType: wfp.MatchType(src.small(15)), ConditionValue: v})
		}
		fl, err := prepareFilter(&flt)
		checkCode(t, err)
		if err != nil {
			return
		}
		// An accepted filter's conditions always make a space, and it is
		// within itself.
		sp := newSpace(fl.f.FilterCondition)
		if !sp.within(sp) {
			t.Fatalf("a filter's space is not within itself")
		}
		tmpl := &wfp.FwpmFilterEnumTemplate0{LayerKey: fl.f.LayerKey, ActionMask: 0xFFFFFFFF, FilterCondition: fl.f.FilterCondition}
		match, err := filterMatcher(tmpl)
		if err != nil {
			t.Fatalf("a valid filter's conditions are not a valid template: %v", err)
		}
		if !match(fl) {
			t.Fatalf("a filter does not match a template of its own conditions")
		}
	})
}

func FuzzSecurityDescriptor(f *testing.F) {
	seeds(f)
	sids := []wfp.SID{"uid:0", "gid:5", "cert:x", wfp.Everyone, "bogus", "", "uid:99999999999"}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &byteSource{data}
		sd := &wfp.SecurityDescriptor{Owner: sids[int(src.u8())%len(sids)], Group: sids[int(src.u8())%len(sids)]}
		if src.u8()&1 != 0 {
			acl := wfp.ACL{}
			for range src.small(6) {
				acl = append(acl, wfp.ACE{Type: wfp.ACEType(src.small(3)), Mask: wfp.AccessMask(src.u32()), SID: sids[int(src.u8())%len(sids)]})
			}
			sd.DACL = &acl
		}
		err := validateSD(sd)
		checkCode(t, err)
		if err != nil {
			return
		}
		n := normalizeSD(sd)
		tok := &wfp.Token{User: sids[int(src.u8())%len(sids)], Groups: []wfp.SID{sids[int(src.u8())%len(sids)]}}
		want := wfp.AccessMask(src.u32()) & wfp.FwpmGenericAll
		got := accessCheck(n, tok, want)
		// Granting is monotone: asking for less never fails where more succeeds.
		if got && !accessCheck(n, tok, want&wfp.ActrlRead) {
			t.Fatalf("access check not monotone")
		}
	})
}

func FuzzSubnet(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &byteSource{data}
		v := wfp.FwpConditionValue0{FwpValue0: wfp.FwpValue0{Type: wfp.DataType(src.small(20)), Uint32: src.u32()}}
		switch src.small(4) {
		case 0:
			v.Type, v.V4AddrMask = wfp.DataTypeV4AddrMask, &wfp.FwpV4AddrAndMask{Addr: wfp.V4Addr(src.u32()), Mask: src.u32()}
		case 1:
			v.Type, v.V6AddrMask = wfp.DataTypeV6AddrMask, &wfp.FwpV6AddrAndMask{PrefixLength: src.u8()}
		case 2:
			v.Type = wfp.DataTypeV6AddrMask // with a nil pointer
		}
		_, err := parseSubnet(&v, "subnet")
		checkCode(t, err)
	})
}

// FuzzStoreRecord feeds arbitrary bytes to the store decoder: a corrupt
// store must be reported, never crash the daemon.
func FuzzStoreRecord(f *testing.F) {
	rec, _ := json.Marshal(&ctxRecord{ID: 1, State: wfp.SAContextCreated})
	f.Add(rec)
	f.Add([]byte(`{"id":2,"state":4,"in":{"sas":[{"spi":300,"type":4}]}}`))
	f.Add(binary.BigEndian.AppendUint64(nil, 42))
	f.Add(appendCtxRecord(nil, &ctxRecord{ID: 1, State: wfp.SAContextCreated}))
	f.Add(appendCtxRecord(nil, &ctxRecord{ID: 2, State: wfp.SAContextOutboundAdded, SPI: 300, GetSpi: &wfp.IPsecGetSPI1{},
		In:  &bundleRecord{SAs: []saRecord{{SPI: 300, Type: wfp.TransformESPAuth}}},
		Out: &bundleRecord{SAs: []saRecord{{SPI: 301, Type: wfp.TransformESPAuth}}}}))
	// A context with every optional member: GetSpi traffic that differs
	// from the outbound traffic in more than its filter, an updated inbound
	// traffic, UDP encapsulations and virtual-interface info.
	out := wfp.IPsecTraffic1{IPVersion: wfp.IPVersionV4, LocalV4Address: wfp.MustV4("192.0.2.1"), RemoteV4Address: wfp.MustV4("192.0.2.2"),
		TrafficType: wfp.TrafficTypeTransport, IPsecFilterID: 7}
	gs := out
	gs.IPsecFilterID, gs.LocalPort = 8, 500
	in := gs
	in.RemotePort = 4500
	udp := &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: 4500, RemoteUDPEncapPort: 4501}
	f.Add(appendCtxRecord(nil, &ctxRecord{ID: 3, State: wfp.SAContextSPISet, OutTraffic: out, SPI: 400,
		GetSpi:    &wfp.IPsecGetSPI1{InboundIPsecTraffic: gs, IPVersion: wfp.IPVersionV4, InboundUDPEncapsulation: udp},
		InTraffic: in, InUDP: udp, OutUDP: udp, VIF: &wfp.IPsecVirtualIfTunnelInfo0{VirtualIfTunnelID: 9}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeCtx(data)
		if err != nil {
			return
		}
		b1, err := encodeCtx(c)
		if err != nil {
			t.Fatalf("a decoded record does not encode again: %v", err)
		}
		// What the engine writes, it reads back as the same context.
		c2, err := decodeCtx(b1)
		if err != nil {
			t.Fatalf("a record the engine wrote does not decode: %v", err)
		}
		if b2, _ := encodeCtx(c2); !bytes.Equal(b1, b2) {
			t.Fatalf("a context changes on a round trip through the store:\n%x\n%x", b1, b2)
		}
	})
}
