package e2e

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/internal/testrig"
	iperf3 "github.com/sadb-dev/sadb/internal/testrig/iperf"
)

// emode is one way to protect the traffic between the hosts.
type emode struct {
	name      string
	tunnel    bool
	v6        bool   // IPv6 inside and outside
	udp       bool   // ESP in UDP on port 4500 (IPv4)
	transform string // a sadb --transform name
	// extra flags for add-inbound and add-outbound (lifetimes)
	extra []string
}

// keyLens gives the key names and lengths of a transform.
func (m emode) keyLens() map[string]int {
	switch m.transform {
	case "esp-gcm-128":
		return map[string]int{"cipher": 20}
	case "esp-gcm-256":
		return map[string]int{"cipher": 36}
	case "esp-aes-128-sha256":
		return map[string]int{"cipher": 16, "auth": 32}
	case "esp-aes-256-sha256":
		return map[string]int{"cipher": 32, "auth": 32}
	}
	panic("no key lengths for " + m.transform)
}

// tsharkAlgs gives tshark's names for the transform.
func (m emode) tsharkAlgs() (enc, auth string) {
	if strings.HasPrefix(m.transform, "esp-gcm-") {
		return "AES-GCM with 16 octet ICV [RFC4106]", "NULL"
	}
	return "AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]"
}

// endpoints are the outer addresses.
func (m emode) endpoints(a, b *node) (netip.Addr, netip.Addr) {
	if m.v6 {
		return a.v6, b.v6
	}
	return a.v4, b.v4
}

// targets are the addresses traffic from a to b uses.
func (m emode) targets(a, b *node) (netip.Addr, netip.Addr) {
	switch {
	case m.tunnel && m.v6:
		return a.inner6, b.inner6
	case m.tunnel:
		return a.inner4, b.inner4
	}
	return m.endpoints(a, b)
}

// sa is one plumbed direction, as tshark needs it.
type sa struct {
	src, dst netip.Addr
	spi      uint32
	keys     map[string][]byte
}

// link is the result of plumbing a mode on both hosts.
type link struct {
	m          emode
	ctxA, ctxB uint64
	spiA, spiB uint32 // inbound SPIs
	ab, ba     sa     // A→B and B→A
}

// plumb does on both hosts, through the sadb command line, what two
// keying daemons do after a negotiation: filters, a context, an inbound
// SPI each, then the inbound and outbound bundles with the agreed keys.
func plumb(tb testing.TB, a, b *node, m emode) *link {
	tb.Helper()
	l := &link{m: m}
	la, lb := m.endpoints(a, b)
	l.ab = sa{src: la, dst: lb}
	l.ba = sa{src: lb, dst: la}
	type side struct {
		h        *node
		local    netip.Addr
		remote   netip.Addr
		ls, rs   netip.Prefix
		ctx      *uint64
		spi      *uint32
		in, out  *sa
		outKeyFn string
		inKeyFn  string
	}
	sA, sB := subnetA4, subnetB4
	if m.v6 {
		sA, sB = subnetA6, subnetB6
	}
	sides := []*side{
		{h: a, local: la, remote: lb, ls: sA, rs: sB, ctx: &l.ctxA, spi: &l.spiA, in: &l.ba, out: &l.ab},
		{h: b, local: lb, remote: la, ls: sB, rs: sA, ctx: &l.ctxB, spi: &l.spiB, in: &l.ab, out: &l.ba},
	}
	for _, s := range sides {
		var f struct {
			Out uint64 `json:"outbound_filter_id"`
			In  uint64 `json:"inbound_filter_id"`
		}
		var c struct {
			ID uint64 `json:"sa_context_id"`
		}
		if m.tunnel {
			s.h.sadb(&f, "filter", "add-pair", "--tunnel", "--local", s.ls.String(), "--remote", s.rs.String())
			s.h.sadb(&c, "ctx", "create", "--local", s.local.String(), "--remote", s.remote.String(), "--tunnel-policy", fmt.Sprint(f.Out))
		} else {
			s.h.sadb(&f, "filter", "add-pair", "--local", s.local.String(), "--remote", s.remote.String())
			s.h.sadb(&c, "ctx", "create", "--local", s.local.String(), "--remote", s.remote.String(), "--filter", fmt.Sprint(f.Out))
		}
		*s.ctx = c.ID
		args := []string{"ctx", "getspi", fmt.Sprint(c.ID)}
		if m.udp {
			args = append(args, "--udp-encap", "4500:4500")
		}
		var g struct {
			SPI uint32 `json:"spi"`
		}
		s.h.sadb(&g, args...)
		*s.spi = g.SPI
		s.in.spi = g.SPI
	}
	// The keys of each direction: the sender's outbound, the receiver's
	// inbound.
	for _, d := range []*sa{&l.ab, &l.ba} {
		path, keys := keyFile(tb, m.keyLens())
		d.keys = keys
		if d == &l.ab {
			sides[0].outKeyFn, sides[1].inKeyFn = path, path
		} else {
			sides[1].outKeyFn, sides[0].inKeyFn = path, path
		}
	}
	for _, s := range sides {
		id := fmt.Sprint(*s.ctx)
		s.h.sadb(nil, append([]string{"ctx", "add-inbound", id, "--transform", m.transform, "--key-file", s.inKeyFn, "--lifetime", "1h"}, m.extra...)...)
		s.h.sadb(nil, append([]string{"ctx", "add-outbound", id, "--transform", m.transform, "--key-file", s.outKeyFn, "--lifetime", "1h",
			"--spi", fmt.Sprint(s.out.spi)}, m.extra...)...)
	}
	return l
}

