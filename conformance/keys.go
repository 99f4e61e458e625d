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

	s.run(t, "FreeMemory", func(t *testing.T) {
		fx := s.fixture(t)
		cs, _ := keyedContexts(t, fx)
		// Contexts without SAs after the keyed ones: a page made in the
		// memory of a freed one must not show the freed page's SAs.
		for _, st := range allStates {
			fx.ctxAt(t, fx.api, wfp.IPVersionV4, st)
		}
		want := enumContexts(t, fx.api, nil)

		// GetById: the variable is nil and the keys it held are zeros.
		sc, err := fx.api.IPsecSaContextGetById1(cs[0].id)
		mustOK(t, err, "IPsecSaContextGetById1")
		held := ctxKeys(sc)
		fx.api.FwpmFreeMemory0(&sc)
		if sc != nil {
			t.Errorf("FwpmFreeMemory0(&sc) left sc set")
		}
		checkZeroed(t, "GetById1", held)

		// Every context read and freed in turn: a result made in the
		// memory of a freed one is whole, and shows nothing of it.
		for _, c := range want {
			got, err := fx.api.IPsecSaContextGetById1(c.SAContextID)
			mustOK(t, err, "IPsecSaContextGetById1(%d)", c.SAContextID)
			if d := diffCtx([]*wfp.IPsecSAContext1{c}, []*wfp.IPsecSAContext1{got.Clone()}); d != "" {
				t.Fatalf("GetById1(%d) after a freed result (-want +got):\n%s", c.SAContextID, d)
			}
			fx.api.FwpmFreeMemory0(&got)
		}
		// A result that is not freed keeps its keys when a later one is.
		one, err := fx.api.IPsecSaContextGetById1(cs[0].id)
		mustOK(t, err, "IPsecSaContextGetById1")
		oneClone := one.Clone()
		later, err := fx.api.IPsecSaContextGetById1(cs[0].id)
		mustOK(t, err, "IPsecSaContextGetById1")
		fx.api.FwpmFreeMemory0(&later)
		fx.api.FwpmFreeMemory0(&later) // nil now: nothing happens
		if d := diffCtx([]*wfp.IPsecSAContext1{oneClone}, []*wfp.IPsecSAContext1{one}); d != "" || len(ctxKeys(one)) == 0 {
			t.Errorf("a GetById1 result held while a later one was freed changed (-want +got):\n%s", d)
		}

		// Enum pages of every size, each freed before the next is asked
		// for: every page is whole, and what was freed is gone.
		for _, size := range []uint32{1, 2, 3, uint32(len(want)) + 1} {
			h, err := fx.api.IPsecSaContextCreateEnumHandle0(nil)
			mustOK(t, err, "IPsecSaContextCreateEnumHandle0")
			var got []*wfp.IPsecSAContext1
			var allHeld []wfp.Key
			for {
				page, err := fx.api.IPsecSaContextEnum1(h, size)
				mustOK(t, err, "IPsecSaContextEnum1")
				n := len(page)
				var held []wfp.Key
				for _, c := range page {
					got = append(got, c.Clone())
					held = append(held, ctxKeys(c)...)
				}
				header := page
				fx.api.FwpmFreeMemory0(&page)
				if page != nil {
					t.Fatalf("page size %d: FwpmFreeMemory0(&page) left page set", size)
				}
				for i, c := range header {
					if c != nil {
						t.Fatalf("page size %d: element %d of a freed page is still set", size, i)
					}
				}
				for _, k := range held {
					if !zero(k) {
						t.Fatalf("page size %d: a key of a freed page is not zeroed", size)
					}
				}
				allHeld = append(allHeld, held...)
				fx.api.FwpmFreeMemory0(&header) // freed twice: nothing happens
				if uint32(n) < size {
					break
				}
			}
			mustOK(t, fx.api.IPsecSaContextDestroyEnumHandle0(h), "IPsecSaContextDestroyEnumHandle0")
			checkZeroed(t, "Enum1", allHeld)
			if d := diffCtx(want, got); d != "" {
				t.Errorf("page size %d, pages freed: contexts (-want +got):\n%s", size, d)
			}
		}

		// A page not freed keeps its keys when another is freed.
		kept := enumContexts(t, fx.api, nil)
		keptKeys := 0
		for _, c := range kept {
			for _, k := range ctxKeys(c) {
				if !zero(k) {
					keptKeys++
				}
			}
		}
		page := enumContexts(t, fx.api, nil)
		fx.api.FwpmFreeMemory0(&page)
		if d := diffCtx(want, kept); d != "" || keptKeys == 0 {
			t.Errorf("a page held while another was freed changed (%d keys set) (-want +got):\n%s", keptKeys, d)
		}

		// SA enumeration pages, freed one by one.
		wantSAs := enumSAs(t, fx.api, nil)
		for _, size := range []uint32{1, 3, uint32(len(wantSAs)) + 1} {
			h, err := fx.api.IPsecSaCreateEnumHandle0(nil)
			mustOK(t, err, "IPsecSaCreateEnumHandle0")
			var got []*wfp.IPsecSADetails1
			var held []wfp.Key
			for {
				page, err := fx.api.IPsecSaEnum1(h, size)
				mustOK(t, err, "IPsecSaEnum1")
				n := len(page)
				for _, d := range page {
					got = append(got, d.Clone())
					held = append(held, keys(&d.SABundle)...)
				}
				fx.api.FwpmFreeMemory0(&page)
				if page != nil {
					t.Fatalf("SA page size %d: FwpmFreeMemory0(&page) left page set", size)
				}
				if uint32(n) < size {
					break
				}
			}
			mustOK(t, fx.api.IPsecSaDestroyEnumHandle0(h), "IPsecSaDestroyEnumHandle0")
			checkZeroed(t, "IPsecSaEnum1 pages", held)
			if d := diffCtx(wantSAs, got); d != "" {
				t.Errorf("SA page size %d, pages freed: SAs (-want +got):\n%s", size, d)
			}
		}

		// A whole SA enumeration and the version-0 forms.
		sas := enumSAs(t, fx.api, nil)
		var saKeys []wfp.Key
		for _, d := range sas {
			saKeys = append(saKeys, keys(&d.SABundle)...)
		}
		fx.api.FwpmFreeMemory0(&sas)
		if sas != nil {
			t.Errorf("FwpmFreeMemory0(&sas) left sas set")
		}
		checkZeroed(t, "IPsecSaEnum1", saKeys)
		sc0, err := fx.api.IPsecSaContextGetById0(cs[0].id)
		mustOK(t, err, "IPsecSaContextGetById0")
		b0 := sc0.InboundSA.SABundle.ToBundle1()
		fx.api.FwpmFreeMemory0(&sc0)
		checkZeroed(t, "GetById0", keys(&b0))

		// Values no function returns, and nil, are left alone; results
		// without keys are only set to nil.
		fx.api.FwpmFreeMemory0(nil)
		fx.api.FwpmFreeMemory0(42)
		x := 7
		fx.api.FwpmFreeMemory0(&x)
		var nilPage *[]*wfp.IPsecSAContext1
		fx.api.FwpmFreeMemory0(nilPage)
		if x != 7 {
			t.Errorf("FwpmFreeMemory0(&int) changed it to %d", x)
		}
		st, err := fx.api.IPsecGetStatistics1()
		mustOK(t, err, "IPsecGetStatistics1")
		fx.api.FwpmFreeMemory0(&st)
		if st != nil {
			t.Errorf("FwpmFreeMemory0(&statistics) left it set")
		}
		// The database is untouched by all of this.
		if d := diffCtx(want, enumContexts(t, fx.api, nil)); d != "" {
			t.Errorf("contexts after the frees (-want +got):\n%s", d)
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

// ctxKeys returns the keys of both bundles of c, as the slices it holds.
func ctxKeys(c *wfp.IPsecSAContext1) []wfp.Key {
	var out []wfp.Key
	for _, d := range []*wfp.IPsecSADetails1{c.InboundSA, c.OutboundSA} {
		if d != nil {
			out = append(out, keys(&d.SABundle)...)
		}
	}
	return out
}

func zero(k wfp.Key) bool {
	for _, b := range k {
		if b != 0 {
			return false
		}
	}
	return true
}

// checkZeroed fails unless there were keys and every one is zeros.
func checkZeroed(t *testing.T, what string, ks []wfp.Key) {
	t.Helper()
	n := 0
	for _, k := range ks {
		if len(k) > 0 {
			n++
		}
		if !zero(k) {
			t.Errorf("%s: a key of a freed result is not zeroed", what)
			return
		}
	}
	if n == 0 {
		t.Errorf("%s: the result held no keys; nothing was checked", what)
	}
}
