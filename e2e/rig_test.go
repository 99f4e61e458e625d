// Package e2e runs two sadbd daemons with the userspace data path in two
// network namespaces joined by a veth pair, plumbs SA contexts with the
// sadb command line as a keying daemon would, and checks the traffic
// between them: ping and iperf3 through every mode, captures decrypted by
// tshark, injected bad packets, lifetimes, Expire0 and no-SA drops.
//
// The tests need root (namespaces, TUN, raw sockets); without it they are
// skipped, except with CI=true, where they fail.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/internal/metrics"
	"github.com/sadb-dev/sadb/internal/testrig"
)

// bin holds the binaries TestMain builds.
var bin struct {
	dir, sadbd, sadb string
	err              error
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sadb-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin.dir = dir
	bin.sadbd, bin.sadb = filepath.Join(dir, "sadbd"), filepath.Join(dir, "sadb")
	root := moduleRoot()
	for _, b := range []struct{ out, pkg string }{{bin.sadbd, "./cmd/sadbd"}, {bin.sadb, "./cmd/sadb"}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			bin.err = fmt.Errorf("building %s: %v\n%s", b.pkg, err, out)
			break
		}
	}
	return m.Run()
}

// moduleRoot is the directory above this package.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// requireRig skips (or with CI=true fails) a test that cannot run here,
// and fails one whose binaries did not build.
func requireRig(tb testing.TB, tools ...string) {
	tb.Helper()
	need := func(format string, args ...any) {
		tb.Helper()
		if os.Getenv("CI") == "true" {
			tb.Fatalf(format, args...)
		}
		tb.Skipf(format, args...)
	}
	if os.Geteuid() != 0 {
		need("needs root (network namespaces, TUN, raw sockets)")
	}
	for _, t := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(t); err != nil {
			need("%s is not installed (.ci/run installs it)", t)
		}
	}
	if bin.err != nil {
		tb.Fatal(bin.err)
	}
}

var nsSeq atomic.Int32

// node is one host: a network namespace with a veth end and a sadbd
// running the userspace data path.
type node struct {
	tb             testing.TB
	ns, link       string
	v4, v6         netip.Addr
	inner4, inner6 netip.Addr
	sock, log      string
	cmd            *exec.Cmd
	peer           *node // the other end of the veth pair
}

// Addresses: documentation ranges only.
var (
	subnetA4 = netip.MustParsePrefix("198.51.100.0/24")
	subnetB4 = netip.MustParsePrefix("203.0.113.0/24")
	subnetA6 = netip.MustParsePrefix("2001:db8:a::/48")
	subnetB6 = netip.MustParsePrefix("2001:db8:b::/48")
)

// newRig creates hosts A (192.0.2.1, 2001:db8::1, inner 198.51.100.1 and
// 2001:db8:a::1) and B (.2, ::2, 203.0.113.1, 2001:db8:b::1), joined by a
// veth pair, each running sadbd with the userspace data path.
func newRig(tb testing.TB) (a, b *node) {
	tb.Helper()
	n := nsSeq.Add(1)
	tag := fmt.Sprintf("sadbe%d-%d", os.Getpid()%100000, n)
	a = &node{tb: tb, ns: tag + "a", link: "ea", v4: netip.MustParseAddr("192.0.2.1"), v6: netip.MustParseAddr("2001:db8::1"),
		inner4: netip.MustParseAddr("198.51.100.1"), inner6: netip.MustParseAddr("2001:db8:a::1")}
	b = &node{tb: tb, ns: tag + "b", link: "eb", v4: netip.MustParseAddr("192.0.2.2"), v6: netip.MustParseAddr("2001:db8::2"),
		inner4: netip.MustParseAddr("203.0.113.1"), inner6: netip.MustParseAddr("2001:db8:b::1")}
	for _, h := range []*node{a, b} {
		mustCmd(tb, "ip", "netns", "add", h.ns)
		tb.Cleanup(func() { exec.Command("ip", "netns", "del", h.ns).Run() })
	}
	a.peer, b.peer = b, a
	mustCmd(tb, "ip", "link", "add", a.link, "netns", a.ns, "type", "veth", "peer", "name", b.link, "netns", b.ns)
	for _, h := range []*node{a, b} {
		h.ip("link", "set", "lo", "up")
		h.ip("addr", "add", h.inner4.String()+"/32", "dev", "lo")
		h.ip("addr", "add", h.inner6.String()+"/128", "dev", "lo")
		h.ip("addr", "add", h.v4.String()+"/24", "dev", h.link)
		h.ip("addr", "add", h.v6.String()+"/64", "dev", h.link, "nodad")
		h.ip("link", "set", h.link, "up")
		h.start()
	}
	return a, b
}

// metricsAddr is where each sadbd serves its metrics, on the loopback of
// its own namespace.
const metricsAddr = "127.0.0.1:9120"