// uat returns tshark's esp_sa records for both directions.
func (l *link) uat() []string {
	enc, auth := l.m.tsharkAlgs()
	var out []string
	for _, d := range []sa{l.ab, l.ba} {
		if d.spi == 0 {
			continue
		}
		proto := "IPv4"
		if d.src.Is6() {
			proto = "IPv6"
		}
		cipherKey := d.keys["cipher"]
		authKey := ""
		if k, ok := d.keys["auth"]; ok {
			authKey = "0x" + hex.EncodeToString(k)
		}
		out = append(out, fmt.Sprintf(`"%s","%s","%s","0x%08x","%s","0x%s","%s","%s"`,
			proto, d.src, d.dst, d.spi, enc, hex.EncodeToString(cipherKey), auth, authKey))
	}
	return out
}

// tshark runs tshark with the link's SAs on pcap and returns the
// requested fields of the packets matching display, one slice per packet.
func (l *link) tshark(tb testing.TB, pcap, display string, fields ...string) [][]string {
	tb.Helper()
	args := []string{"-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"}
	// The iperf3 ports are read as plain data: some of them belong to
	// other protocols (5246 is CAPWAP), whose dissectors throw on iperf3's
	// payload, and a throw inside the decrypted payload ends the ESP
	// dissection before the ICV is checked.
	ports := fmt.Sprintf("%d-%d", iperfPortBase, iperfPortBase+iperfPorts-1)
	args = append(args, "-d", "tcp.port=="+ports+",data", "-d", "udp.port=="+ports+",data")
	for _, u := range l.uat() {
		args = append(args, "-o", "uat:esp_sa:"+u)
	}
	args = append(args, "-r", pcap, "-Y", display, "-T", "fields", "-E", "separator=|")
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		tb.Fatalf("tshark: %v\n%s", err, out)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "|"))
		}
	}
	return rows
}

func (h *node) ctxShow(id uint64) testrig.CtxView {
	h.tb.Helper()
	var v testrig.CtxView
	h.sadb(&v, "ctx", "show", fmt.Sprint(id))
	return v
}

// statsView is the part of 'sadb stats -o json' the tests read.
type statsView struct {
	ESP struct {
		InvalidSPIs uint64 `json:"invalid_spis_on_inbound"`
		Decryption  uint64 `json:"decryption_failures_on_inbound"`
		Auth        uint64 `json:"authentication_failures_on_inbound"`
		Replay      uint64 `json:"replay_check_failures_on_inbound"`
	} `json:"esp_drops"`
	Drops struct {
		InvalidSPIs uint64 `json:"invalid_spis_on_inbound"`
		Replay      uint64 `json:"replay_check_failures_on_inbound"`
		Auth        uint64 `json:"authentication_failures_on_inbound"`
		Total       uint64 `json:"total_drop_packets_inbound"`
	} `json:"drops"`
}

func (h *node) stats() statsView {
	h.tb.Helper()
	var v statsView
	h.sadb(&v, "stats")
	return v
}

// iperf runs an iperf3 client from a to dst (a server on b) and returns
// the receiver's rate in bit/s and, for UDP, the loss in percent.
func iperf(tb testing.TB, a, b *node, dst netip.Addr, args ...string) (bps, lossPct float64) {
	tb.Helper()
	r := iperfRun(tb, a, b, dst, args...)
	return r.BPS, r.LossPercent()
}

// The iperf3 servers listen on ports iperfPortBase to
// iperfPortBase+iperfPorts-1, a new one for each run.
const (
	iperfPortBase = 5201
	iperfPorts    = 1000
)

// iperfRun runs an iperf3 client from a to dst (a server on b) and returns
// its report.
func iperfRun(tb testing.TB, a, b *node, dst netip.Addr, args ...string) iperf3.Result {
	tb.Helper()
	port := fmt.Sprint(iperfPortBase + nsSeq.Add(1)%iperfPorts)
	srv := exec.Command("ip", "netns", "exec", b.ns, "iperf3", "-s", "-1", "-p", port)
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	defer func() {
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			srv.Process.Kill()
			<-done
		}
	}()
	for i := 0; ; i++ {
		ls, _ := b.exec("ss", "-Hltn")
		if strings.Contains(ls, ":"+port+" ") {
			break
		}
		if i == 100 {
			tb.Fatalf("the iperf3 server did not start listening on %s:\n%s", port, ls)
		}
		time.Sleep(20 * time.Millisecond)
	}
	o, err := exec.Command("ip", append([]string{"netns", "exec", a.ns, "iperf3", "-c", dst.String(), "-p", port, "-J"}, args...)...).Output()
	out := string(o)
	if err != nil {
		tb.Fatalf("iperf3 %v: %v\n%s", args, err, tail(out, 30))
	}
	r, err := iperf3.Parse(o)
	if err != nil {
		tb.Fatalf("%v\n%s", err, tail(out, 30))
	}
	if os.Getenv("E2E_DEBUG") != "" {
		tb.Logf("iperf3 %v: %s", args, tail(out, 40))
	}
	return r
}
