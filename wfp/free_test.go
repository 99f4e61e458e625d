package wfp

import "testing"

func TestFreeMemory(t *testing.T) {
	k := Key{1, 2, 3}
	d := &IPsecSADetails0{SABundle: IPsecSABundle0{SAList: []IPsecSA0{{AHInformation: &IPsecSAAuthInformation0{AuthKey: k}}}}}
	page0 := []*IPsecSAContext0{{InboundSA: d}, nil}
	if !FreeMemory(&page0) || page0 != nil {
		t.Fatalf("version-0 page not taken")
	}
	if k[0]|k[1]|k[2] != 0 {
		t.Fatalf("key not zeroed: %x", []byte(k))
	}
	filters := []*FwpmFilter0{{FilterID: 1}}
	m := map[string]int{"a": 1}
	f := &FwpmFilter0{}
	for name, p := range map[string]any{"slice": &filters, "map": &m, "pointer": &f} {
		if !FreeMemory(p) {
			t.Errorf("%s: not taken", name)
		}
	}
	if filters != nil || m != nil || f != nil {
		t.Errorf("results left set: %v %v %v", filters, m, f)
	}
	n := 3
	var nilPage *[]*IPsecSAContext1
	var nilCtx **IPsecSAContext1
	for name, p := range map[string]any{"nil": nil, "int": 3, "*int": &n, "nil page": nilPage, "nil *ctx": nilCtx, "struct": IPsecSAContext1{}} {
		if FreeMemory(p) {
			t.Errorf("%s: taken", name)
		}
	}
	if n != 3 {
		t.Errorf("*int changed to %d", n)
	}
}
