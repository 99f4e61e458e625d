package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// modes: tunnel and transport, IPv4 and IPv6, plain ESP and ESP in UDP
// (IPv4 only, as in WFP), AES-GCM and AES-CBC with HMAC-SHA-256.
var modes = func() []emode {
	var ms []emode
	for _, tunnel := range []bool{false, true} {
		for _, v := range []string{"v4", "v6", "v4-udp"} {
			for _, tr := range []string{"esp-gcm-128", "esp-aes-256-sha256"} {
				kind := "transport"
				if tunnel {
					kind = "tunnel"
				}
				ms = append(ms, emode{
					name:      fmt.Sprintf("%s-%s-%s", kind, v, tr),
					tunnel:    tunnel,
					v6:        v == "v6",
					udp:       v == "v4-udp",
					transform: tr,
				})
			}
		}
	}
	return ms
}()

// TestTraffic runs ping (also with echoes larger than the MTU) and iperf3
// (TCP, and UDP with 1380-byte datagrams: larger than the MTU in IPv6)
// through every mode while capturing the link, then has tshark
// decrypt the capture with the keys: every ESP packet must pass its ICV
// check, the pings and iperf3 flows must be inside, and nothing between
// the protected addresses may cross the link in clear.
func TestTraffic(t *testing.T) {
	requireRig(t, "ping", "iperf3", "tcpdump", "tshark")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			a, b := newRig(t)
			l := plumb(t, a, b, m)
			_, dst := m.targets(a, b)
			stop := a.capture("ip or ip6")
			if got := a.ping(dst, 20); got != 20 {
				t.Errorf("ping: %d of 20 replies", got)
			}
			// Echoes the sending stack fragments: reassembled, protected
			// whole and fragmented after protection.
			if got := a.ping(dst, 5, "-s", "3000"); got != 5 {
				t.Errorf("ping -s 3000: %d of 5 replies", got)
			}
			if bps, _ := iperf(t, a, b, dst, "-n", "2M"); bps <= 0 {
				t.Errorf("iperf3 TCP moved nothing")
			}
			bps, loss := iperf(t, a, b, dst, "-u", "-l", "1380", "-b", "20M", "-n", "1M")
			if bps <= 0 || loss > 5 {
				t.Errorf("iperf3 UDP: %.0f bit/s, %.1f %% lost", bps, loss)
			}
			pcap := stop()

			esp := l.tshark(t, pcap, "esp", "esp.spi", "esp.icv_good", "frame.protocols")
			if len(esp) < 40 {
				t.Fatalf("only %d ESP packets captured", len(esp))
			}
			inner := map[string]int{}
			for _, row := range esp {
				if len(row) < 3 || row[1] != "1" {
					t.Fatalf("an ESP packet did not pass tshark's ICV check: %q", row)
				}
				for _, p := range []string{"icmp", "tcp", "udp"} {
					if strings.Contains(row[2], ":esp:") && strings.Contains(row[2][strings.Index(row[2], ":esp:"):], p) {
						inner[p]++
					}
				}
			}
			// At least half the UDP datagrams (iperf3's 760) and all the
			// echoes and replies, whole.
			if inner["icmp"] < 50 || inner["tcp"] == 0 || inner["udp"] < 380 {
				t.Errorf("decrypted inner protocols %v: pings, TCP or UDP missing", inner)
			}
			// Nothing but ESP (and ESP in UDP, neighbour discovery and
			// link-local multicast) may cross the link.
			// Protected packets larger than the path MTU leave as fragments,
			// which tshark shows as data until the last one.
			clear := l.tshark(t, pcap, "!esp && !udpencap && !arp && !(icmpv6.type >= 133 && icmpv6.type <= 137) && !(ipv6.dst == ff00::/8)"+
				" && !ipv6.fraghdr && !(ip.flags.mf == 1)",
				"frame.number", "frame.protocols")
			if len(clear) != 0 {
				t.Errorf("%d packets in clear on the link, first %q", len(clear), clear[0])
			}
			// The data path's metrics saw the same: every echo larger
			// than the MTU reassembled, nothing dropped.
			m := a.metrics()
			metric := func(sample string) float64 {
				v, ok := m[sample]
				if !ok {
					t.Errorf("sadbd serves no %s", sample)
					return -1
				}
				return v
			}
			if got := metric(`sadb_datapath_out_reassembled_total`); got < 5 {
				t.Errorf("sadb_datapath_out_reassembled_total %v, want at least 5 (the large echoes)", got)
			}
			for _, s := range []string{`sadb_datapath_out_packets_total{result="no_sa"}`, `sadb_datapath_out_reassembly_dropped_total`,
				`sadb_datapath_in_packets_total{result="auth"}`, `sadb_datapath_in_packets_total{result="replay"}`} {
				if got := metric(s); got != 0 {
					t.Errorf("%s %v, want 0", s, got)
				}
			}
			if got := metric(`sadb_datapath_out_packets_total{result="protected"}`); got < float64(len(esp))/4 {
				t.Errorf("sadb_datapath_out_packets_total{result=\"protected\"} %v: fewer than a quarter of the %d ESP packets captured", got, len(esp))
			}
			t.Logf("%d ESP packets, all with a good ICV; inner %v", len(esp), inner)
		})
	}
}

// TestThroughput measures iperf3 TCP and UDP (1380-byte datagrams)
// through the tunnel and in transport mode with AES-GCM, and over the bare
// link in the same run, and logs the figures. It checks only that traffic
// flows; the figures depend on the machine.
func TestThroughput(t *testing.T) {
	requireRig(t, "iperf3")
	if testing.Short() {
		t.Skip("measurement")
	}
	a, b := newRig(t)
	tcp, _ := iperf(t, a, b, b.v4, "-t", "3")
	udp, loss := iperf(t, a, b, b.v4, "-u", "-l", "1380", "-b", "0", "-t", "3")
	t.Logf("bare veth: TCP %.2f Gbit/s, UDP-1380 %.2f Gbit/s (%.1f %% lost)", tcp/1e9, udp/1e9, loss)
	for _, m := range []emode{
		{name: "tunnel-v4-esp-gcm-128", tunnel: true, transform: "esp-gcm-128"},
		{name: "transport-v4-esp-gcm-128", transform: "esp-gcm-128"},
		{name: "tunnel-v4-esp-aes-256-sha256", tunnel: true, transform: "esp-aes-256-sha256"},
	} {
		t.Run(m.name, func(t *testing.T) {
			a, b := newRig(t)
			plumb(t, a, b, m)
			_, dst := m.targets(a, b)
			ptcp, _ := iperf(t, a, b, dst, "-t", "3")
			pudp, ploss := iperf(t, a, b, dst, "-u", "-l", "1380", "-b", "0", "-t", "3")
			t.Logf("%s: TCP %.2f Gbit/s (%.0f %% of bare), UDP-1380 %.2f Gbit/s delivered (%.1f %% lost, %.0f kpps)",
				m.name, ptcp/1e9, 100*ptcp/tcp, pudp/1e9, ploss, pudp/8/1380/1e3)
			if ptcp < 1e6 || pudp < 1e6 {
				t.Errorf("hardly any traffic: TCP %.0f, UDP %.0f bit/s", ptcp, pudp)
			}
		})
	}
}
