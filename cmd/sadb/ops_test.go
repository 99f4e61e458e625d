package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// plumbed returns a CLI whose server has SA context 1 with both bundles
// (transport, 192.0.2.1 -> 192.0.2.2, filters 1 and 2).
func plumbed(t *testing.T) *cli {
	t.Helper()
	c := newCLI(t)
	c.ok("filter", "add-pair", "--local", "192.0.2.1", "--remote", "192.0.2.2")
	c.ok("ctx", "create", "--local", "192.0.2.1", "--remote", "192.0.2.2", "--filter", "1")
	c.ok("ctx", "setspi", "1", "4096")
	in := writeFile(t, "in.keys", keyFileFor(t, "esp-gcm-128", 1))
	out := writeFile(t, "out.keys", keyFileFor(t, "esp-gcm-128", 2))
	c.ok("ctx", "add-inbound", "1", "--transform", "esp-gcm-128", "--key-file", in)
	c.ok("ctx", "add-outbound", "1", "--transform", "esp-gcm-128", "--spi", "8192", "--key-file", out)
	return c
}

// TestUpdate checks that ctx update sets the bits it is named after, on
// both bundles or on the one --direction says.
func TestUpdate(t *testing.T) {
	c := plumbed(t)
	u := decode[updatedView](t, c, "ctx", "update", "1", "--flags", "nlb,guarantee-encryption", "--mm-sa-id", "42",
		"--udp-encapsulation", "4500:4501", "--traffic-remote", "192.0.2.9")
	want := []string{"IPSEC_SA_DETAILS_UPDATE_TRAFFIC", "IPSEC_SA_DETAILS_UPDATE_UDP_ENCAPSULATION", "IPSEC_SA_BUNDLE_UPDATE_FLAGS", "IPSEC_SA_BUNDLE_UPDATE_MM_SA_ID"}
	if !slices.Equal(u.Updated, want) {
		t.Errorf("updated %v, want %v", u.Updated, want)
	}
	v := decode[contextView](t, c, "ctx", "show", "1")
	for _, d := range []*detailsView{v.Inbound, v.Outbound} {
		if d.Bundle.MMSAID != 42 || !slices.Equal(d.Bundle.Flags, []string{"IPSEC_SA_BUNDLE_FLAG_GUARANTEE_ENCRYPTION", "IPSEC_SA_BUNDLE_FLAG_NLB"}) ||
			d.UDPEncapsulation == nil || d.UDPEncapsulation.RemotePort != 4501 || d.Traffic.Remote != "192.0.2.9" {
			t.Errorf("%s after update: %+v, traffic %+v, udp %+v", d.Direction, d.Bundle, d.Traffic, d.UDPEncapsulation)
		}
	}
	c.ok("ctx", "update", "1", "--direction", "outbound", "--mm-sa-id", "7", "--udp-encapsulation", "none",
		"--key-module-state", "ikev2=0a0b", "--peer-v4-private-address", "10.0.0.9", "--nap-context", "3")
	v = decode[contextView](t, c, "ctx", "show", "1")
	if v.Inbound.Bundle.MMSAID != 42 || v.Outbound.Bundle.MMSAID != 7 || v.Outbound.UDPEncapsulation != nil ||
		v.Outbound.Bundle.KeyModuleState == nil || v.Outbound.Bundle.KeyModuleState.KeyModule != "FWPM_KEYING_MODULE_IKEV2" ||
		v.Outbound.Bundle.PeerV4PrivateAddress != "10.0.0.9" || v.Outbound.Bundle.NAPContext != 3 {
		t.Errorf("after outbound update: inbound %+v\noutbound %+v", v.Inbound.Bundle, v.Outbound.Bundle)
	}
	show := c.ok("ctx", "show", "1")
	for _, want := range []string{"mm sa id              7", "key module            ikev2", "peer private address  10.0.0.9", "flags                 guarantee-encryption,nlb"} {
		if !strings.Contains(show, want) {
			t.Errorf("ctx show lacks %q:\n%s", want, show)
		}
	}
}

