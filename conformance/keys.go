package conformance

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sadb-dev/sadb/wfp"
)

// readBack is everything a session reads about contexts, in every form.
type readBack struct {
	ctx1  []*wfp.IPsecSAContext1 // GetById1 of each context
	ctx0  []*wfp.IPsecSAContext0 // GetById0 of each context
	enum1 []*wfp.IPsecSAContext1
	enum0 []*wfp.IPsecSAContext0
	sas1  []*wfp.IPsecSADetails1
	sas0  []*wfp.IPsecSADetails0
}

func readAll(t testing.TB, api wfp.API, ids []uint64) readBack {
	t.Helper()
	var r readBack
	for _, id := range ids {
		c1, err := api.IPsecSaContextGetById1(id)
		mustOK(t, err, "IPsecSaContextGetById1")
		c0, err := api.IPsecSaContextGetById0(id)
		mustOK(t, err, "IPsecSaContextGetById0")
		r.ctx1 = append(r.ctx1, c1)
		r.ctx0 = append(r.ctx0, c0)
	}
	r.enum1 = enumContexts(t, api, nil)
	h, err := api.IPsecSaContextCreateEnumHandle0(nil)
	mustOK(t, err, "IPsecSaContextCreateEnumHandle0")
	r.enum0, err = api.IPsecSaContextEnum0(h, 1000)
	mustOK(t, err, "IPsecSaContextEnum0")
	r.sas1 = enumSAs(t, api, nil)
	sh, err := api.IPsecSaCreateEnumHandle0(nil)
	mustOK(t, err, "IPsecSaCreateEnumHandle0")
	r.sas0, err = api.IPsecSaEnum0(sh, 1000)
	mustOK(t, err, "IPsecSaEnum0")
	return r
}

// bundles returns every bundle in r, as version 1 bundles.
func (r readBack) bundles() []*wfp.IPsecSABundle1 {
	var out []*wfp.IPsecSABundle1
	add1 := func(d *wfp.IPsecSADetails1) {
		if d != nil {
			out = append(out, &d.SABundle)
		}
	}
	add0 := func(d *wfp.IPsecSADetails0) {
		if d != nil {
			b := d.SABundle.ToBundle1()
			out = append(out, &b)
		}
	}
	for _, l := range [][]*wfp.IPsecSAContext1{r.ctx1, r.enum1} {
		for _, c := range l {
			add1(c.InboundSA)
			add1(c.OutboundSA)
		}
	}
	for _, l := range [][]*wfp.IPsecSAContext0{r.ctx0, r.enum0} {
		for _, c := range l {
			add0(c.InboundSA)
			add0(c.OutboundSA)
		}
	}
	for _, d := range r.sas1 {
		add1(d)
	}
	for _, d := range r.sas0 {
		add0(d)
	}
	return out
}

// keyedContexts plumbs contexts whose bundles hold every kind of key.
func keyedContexts(t testing.TB, fx *fixture) ([]*sactx, []wfp.Key) {
	t.Helper()
	var cs []*sactx
	var all []wfp.Key
	for i, tr := range validTransforms {
		if i%3 != 0 && !strings.HasPrefix(tr.name, "AHAndESP") {
			continue
		}
		c := fx.ctxAt(t, fx.api, wfp.IPVersion(i%2), wfp.SAContextSPISet)
		c.inbound = Bundle(c.v, 5, tr.sas(c.spi)...)
		c.outbound = Bundle(c.v, 5, tr.sas(0x7000)...)
		// Distinct, recognisable key bytes.
		for _, b := range []*wfp.IPsecSABundle1{c.inbound, c.outbound} {
			for j, k := range keys(b) {
				copy(k, TestKey(len(k), byte(0x30+len(all)+j)))
			}
			all = append(all, keys(b)...)
		}
		c.addInbound(t, fx.api)
		c.addOutbound(t, fx.api)
		cs = append(cs, c)
	}
	return cs, all
}

// leaks reports whether s shows any of the keys' bytes.
func leaks(s string, ks []wfp.Key) (string, bool) {
	low := strings.ToLower(s)
	for _, k := range ks {
		if len(k) < 4 {
			continue
		}
		b := []byte(k)
		dec := strings.Trim(fmt.Sprint(b[:4]), "[]")
		for _, form := range []string{hex.EncodeToString(b[:6]), dec, base64.StdEncoding.EncodeToString(b[:6]), fmt.Sprintf("%#x", b[0:4])} {
			if strings.Contains(low, strings.ToLower(form)) {
				return form, true
			}
		}
	}
	return "", false
}

