// Package kernelpeer tests interoperability between sadbd's userspace data
// path and the Linux kernel's own ESP: a guest kernel booted under qemu
// (package internal/testrig/kernelpeer) is configured with ip xfrm, and
// sadbd in the host namespace is plumbed through the sadb command line
// with the same SPIs and keys, as two keying daemons would after a
// negotiation. Traffic runs both ways (ICMP, a TCP and a UDP echo) and
// the kernel's per-state counters are compared with sadb's per-SA ones.
//
// The cases: tunnel mode over plain ESP (a bridged L2 link) and over ESP
// in UDP (through qemu's NAT), and transport mode over plain ESP, each
// with AES-GCM-128 and with AES-CBC-128 + HMAC-SHA-256-128; then both
// modes over plain ESP in IPv6 (ESP in UDP is IPv4 only).
//
// Counters: sadb counts the IP packet before protection and after its
// removal; the kernel counts skb->len at accounting time. Measured with
// pings of known sizes, in tunnel mode both count the whole inner packet
// and must agree exactly, packets and bytes; in transport mode the kernel
// counts from the transport header on, 20 bytes a packet less in IPv4, 40
// in IPv6, and the test expects exactly that difference. The guest's NIC offloads are
// off, and TCP buffers are small enough that the emulated guest's queues
// never overflow, so no packet is lost between one count and the other.
//
// The guest boots once for the whole package (seconds under software
// emulation) and is reconfigured for each case; each case gets a fresh
// sadbd.
//
// The tests need root, qemu, the Debian cloud kernel and busybox-static;
// without them they are skipped, except with CI=true, where they fail.
package kernelpeer

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/internal/testrig"
	"github.com/sadb-dev/sadb/internal/testrig/kernelpeer"
)

var (
	cmds    testrig.Commands
	cmdsErr error

	bootOnce sync.Once
	peer     *kernelpeer.Peer
	bootErr  error
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kernelpeer-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cmds, cmdsErr = testrig.BuildCommands(dir)
	if os.Geteuid() == 0 {
		testrig.SweepNetns()
	}
	code := m.Run()
	if peer != nil {
		if err := peer.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "closing the kernel peer:", err)
			code = 1
		}
	}
	return code
}

// bootTimeout bounds the guest's boot: generous, since qemu emulates the
// CPU and shares the machine with other tests.
const bootTimeout = 4 * time.Minute

// rig returns the package's guest, booting it on first use. It skips the
// test (fails it in CI) when the machine cannot run it.
func rig(t *testing.T) *kernelpeer.Peer {
	t.Helper()
	testrig.Require(t, "ip", "ping", "qemu-system-x86_64", "busybox", "ethtool", "ldd")
	if cmdsErr != nil {
		t.Fatal(cmdsErr)
	}
	if _, err := kernelpeer.FindKernel(); err != nil {
		testrig.Unavailable(t, "%v", err)
	}
	bootOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), bootTimeout+time.Minute)
		defer cancel()
		peer, bootErr = kernelpeer.Boot(ctx, kernelpeer.Config{BootTimeout: bootTimeout, Logf: t.Logf})
	})
	if bootErr != nil {
		t.Fatal(bootErr)
	}
	return peer
}