// TestExpireAndDelete checks the end of a context's life.
func TestExpireAndDelete(t *testing.T) {
	c := plumbed(t)
	if out := c.ok("ctx", "expire", "1"); out != "SA context 1 expired\n" {
		t.Errorf("expire printed %q", out)
	}
	v := decode[contextView](t, c, "ctx", "show", "1")
	if v.State != "SA_CONTEXT_EXPIRED" || v.Outbound != nil {
		t.Errorf("after expire: state %s, outbound %v", v.State, v.Outbound)
	}
	r := c.run("ctx", "expire", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "FWP_E_INCOMPATIBLE_SA_STATE") {
		t.Errorf("second expire: exit %d: %s", r.code, r.stderr)
	}
	if v := decode[resultView](t, c, "ctx", "delete", "1"); v != (resultView{SAContextID: 1, Result: "deleted"}) {
		t.Errorf("delete printed %+v", v)
	}
	r = c.run("ctx", "show", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "FWP_E_NOT_FOUND") {
		t.Errorf("show after delete: exit %d: %s", r.code, r.stderr)
	}
	if out := c.ok("filter", "delete", "1", "2"); out != "filter 1 deleted\nfilter 2 deleted\n" {
		t.Errorf("filter delete printed %q", out)
	}
}

// TestDeleteJSON checks the JSON of commands that only act: one object per
// id.
func TestDeleteJSON(t *testing.T) {
	c := newCLI(t)
	c.ok("filter", "add-pair", "--local", "192.0.2.1", "--remote", "192.0.2.2")
	out := c.ok("-o", "json", "filter", "delete", "2", "1")
	want := "{\n  \"filter_id\": 2,\n  \"result\": \"deleted\"\n}\n{\n  \"filter_id\": 1,\n  \"result\": \"deleted\"\n}\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// TestGetSPIFindsInboundFilter checks getspi's default inbound filter and
// its error when there is none.
func TestGetSPIFindsInboundFilter(t *testing.T) {
	c := newCLI(t)
	c.ok("filter", "add-pair", "--local", "2001:db8::1", "--remote", "2001:db8::2", "--protocol", "tcp")
	c.ok("filter", "add", "--ipsec", "outbound", "--local", "2001:db8::1", "--remote", "2001:db8::3")
	c.ok("ctx", "create", "--local", "2001:db8::1", "--remote", "2001:db8::2", "--filter", "1")
	spi := decode[spiView](t, c, "ctx", "getspi", "1").SPI
	v := decode[contextView](t, c, "ctx", "show", "1")
	if spi < 256 || v.InboundSPI != spi || v.InboundSPIHex != fmt.Sprintf("0x%08x", spi) {
		t.Errorf("getspi %d, context has %d (%s)", spi, v.InboundSPI, v.InboundSPIHex)
	}
	// Repeating GetSpi with the same traffic returns the same SPI.
	if again := decode[spiView](t, c, "ctx", "getspi", "1", "--filter", "2").SPI; again != spi {
		t.Errorf("second getspi %d, want %d", again, spi)
	}
	c.ok("ctx", "create", "--local", "2001:db8::1", "--remote", "2001:db8::3", "--filter", "3")
	r := c.run("ctx", "getspi", "2")
	if r.code != 1 || !strings.Contains(r.stderr, "no inbound IPsec filter pairs with filter 3; give the inbound filter with --filter ID") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}

// TestFilterAdd checks the layer and callout filter add picks.
func TestFilterAdd(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args                   []string
		layer, action, callout string
		conditions             int
	}{
		{[]string{"--ipsec", "inbound", "--local", "2001:db8::1", "--remote", "2001:db8::/64", "--local-port", "500"},
			"FWPM_LAYER_INBOUND_TRANSPORT_V6", "FWP_ACTION_CALLOUT_TERMINATING", "FWPM_CALLOUT_IPSEC_INBOUND_TRANSPORT_V6", 3},
		{[]string{"--layer", "FWPM_LAYER_OUTBOUND_TRANSPORT_V6", "--tunnel", "--local", "2001:db8:1::/48"},
			"FWPM_LAYER_OUTBOUND_TRANSPORT_V6", "FWP_ACTION_CALLOUT_TERMINATING", "FWPM_CALLOUT_IPSEC_OUTBOUND_TUNNEL_V6", 1},
		{[]string{"--layer", "outbound-transport-v4", "--callout", "FWPM_CALLOUT_IPSEC_OUTBOUND_TRANSPORT_V4", "--action", "callout-inspection"},
			"FWPM_LAYER_OUTBOUND_TRANSPORT_V4", "FWP_ACTION_CALLOUT_INSPECTION", "FWPM_CALLOUT_IPSEC_OUTBOUND_TRANSPORT_V4", 0},
		{[]string{"--layer", "inbound-transport-v4", "--action", "permit", "--protocol", "icmp", "--weight-range", "12", "--name", "ICMP", "--persistent"},
			"FWPM_LAYER_INBOUND_TRANSPORT_V4", "FWP_ACTION_PERMIT", "", 1},
		{[]string{"--layer", "ipforward-v4", "--action", "block", "--weight", "1000", "--key", "01234567-89ab-cdef-0123-456789abcdef"},
			"FWPM_LAYER_IPFORWARD_V4", "FWP_ACTION_BLOCK", "", 0},
	} {
		id := decode[filterAddedView](t, c, append([]string{"filter", "add"}, tc.args...)...).FilterID
		f := decode[filterView](t, c, "filter", "show", fmt.Sprint(id))
		if f.Layer != tc.layer || f.Action != tc.action || f.Callout != tc.callout || len(f.Conditions) != tc.conditions {
			t.Errorf("filter add %s: %+v", strings.Join(tc.args, " "), f)
		}
	}
	f := decode[filterView](t, c, "filter", "show", "4")
	if f.Name != "ICMP" || f.Weight != "range 12" || !slices.Equal(f.Flags, []string{"FWPM_FILTER_FLAG_PERSISTENT"}) {
		t.Errorf("filter 4: %+v", f)
	}
	if f := decode[filterView](t, c, "filter", "show", "5"); f.FilterKey != "01234567-89ab-cdef-0123-456789abcdef" || f.Weight != "0x00000000000003e8" {
		t.Errorf("filter 5: %+v", f)
	}
	if fs := decode[[]filterView](t, c, "filter", "list", "--layer", "inbound-transport-v4"); len(fs) != 1 || fs[0].FilterID != 4 {
		t.Errorf("filter list --layer: %+v", fs)
	}
	// The engine decides what a layer accepts; its error comes through.
	r := c.run("filter", "add", "--layer", "outbound-transport-v4", "--ipsec", "inbound")
	if r.code != 1 || !strings.Contains(r.stderr, "sadb: FWP_E_") {
		t.Errorf("mismatched layer and callout: exit %d: %s", r.code, r.stderr)
	}
}