func (s *suite) keyMaterial(t *testing.T) {
	s.run(t, "NeverPrinted", func(t *testing.T) {
		fx := s.fixture(t)
		var notes notifyLog
		_, err := fx.api.IPsecKeyManagerAddAndRegister0(&wfp.IPsecKeyManager0{DisplayData: wfp.FwpmDisplayData0{Name: "n"}},
			&wfp.IPsecKeyManagerCallbacks0{KeyNotify: notes.notify})
		mustOK(t, err, "register")
		cs, ks := keyedContexts(t, fx)
		var idl []uint64
		for _, c := range cs {
			idl = append(idl, c.id)
		}
		r := readAll(t, fx.api, idl)
		n := notes.wait(t, len(cs))
		for _, b := range r.bundles() {
			if noKeys(b) {
				t.Fatalf("a session with key material and READ_KEYS read a bundle without keys; nothing to check")
			}
		}
		values := map[string]any{"GetById1": r.ctx1, "GetById0": r.ctx0, "Enum1": r.enum1, "Enum0": r.enum0,
			"SaEnum1": r.sas1, "SaEnum0": r.sas0, "KeyNotify": n}
		for name, v := range values {
			outs := []string{fmt.Sprint(v), fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprintf("%x", v), fmt.Sprintf("%s", v)}
			for _, c := range r.ctx1 {
				outs = append(outs, fmt.Sprintf("%+v %+v %#v", *c.InboundSA, c.OutboundSA.SABundle, c.InboundSA.SABundle.SAList))
			}
			if j, err := json.Marshal(v); err == nil {
				outs = append(outs, string(j))
			}
			for _, o := range outs {
				if form, bad := leaks(o, ks); bad {
					t.Errorf("%s: key bytes (%s) appear in formatted output", name, form)
					break
				}
			}
		}
	})

	s.run(t, "EmptyWithoutSessionFlag", func(t *testing.T) {
		fx := s.fixture(t)
		cs, _ := keyedContexts(t, fx)
		var idl []uint64
		for _, c := range cs {
			idl = append(idl, c.id)
		}
		plain := open(t, fx.h, fx.h.Admin(), nil)
		withKeys := readAll(t, fx.api, idl)
		r := readAll(t, plain, idl)
		for _, b := range r.bundles() {
			if !noKeys(b) {
				t.Errorf("session without SessionFlagKeyMaterial read key material")
				break
			}
		}
		// Everything else is intact.
		strip := func(l []*wfp.IPsecSAContext1) []*wfp.IPsecSAContext1 {
			var out []*wfp.IPsecSAContext1
			for _, c := range l {
				c = c.Clone()
				for _, d := range []*wfp.IPsecSADetails1{c.InboundSA, c.OutboundSA} {
					if d != nil {
						d.SABundle = *stripKeys(&d.SABundle)
					}
				}
				out = append(out, c)
			}
			return out
		}
		if d := diffCtx(strip(withKeys.ctx1), r.ctx1); d != "" {
			t.Errorf("GetById1 without key material differs beyond the keys (-want +got):\n%s", d)
		}
		if d := diffCtx(strip(withKeys.enum1), r.enum1); d != "" {
			t.Errorf("Enum1 without key material differs beyond the keys (-want +got):\n%s", d)
		}
	})

	for _, tc := range []struct {
		name  string
		mask  wfp.AccessMask
		flags uint32
		keys  bool
	}{
		{"FlagWithoutReadKeys", wfp.ActrlRead | wfp.ActrlEnum, wfp.SessionFlagKeyMaterial, false},
		{"ReadKeysWithoutFlag", wfp.ActrlRead | wfp.ActrlEnum | wfp.ActrlReadKeys, 0, false},
		{"FlagAndReadKeys", wfp.ActrlRead | wfp.ActrlEnum | wfp.ActrlReadKeys, wfp.SessionFlagKeyMaterial, true},
		{"FlagAndGenericAll", wfp.GenericAll, wfp.SessionFlagKeyMaterial, true},
		{"FlagAndGenericRead", wfp.GenericRead | wfp.GenericExecute, wfp.SessionFlagKeyMaterial, false},
	} {
		s.run(t, "User/"+tc.name, func(t *testing.T) {
			fx := s.fixture(t)
			needUsers(t, fx.h, 1)
			cs, _ := keyedContexts(t, fx)
			grantSADB(t, fx.api, fx.h, allow(fx.h.User(0).User, tc.mask))
			var notes notifyLog
			u := open(t, fx.h, fx.h.User(0), &wfp.FwpmSession0{Flags: tc.flags})
			if tc.mask&wfp.ActrlAdd != 0 || tc.mask&wfp.GenericAll != 0 {
				_, err := u.IPsecKeyManagerAddAndRegister0(&wfp.IPsecKeyManager0{DisplayData: wfp.FwpmDisplayData0{Name: "n"}},
					&wfp.IPsecKeyManagerCallbacks0{KeyNotify: notes.notify})
				mustOK(t, err, "register")
			}
			r := readAll(t, u, []uint64{cs[0].id})
			for _, b := range r.bundles() {
				if noKeys(b) == tc.keys {
					t.Errorf("mask %v, session flags %#x: keys returned = %v, want %v", tc.mask, tc.flags, !noKeys(b), tc.keys)
					break
				}
			}
			if tc.mask&wfp.GenericAll != 0 {
				c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextOutboundAdded)
				n := notes.wait(t, 1)
				if n[0][0].SABundle.QMSAID != c.inbound.QMSAID || noKeys(&n[0][0].SABundle) == tc.keys {
					t.Errorf("key notification: keys returned = %v, want %v", !noKeys(&n[0][0].SABundle), tc.keys)
				}
			}
		})
	}

	s.run(t, "EngineKeepsItsOwnCopy", func(t *testing.T) {
		fx := s.fixture(t)
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)
		in := c.inboundBundle()
		mustOK(t, fx.api.IPsecSaContextAddInbound1(c.id, in), "AddInbound")
		want := in.Clone()
		for _, k := range keys(in) {
			k.Zero() // the caller wipes its copy, as it should
		}
		got := get(t, fx.api, c.id)
		if d := diffCtx(want, &got.InboundSA.SABundle); d != "" {
			t.Errorf("bundle after the caller wiped its keys (-want +got):\n%s", d)
		}
		for _, k := range keys(&got.InboundSA.SABundle) {
			for i := range k {
				k[i] ^= 0xFF
			}
		}
		again := get(t, fx.api, c.id)
		if d := diffCtx(want, &again.InboundSA.SABundle); d != "" {
			t.Errorf("bundle after the caller changed a returned copy (-want +got):\n%s", d)
		}
	})
}
