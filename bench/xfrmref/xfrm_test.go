//go:build linux

package xfrmref

import (
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// requireRoot skips without root, except in CI, where it fails.
func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("this benchmark needs root (CI runs as root)")
	}
	tb.Skip("needs root")
}

// freshNetns moves the calling goroutine's thread into a new network
// namespace and returns a netlink handle in it; cleanup restores the thread.
func freshNetns(tb testing.TB) *netlink.Handle {
	tb.Helper()
	requireRoot(tb)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		tb.Fatal(err)
	}
	ns, err := netns.New()
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatal(err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		h.Close()
		netns.Set(orig)
		ns.Close()
		orig.Close()
		runtime.UnlockOSThread()
	})
	return h
}

func policy(i int) *netlink.XfrmPolicy {
	src := &net.IPNet{IP: net.IPv4(198, 51, byte(i>>8), byte(i)), Mask: net.CIDRMask(32, 32)}
	dst := &net.IPNet{IP: net.IPv4(203, 0, 113, 1), Mask: net.CIDRMask(32, 32)}
	return &netlink.XfrmPolicy{
		Src: src, Dst: dst, Dir: netlink.XFRM_DIR_OUT, Proto: netlink.Proto(6), SrcPort: i & 0xFFFF, DstPort: i >> 16,
		Tmpls: []netlink.XfrmPolicyTmpl{{
			Src: net.IPv4(192, 0, 2, 1), Dst: net.IPv4(192, 0, 2, 2),
			Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TRANSPORT, Reqid: 1,
		}},
	}
}

// BenchmarkXfrmPolicyAdd measures the kernel's SA-management rate: one op
// is one XFRM policy added through netlink (policies, because this kernel
// has no ESP transforms for states).
func BenchmarkXfrmPolicyAdd(b *testing.B) {
	h := freshNetns(b)
	i := 0
	b.ResetTimer()
	for b.Loop() {
		if err := h.XfrmPolicyAdd(policy(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "policies/s")
}

// TestXfrmPolicyRoundTrip checks the rig itself: a policy added is listed.
func TestXfrmPolicyRoundTrip(t *testing.T) {
	h := freshNetns(t)
	if err := h.XfrmPolicyAdd(policy(1)); err != nil {
		t.Fatal(err)
	}
	ps, err := h.XfrmPolicyList(netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || !ps[0].Dst.IP.Equal(net.IPv4(203, 0, 113, 1)) {
		t.Fatalf("listed %d policies: %+v", len(ps), ps)
	}
}