// TestACLSet checks adding and replacing entries, and the owner.
func TestACLSet(t *testing.T) {
	c := newCLI(t)
	v := decode[sdView](t, c, "acl", "set", "--allow", "gid:110=GENERIC_READ,ENUM,SUBSCRIBE", "--deny", "uid:1001=READ_KEYS")
	if v.DACL == nil || len(*v.DACL) != 3 {
		t.Fatalf("after --add: %+v", v)
	}
	d := *v.DACL
	if d[0].Type != "deny" || d[0].SID != "uid:1001" || d[0].Rights != "READ_KEYS" || d[2].SID != "gid:110" || d[2].Type != "allow" {
		t.Errorf("order or content: %+v", d)
	}
	v = decode[sdView](t, c, "acl", "set", "--engine", "--replace", "--allow", "uid:0=GENERIC_ALL", "--allow", "everyone=OPEN,CLASSIFY", "--group", "gid:0")
	if v.Object != "engine" || v.Group != "gid:0" || v.DACL == nil || len(*v.DACL) != 2 || (*v.DACL)[1].Rights != "CLASSIFY|OPEN" {
		t.Errorf("after --replace: %+v", v)
	}
	out := c.ok("acl", "show", "--engine")
	if !strings.Contains(out, "1  allow  uid:0     GENERIC_ALL\n2  allow  everyone  CLASSIFY|OPEN\n") {
		t.Errorf("acl show --engine:\n%s", out)
	}
	r := c.runIn("acl set --allow uid:5=READ\n", "txn")
	if r.code != 1 || !strings.Contains(r.stderr, "FWP_E_TXN_IN_PROGRESS") {
		t.Errorf("acl set in txn: exit %d: %s", r.code, r.stderr)
	}
}

// TestShowKeysNeedsKeyRight checks that --show-keys without READ_KEYS shows
// no keys rather than failing: sadbd returns empty key blobs.
func TestShowKeysNeedsKeyRight(t *testing.T) {
	c := plumbed(t)
	me := decode[sessionView](t, c, "session").SID
	c.ok("acl", "set", "--deny", me+"=READ_KEYS")
	v := decode[contextView](t, c, "ctx", "show", "1", "--show-keys")
	if k := v.Inbound.Bundle.SAs[0].CipherKey; k != "" {
		t.Errorf("keys shown without READ_KEYS: %s…", k[:4])
	}
}