// metrics returns the samples h's sadbd serves on /metrics.
func (h *node) metrics() map[string]float64 {
	tb := h.tb
	tb.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = (&testrig.Netns{Name: h.ns}).Do(func() error {
				var d net.Dialer
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		tb.Fatalf("%s metrics: %v", h.ns, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("%s metrics: %s", h.ns, resp.Status)
	}
	m, err := metrics.ParseText(resp.Body)
	if err != nil {
		tb.Fatalf("%s metrics: %v", h.ns, err)
	}
	return m
}

// start runs sadbd in h's namespace.
func (h *node) start() {
	tb := h.tb
	dir := tb.TempDir()
	h.sock, h.log = filepath.Join(dir, "sadbd.sock"), filepath.Join(dir, "sadbd.log")
	logf, err := os.Create(h.log)
	if err != nil {
		tb.Fatal(err)
	}
	h.cmd = exec.Command("ip", "netns", "exec", h.ns, bin.sadbd, "-memory", "-socket", h.sock, "-datapath", "userspace", "-log-level", "debug",
		"-metrics", metricsAddr)
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	if err := h.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		h.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { h.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			h.cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if tb.Failed() {
			b, _ := os.ReadFile(h.log)
			tb.Logf("%s sadbd log:\n%s", h.ns, tail(string(b), 60))
		}
	})
	for i := 0; ; i++ {
		if out, err := h.sadbRun("stats"); err == nil {
			return
		} else if i == 100 {
			b, _ := os.ReadFile(h.log)
			tb.Fatalf("%s: sadbd did not come up: %v %s\n%s", h.ns, err, out, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func mustCmd(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ip runs ip(8) in h's namespace.
func (h *node) ip(args ...string) string {
	h.tb.Helper()
	return mustCmd(h.tb, "ip", append([]string{"-n", h.ns}, args...)...)
}

// exec runs a command in h's namespace.
func (h *node) exec(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", h.ns}, args...)...).CombinedOutput()
	return string(out), err
}

// sadbRun runs the CLI against h's sadbd with JSON output.
func (h *node) sadbRun(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin.sadb, append([]string{"--target", "unix://" + h.sock, "-o", "json", "--timeout", "10s"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// sadb runs the CLI and decodes its JSON output into v (if not nil).
func (h *node) sadb(v any, args ...string) {
	h.tb.Helper()
	out, err := h.sadbRun(args...)
	if err != nil {
		h.tb.Fatalf("%s: sadb %s: %v\n%s", h.ns, strings.Join(args, " "), err, out)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			h.tb.Fatalf("%s: sadb %s: %v\n%s", h.ns, strings.Join(args, " "), err, out)
		}
	}
}

// logText returns what h's sadbd has logged so far.
func (h *node) logText() string {
	b, _ := os.ReadFile(h.log)
	return string(b)
}

// ping sends count echo requests to dst and returns the replies.
func (h *node) ping(dst netip.Addr, count int, extra ...string) int {
	args := append([]string{"ping", "-n", "-q", "-c", fmt.Sprint(count), "-i", "0.01", "-W", "1"}, extra...)
	out, _ := h.exec(append(args, dst.String())...)
	var sent, recv int
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "packets transmitted") {
			fmt.Sscanf(strings.TrimSpace(line), "%d packets transmitted, %d received", &sent, &recv)
		}
	}
	return recv
}

// keyFile writes a key file with fresh random keys of the given lengths
// under the given names and returns its path and the keys.
func keyFile(tb testing.TB, lens map[string]int) (string, map[string][]byte) {
	tb.Helper()
	keys := map[string][]byte{}
	var b strings.Builder
	for name, n := range lens {
		k := make([]byte, n)
		rand.Read(k)
		keys[name] = k
		fmt.Fprintf(&b, "%s=%s\n", name, hex.EncodeToString(k))
	}
	p := filepath.Join(tb.TempDir(), "keys")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p, keys
}

// capture records the traffic on h's veth end into a pcap file while it
// runs; stop ends it and returns the file.
//
// While it runs, neither end of the link takes GSO packets (gso_max_segs
// 1), so that the kernel cuts sadbd's UDP GSO runs of ESP-in-UDP datagrams
// before the capture point as a NIC would on the wire: a veth passes a run
// through whole, and tshark would see one datagram of up to 64 KiB.
//
// tcpdump runs in immediate mode, so that it has written every packet when
// it exits, with a snapshot length that covers any packet on the 1500-byte
// link but keeps the kernel's ring at thousands of slots (one of 256 KiB,
// the default, leaves 64 in 16 MiB, and a burst overflows them).
func (h *node) capture(filter string) (stop func() string) {
	tb := h.tb
	tb.Helper()
	for _, n := range []*node{h, h.peer} {
		if n != nil {
			n.ip("link", "set", n.link, "gso_max_segs", "1")
		}
	}
	p := filepath.Join(tb.TempDir(), "capture.pcap")
	cmd := exec.Command("ip", "netns", "exec", h.ns, "tcpdump", "-n", "-i", h.link, "--immediate-mode", "-U", "-B", "16384", "-s", "4096", "-w", p, filter)
	errp, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	listening := make(chan struct{})
	var stats []string // tcpdump's closing counts; written before done closes
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(errp)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "listening") {
				close(listening)
				once = true
			} else if strings.Contains(sc.Text(), "packets") {
				stats = append(stats, sc.Text())
			}
		}
		if !once {
			close(listening)
		}
	}()
	select {
	case <-listening:
	case <-time.After(5 * time.Second):
		tb.Fatal("tcpdump did not start")
	}
	return func() string {
		// In immediate mode tcpdump has written every packet it was
		// given by the time it exits; the pause lets the last replies
		// reach the link.
		time.Sleep(200 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGINT)
		<-done
		cmd.Wait()
		tb.Logf("capture: %s", strings.Join(stats, ", "))
		for _, n := range []*node{h, h.peer} {
			if n != nil {
				n.ip("link", "set", n.link, "gso_max_segs", "65535")
			}
		}
		return p
	}
}
