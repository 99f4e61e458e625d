package wfp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestFWPErrorSpaceIsComplete(t *testing.T) {
	// The documented range is 0x80320001-0x80320039, with no gaps.
	for c := Error(0x80320001); c <= 0x80320039; c++ {
		if !c.Known() {
			t.Errorf("code 0x%08X has no name", uint32(c))
			continue
		}
		if !strings.HasPrefix(c.Name(), "FWP_E_") {
			t.Errorf("code 0x%08X is named %s", uint32(c), c.Name())
		}
	}
	if Error(0x8032003A).Known() {
		t.Errorf("0x8032003A should be unknown")
	}
	seen := map[string]Error{}
	for _, c := range AllErrors() {
		if c.Message() == "" {
			t.Errorf("%s has no message", c.Name())
		}
		if prev, ok := seen[c.Name()]; ok && c != ErrorInvalidSecurityDescrHRESULT && prev != ErrorInvalidSecurityDescrHRESULT {
			t.Errorf("name %s used by 0x%X and 0x%X", c.Name(), uint32(prev), uint32(c))
		}
		seen[c.Name()] = c
	}
}

func TestErrorFormatAndIs(t *testing.T) {
	if got, want := ErrNotFound.Error(), "FWP_E_NOT_FOUND (0x80320008): The object does not exist."; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	err := fmt.Errorf("calling: %w", Errorf(ErrTrafficMismatch, "local address %s differs", "192.0.2.1"))
	if !errors.Is(err, ErrTrafficMismatch) {
		t.Errorf("errors.Is through detail failed")
	}
	if errors.Is(err, ErrNotFound) {
		t.Errorf("errors.Is matched the wrong code")
	}
	if Code(err) != ErrTrafficMismatch {
		t.Errorf("Code = %v", Code(err))
	}
	if !strings.Contains(err.Error(), "FWP_E_TRAFFIC_MISMATCH (0x8032001A)") || !strings.Contains(err.Error(), "differs") {
		t.Errorf("detailed message = %q", err.Error())
	}
	if Code(nil) != 0 || Code(errors.New("x")) != ErrInternal {
		t.Errorf("Code of nil/plain error wrong")
	}
	if got := Error(0x1234).Error(); !strings.HasPrefix(got, "0x00001234 (0x00001234)") {
		t.Errorf("unknown code formats as %q", got)
	}
}

func TestKeyNeverPrints(t *testing.T) {
	k := Key{0xde, 0xad, 0xbe, 0xef}
	sa := IPsecSA0{SPI: 0x1001, SATransformType: TransformESPAuth,
		ESPAuthInformation: &IPsecSAAuthInformation0{AuthTransform: IPsecAuthTransform0{AuthTransformID: AuthTransformIDHMACSHA196}, AuthKey: k}}
	outs := []string{fmt.Sprint(k), fmt.Sprintf("%x", k), fmt.Sprintf("%v", sa), fmt.Sprintf("%+v", sa), fmt.Sprintf("%#v", k), fmt.Sprintf("%+v", *sa.ESPAuthInformation)}
	j, _ := json.Marshal(sa)
	outs = append(outs, string(j))
	for _, o := range outs {
		if strings.Contains(strings.ToLower(o), "deadbeef") || strings.Contains(o, "222 173") || strings.Contains(o, "3q2+7w") {
			t.Errorf("key bytes leaked: %s", o)
		}
	}
	c := sa.Clone()
	sa.ZeroKeys()
	if k[0] != 0 || c.ESPAuthInformation.AuthKey[0] != 0xde {
		t.Errorf("ZeroKeys/Clone aliasing wrong: %v %v", []byte(k), []byte(c.ESPAuthInformation.AuthKey))
	}
}

func TestAddrAndGUIDRoundTrip(t *testing.T) {
	a := MustV4("192.0.2.1")
	if uint32(a) != 0xC0000201 || a.String() != "192.0.2.1" {
		t.Errorf("V4Addr host order wrong: %#x %s", uint32(a), a)
	}
	if MustV6("2001:db8::1").Addr() != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("V6Addr round trip")
	}
	g := NewGUID()
	p, err := ParseGUID("{" + g.String() + "}")
	if err != nil || p != g {
		t.Errorf("GUID round trip %v %v", p, err)
	}
	if LayerInboundTransportV4.String() != "FWPM_LAYER_INBOUND_TRANSPORT_V4" || GUID(LayerInboundTransportV4).String() != "5926dfc8-e3cf-4426-a283-dc393f5d0f9d" {
		t.Errorf("well-known GUID naming wrong")
	}
	if _, err := ParseGUID("5926dfc8-e3cf-4426-a283-dc393f5d0f9"); err == nil {
		t.Errorf("short GUID accepted")
	}
}

func TestAccessMask(t *testing.T) {
	if FwpmGenericRead != 0x000201D4 || FwpmGenericExecute != 0x00020220 || FwpmGenericWrite != 0x0003040B {
		t.Errorf("generic mappings: %#x %#x %#x", FwpmGenericRead, FwpmGenericExecute, FwpmGenericWrite)
	}
	if FwpmGenericAll&^ActrlReadKeys != 0x000F07FF {
		t.Errorf("FWPM_GENERIC_ALL = %#x", FwpmGenericAll)
	}
	m, err := ParseAccessMask("ADD|delete|FWPM_ACTRL_READ")
	if err != nil || m != ActrlAdd|Delete|ActrlRead {
		t.Errorf("ParseAccessMask = %v, %v", m, err)
	}
	if m.String() != "ADD|READ|DELETE" {
		t.Errorf("String = %s", m)
	}
	if GenericRead.MapGeneric() != FwpmGenericRead {
		t.Errorf("MapGeneric")
	}
	if _, err := ParseAccessMask("FLY"); err == nil {
		t.Errorf("bad right accepted")
	}
	for _, s := range []SID{"uid:0", "gid:12", "cert:alice", Everyone} {
		if !s.Valid() {
			t.Errorf("%s invalid", s)
		}
	}
	for _, s := range []SID{"", "uid:", "uid:x", "cert:", "root"} {
		if s.Valid() {
			t.Errorf("%q valid", s)
		}
	}
}

func TestScalar(t *testing.T) {
	b := [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	for _, c := range []struct {
		v      FwpValue0
		hi, lo uint64
	}{
		{Uint8Value(6), 0, 6},
		{Uint16Value(443), 0, 443},
		{Uint32Value(0xc0000201), 0, 0xc0000201},
		{Uint64Value(1 << 40), 0, 1 << 40},
		{ByteArray16Value(b), 0x20010db800000000, 1},
		{FwpValue0{Type: DataTypeByteArray16}, 0, 0},
		{FwpValue0{Type: DataTypeEmpty}, 0, 0},
	} {
		if hi, lo := c.v.Scalar(); hi != c.hi || lo != c.lo {
			t.Errorf("%v: %#x %#x, want %#x %#x", c.v.Type, hi, lo, c.hi, c.lo)
		}
	}
}
