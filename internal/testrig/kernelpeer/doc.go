// Package kernelpeer boots a Linux kernel as an independent ESP and AH
// peer for interoperability tests: a guest under qemu whose own XFRM stack
// (esp4, esp6, ah4, ah6, xfrm_user, the kernel's crypto) protects the
// traffic, configured with ip xfrm, reachable over a plain L2 link and
// through a NAT, and driven from the test through a command channel.
//
// # What it needs
//
// Root, qemu-system-x86_64, a kernel image in /boot with its modules in
// /lib/modules (Debian's linux-image-cloud-amd64, whose virtio drivers,
// ESP and XFRM are modules), busybox-static, ip(8), ethtool and ldd, and
// the Go toolchain (the guest agent is built at Boot). Nothing is
// downloaded: the initramfs is assembled at Boot from what is installed.
//
// # The guest
//
// Boot writes an uncompressed newc initramfs: busybox and its applets, the
// host's ip (as xip: busybox's ip has no xfrm) and ethtool with their
// shared libraries, the kernel modules the guest loads (virtio, ESP, XFRM,
// the crypto directories, with every dependency from modules.dep), and
// kpagent, a static Go program. /init loads the modules, names the NICs by
// MAC address, turns their offloads off, configures addresses and routes,
// and starts kpagent, which serves requests on a virtio-serial port
// (package agent). The kernel runs under software emulation (-accel tcg,
// nested virtualization being unavailable where the tests run) with one
// CPU; it boots in about 5 to 15 seconds depending on the machine's load.
// The serial console goes to a file (Console).
//
// # Links and addresses
//
//	host ns (HostNS)                     qemu ns (QemuNS)                     guest
//	kpplain 192.0.2.1/25 ──── veth ──── plain ─┐
//	        2001:db8:1::1/64                   br0 ── tap0 ══════════════ plain 192.0.2.2/25
//	                                                                            2001:db8:1::2/64
//	kpnat 198.51.100.129/25 ─ veth ─ nat 198.51.100.130/25
//	                                   qemu user net: udp :4500 ═════════ nat 198.51.100.15/25
//	lo 203.0.113.1 (HostInner)                                            lo 203.0.113.129 (GuestInner)
//	   2001:db8:a::1 (HostInner6)                                            2001:db8:b::1 (GuestInner6)
//
// The plain link is a real L2 link: any IP protocol crosses it, so it
// carries ESP (IP protocol 50). qemu's user-mode network carries only TCP
// and UDP; it forwards UDP sent to QemuNAT port 4500 to the guest's port
// 4500 and sends the guest's datagrams from that port back through the
// same socket, so it carries ESP in UDP (RFC 3948). It is a NAT: the host
// sees the guest as QemuNAT, the guest sees itself as GuestNAT and the
// host as GuestSeesHost. The guest routes HostInnerNet over the NAT link
// with GuestInner as source; tunnel-mode policies redirect that traffic
// through whichever path their SAs use. IPv6 runs over the plain link
// only: the guest routes HostInnerNet6 to HostPlain6 with GuestInner6 as
// source. All addresses are documentation ranges (RFC 5737, RFC 3849),
// and qemu's user network is confined to qemu's
// namespace, whose only other link leads to the host namespace.
//
// # Use
//
// Boot once per test package (it costs seconds) and reconfigure the
// guest per test: Configure replaces its states and policies, Encap opens
// the UDP-encapsulation socket the kernel needs for ESP in UDP,
// EchoServer, EchoTCP and EchoUDP move data through the tunnel from the
// guest's side (package echo is the host's side), Run runs any shell
// command, and States reads the kernel's per-state counters (ip -s xfrm
// state). Close stops qemu and removes the namespaces, links and files;
// qemu also dies with the test process (parent-death signal), and
// testrig.SweepNetns removes namespaces a killed test process left.
//
// # Counters
//
// The kernel counts, per state, the bytes of skb->len when it accounts a
// packet (xfrm_output_one before the ESP transform, xfrm_input after it).
// Measured against sadb (which counts the IP packet before protection and
// after its removal): in tunnel mode both count the whole inner IP packet,
// so the counts are equal; in transport mode the kernel's count starts
// after the IP header, 20 bytes a packet less for IPv4 without options.
// The guest NICs' offloads are off, so that a packet counted is a packet
// on the wire (no GSO super-packets).
package kernelpeer
