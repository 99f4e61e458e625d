package kernelpeer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sadb-dev/sadb/internal/testrig"
	"github.com/sadb-dev/sadb/internal/testrig/kernelpeer/agent"
)

// Addresses of the rig (documentation ranges only). The prefix lengths are
// /25 on every link for IPv4, /64 for IPv6.
var (
	// HostPlain and GuestPlain are the two ends of the plain link: a veth
	// in the host namespace whose peer is bridged, in qemu's namespace,
	// to the tap device behind the guest's NIC "plain". It carries any IP
	// protocol, ESP included.
	HostPlain  = netip.MustParseAddr("192.0.2.1")
	GuestPlain = netip.MustParseAddr("192.0.2.2")

	// HostNAT is the host namespace's end of the veth to qemu's namespace,
	// whose end is QemuNAT. qemu's user-mode network forwards UDP sent to
	// QemuNAT port NATPort to GuestNAT port NATPort, the guest's address
	// on its NIC "nat", behind SlirpGateway. The guest sees the host's
	// packets come from GuestSeesHost: the path is a NAT.
	HostNAT       = netip.MustParseAddr("198.51.100.129")
	QemuNAT       = netip.MustParseAddr("198.51.100.130")
	GuestNAT      = netip.MustParseAddr("198.51.100.15")
	SlirpGateway  = netip.MustParseAddr("198.51.100.2")
	GuestSeesHost = HostNAT

	// HostInnerNet and GuestInnerNet are tunnel-mode inner subnets; the
	// guest has GuestInner on its loopback device and routes
	// HostInnerNet over the NAT link with GuestInner as source. The host
	// namespace gets HostInner on its loopback device.
	HostInnerNet  = netip.MustParsePrefix("203.0.113.0/25")
	HostInner     = netip.MustParseAddr("203.0.113.1")
	GuestInnerNet = netip.MustParsePrefix("203.0.113.128/25")
	GuestInner    = netip.MustParseAddr("203.0.113.129")

	// The IPv6 addresses of the plain link and the IPv6 inner subnets,
	// set up alike (without duplicate address detection, so that they
	// work at once). The NAT carries IPv4 only, as ESP in UDP does.
	HostPlain6     = netip.MustParseAddr("2001:db8:1::1")
	GuestPlain6    = netip.MustParseAddr("2001:db8:1::2")
	HostInnerNet6  = netip.MustParsePrefix("2001:db8:a::/64")
	HostInner6     = netip.MustParseAddr("2001:db8:a::1")
	GuestInnerNet6 = netip.MustParsePrefix("2001:db8:b::/64")
	GuestInner6    = netip.MustParseAddr("2001:db8:b::1")
)

// NATPort is the UDP port qemu forwards to the guest: the port of ESP in
// UDP (RFC 3948).
const NATPort = 4500

// Interface names.
const (
	// HostPlainLink and HostNATLink are the host namespace's ends of the
	// links.
	HostPlainLink = "kpplain"
	HostNATLink   = "kpnat"
	// GuestPlainLink and GuestNATLink are the guest's NICs.
	GuestPlainLink = "plain"
	GuestNATLink   = "nat"
)

// MAC addresses of the guest's NICs, by which /init names them.
const (
	natMAC   = "52:54:00:5a:db:01"
	plainMAC = "52:54:00:5a:db:02"
)

// Config configures Boot. The zero value boots the newest installed
// Debian cloud kernel with defaults.
type Config struct {
	// Kernel is the kernel image (default: the newest
	// /boot/vmlinuz-*-cloud-amd64 whose modules are installed, else the
	// newest /boot/vmlinuz-* with modules).
	Kernel string
	// Modules is the kernel's module tree (default:
	// /lib/modules/<version of Kernel>).
	Modules string
	// MemoryMB is the guest's memory (default 256).
	MemoryMB int
	// Accel is qemu's accelerator (default "tcg": software emulation,
	// which works where nested virtualization does not).
	Accel string
	// BootTimeout bounds Boot from starting qemu to the agent's first
	// answer (default 3 minutes).
	BootTimeout time.Duration
	// HostNS is the namespace the host ends of the links go to. nil: Boot
	// creates one and Close deletes it. A given namespace must not already
	// have links named HostPlainLink or HostNATLink; Close removes them.
	HostNS *testrig.Netns
	// Logf, if not nil, receives progress messages (boot timings).
	Logf func(format string, args ...any)
}

// Peer is a running guest. Its methods are safe for concurrent use;
// requests to the guest are served one at a time.
type Peer struct {
	cfg     Config
	dir     string
	qemuNS  *testrig.Netns
	hostNS  *testrig.Netns
	ownHost bool
	qemu    *exec.Cmd
	exited  chan struct{} // closed when qemu has exited
	serial  string        // the guest's console log

	// Timings.
	BuildTime time.Duration // building the agent and the initramfs
	BootTime  time.Duration // starting qemu to the agent's first answer

	mu     sync.Mutex    // guards the fields below: one request at a time
	conn   net.Conn      // +checklocks:mu
	rd     *bufio.Reader // +checklocks:mu
	nextID uint64        // +checklocks:mu

	closeOnce sync.Once
	closeErr  error
}

// Boot builds the guest's initramfs, sets up the namespaces and links,
// starts qemu and waits until the guest's agent answers. On error,
// everything it set up is torn down.
func Boot(ctx context.Context, cfg Config) (p *Peer, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	p = &Peer{cfg: cfg, exited: make(chan struct{})}
	defer func() {
		if err != nil {
			p.Close()
			p = nil
		}
	}()
	p.dir, err = os.MkdirTemp("", "kernelpeer-")
	if err != nil {
		return p, err
	}
	p.serial = filepath.Join(p.dir, "console.log")
	start := time.Now()
	agentBin := filepath.Join(p.dir, "kpagent")
	if err := testrig.GoBuild(agentBin, "./internal/testrig/kernelpeer/kpagent", true); err != nil {
		return p, err
	}
	initrd := filepath.Join(p.dir, "initrd.cpio")
	if err := buildInitramfs(initrd, initramfsSpec{modules: cfg.Modules, agent: agentBin, init: initScript()}); err != nil {
		return p, fmt.Errorf("kernelpeer: initramfs: %w", err)
	}
	p.BuildTime = time.Since(start)
	p.logf("kernelpeer: agent and initramfs built in %v", p.BuildTime.Round(time.Millisecond))

	if err := p.setupLinks(); err != nil {
		return p, err
	}
	start = time.Now()
	if err := p.startQemu(initrd); err != nil {
		return p, err
	}
	bctx, cancel := context.WithTimeout(ctx, cfg.BootTimeout)
	defer cancel()
	if err := p.connect(bctx); err != nil {
		return p, fmt.Errorf("kernelpeer: guest did not come up: %w\nconsole:\n%s", err, testrig.Tail(p.Console(), 40))
	}
	p.BootTime = time.Since(start)
	p.logf("kernelpeer: guest up in %v (%s)", p.BootTime.Round(time.Millisecond), filepath.Base(cfg.Kernel))
	return p, nil
}

func (c *Config) defaults() error {
	if c.Kernel == "" {
		k, err := FindKernel()
		if err != nil {
			return err
		}
		c.Kernel = k
	}
	if c.Modules == "" {
		c.Modules = filepath.Join("/lib/modules", strings.TrimPrefix(filepath.Base(c.Kernel), "vmlinuz-"))
	}
	if _, err := os.Stat(filepath.Join(c.Modules, "modules.dep")); err != nil {
		return fmt.Errorf("kernelpeer: no modules for %s: %w", c.Kernel, err)
	}
	if c.MemoryMB == 0 {
		c.MemoryMB = 256
	}
	if c.Accel == "" {
		c.Accel = "tcg"
	}
	if c.BootTimeout == 0 {
		c.BootTimeout = 3 * time.Minute
	}
	return nil
}

// FindKernel returns the newest installed kernel image with modules,
// preferring the cloud flavour (its virtio drivers and ESP are modules
// the initramfs carries).
func FindKernel() (string, error) {
	imgs, _ := filepath.Glob("/boot/vmlinuz-*")
	var best, bestCloud string
	for _, k := range imgs {
		v := strings.TrimPrefix(filepath.Base(k), "vmlinuz-")
		if _, err := os.Stat(filepath.Join("/lib/modules", v, "modules.dep")); err != nil {
			continue
		}
		if best == "" || versionLess(best, k) {
			best = k
		}
		if strings.HasSuffix(v, "-cloud-amd64") && (bestCloud == "" || versionLess(bestCloud, k)) {
			bestCloud = k
		}
	}
	if bestCloud != "" {
		return bestCloud, nil
	}
	if best != "" {
		return best, nil
	}
	return "", errors.New("kernelpeer: no kernel image with modules in /boot (install linux-image-cloud-amd64)")
}

var digits = regexp.MustCompile(`[0-9]+|[^0-9]+`)

// versionLess compares a and b with their digit runs as numbers.
func versionLess(a, b string) bool {
	as, bs := digits.FindAllString(a, -1), digits.FindAllString(b, -1)
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] == bs[i] {
			continue
		}
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx == nil && erry == nil {
			return x < y
		}
		return as[i] < bs[i]
	}
	return len(as) < len(bs)
}

func (p *Peer) logf(format string, args ...any) {
	if p.cfg.Logf != nil {
		p.cfg.Logf(format, args...)
	}
}

// HostNS is the namespace holding the host ends of the links.
func (p *Peer) HostNS() *testrig.Netns { return p.hostNS }

// QemuNS is qemu's own namespace.
func (p *Peer) QemuNS() *testrig.Netns { return p.qemuNS }

// Console returns what the guest has written to its serial console.
func (p *Peer) Console() string {
	b, _ := os.ReadFile(p.serial)
	return strings.ReplaceAll(string(b), "\r", "")
}

// setupLinks creates qemu's namespace (and the host's, unless given) and
// the links between them:
//
//	host ns                         qemu ns
//	kpplain 192.0.2.1/25 ── veth ── plain ─┐
//	                                       br0 ── tap0 ══ guest "plain" 192.0.2.2/25
//	kpnat 198.51.100.129/25 ─ veth ─ nat 198.51.100.130/25
//	                                   └ qemu user net, udp :4500 ══ guest "nat" 198.51.100.15/25
func (p *Peer) setupLinks() error {
	var err error
	if p.qemuNS, err = testrig.CreateNetns("kpq"); err != nil {
		return err
	}
	p.hostNS = p.cfg.HostNS
	if p.hostNS == nil {
		if p.hostNS, err = testrig.CreateNetns("kph"); err != nil {
			return err
		}
		p.ownHost = true
	}
	q, h := p.qemuNS, p.hostNS
	steps := []struct {
		ns   *testrig.Netns
		args []string
	}{
		{q, []string{"link", "add", "plain", "type", "veth", "peer", "name", HostPlainLink, "netns", h.Name}},
		{q, []string{"link", "add", "nat", "type", "veth", "peer", "name", HostNATLink, "netns", h.Name}},
		{q, []string{"link", "add", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0"}},
		{q, []string{"tuntap", "add", "dev", "tap0", "mode", "tap"}},
		{q, []string{"link", "set", "plain", "master", "br0"}},
		{q, []string{"link", "set", "tap0", "master", "br0"}},
		// A slow guest must not make the tap drop what the host sends.
		{q, []string{"link", "set", "tap0", "txqueuelen", "10000"}},
		{q, []string{"addr", "add", QemuNAT.String() + "/25", "dev", "nat"}},
		{h, []string{"addr", "add", HostPlain.String() + "/25", "dev", HostPlainLink}},
		{h, []string{"addr", "add", HostNAT.String() + "/25", "dev", HostNATLink}},
		{h, []string{"addr", "add", HostInner.String() + "/32", "dev", "lo"}},
		{h, []string{"addr", "add", HostPlain6.String() + "/64", "dev", HostPlainLink, "nodad"}},
		{h, []string{"addr", "add", HostInner6.String() + "/128", "dev", "lo", "nodad"}},
	}
	for _, s := range steps {
		if _, err := s.ns.IP(s.args...); err != nil {
			return fmt.Errorf("kernelpeer: %w", err)
		}
	}
	for _, s := range []struct {
		ns   *testrig.Netns
		link string
	}{{q, "plain"}, {q, "nat"}, {q, "br0"}, {q, "tap0"}, {h, HostPlainLink}, {h, HostNATLink}} {
		if _, err := s.ns.IP("link", "set", s.link, "up"); err != nil {
			return fmt.Errorf("kernelpeer: %w", err)
		}
	}
	return nil
}

func (p *Peer) startQemu(initrd string) error {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return fmt.Errorf("kernelpeer: %w (install qemu-system-x86)", err)
	}
	sock := filepath.Join(p.dir, "agent.sock")
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-accel", p.cfg.Accel, "-cpu", "max", "-smp", "1", "-m", strconv.Itoa(p.cfg.MemoryMB),
		"-kernel", p.cfg.Kernel, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet loglevel=4 rdinit=/init",
		"-chardev", "file,id=console,path=" + p.serial, "-serial", "chardev:console",
		"-netdev", fmt.Sprintf("user,id=nat,ipv6=off,net=%s/25,host=%s,hostfwd=udp:%s:%d-%s:%d",
			SlirpGateway, SlirpGateway, QemuNAT, NATPort, GuestNAT, NATPort),
		"-device", "virtio-net-pci,netdev=nat,mac=" + natMAC,
		"-netdev", "tap,id=plain,ifname=tap0,script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=plain,mac=" + plainMAC,
		"-device", "virtio-serial-pci,id=vser",
		"-chardev", "socket,id=agent,path=" + sock + ",server=on,wait=off",
		"-device", "virtserialport,bus=vser.0,chardev=agent,name=" + agent.PortName,
	}
	cmd := p.qemuNS.Command(qemu, args...)
	stderr, err := os.Create(filepath.Join(p.dir, "qemu.stderr"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	// qemu dies with the test process, even one killed before its
	// cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		stderr.Close()
		return fmt.Errorf("kernelpeer: starting qemu: %w", err)
	}
	p.qemu = cmd
	go func() {
		cmd.Wait()
		stderr.Close()
		close(p.exited)
	}()
	return nil
}

// qemuStderr returns what qemu wrote to its standard error.
func (p *Peer) qemuStderr() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "qemu.stderr"))
	return string(b)
}

// connect connects to the agent's socket and pings until the guest
// answers.
func (p *Peer) connect(ctx context.Context) error {
	sock := filepath.Join(p.dir, "agent.sock")
	var conn net.Conn
	for conn == nil {
		c, err := net.Dial("unix", sock)
		if err == nil {
			conn = c
			break
		}
		select {
		case <-p.exited:
			return fmt.Errorf("qemu exited: %s", p.qemuStderr())
		case <-ctx.Done():
			return fmt.Errorf("connecting to the agent socket: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.mu.Lock()
	p.conn, p.rd = conn, bufio.NewReaderSize(conn, 64<<10)
	p.mu.Unlock()
	// Requests wait in the socket until the guest opens its port; ping
	// every half second and take the first answer.
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := p.do(pctx, &agent.Request{Op: agent.OpPing})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("qemu exited: %s", p.qemuStderr())
		default:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// do sends req and waits for its response, skipping answers to earlier
// requests whose wait was abandoned.
func (p *Peer) do(ctx context.Context, req *agent.Request) (*agent.Response, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil, errors.New("kernelpeer: not connected")
	}
	p.nextID++
	req.ID = p.nextID
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Minute)
	}
	p.conn.SetDeadline(deadline)
	defer p.conn.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { p.conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := p.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("kernelpeer: %s: %w", req.Op, err)
	}
	for {
		line, err := p.rd.ReadBytes('\n')
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("kernelpeer: %s: %w", req.Op, err)
		}
		var resp agent.Response
		if err := json.Unmarshal(line, &resp); err != nil {
			return nil, fmt.Errorf("kernelpeer: bad response %q: %w", line, err)
		}
		if resp.ID != req.ID {
			continue
		}
		if resp.Err != "" {
			return &resp, fmt.Errorf("kernelpeer: %s: %s", req.Op, resp.Err)
		}
		return &resp, nil
	}
}

// call runs req with a context bounded by its own timeout plus a margin.
func (p *Peer) call(ctx context.Context, req *agent.Request) (*agent.Response, error) {
	if req.Timeout <= 0 {
		req.Timeout = agent.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, req.Timeout+15*time.Second)
	defer cancel()
	return p.do(ctx, req)
}

// ExecError is the failure of a guest command that ran and exited with a
// status other than 0.
type ExecError struct {
	Cmd            string
	Status         int
	Stdout, Stderr string
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("kernelpeer: guest command %q: exit status %d\n%s%s", e.Cmd, e.Status, e.Stdout, e.Stderr)
}

// Run runs script with the guest's /bin/sh -c and returns its standard
// output; a non-zero exit status is an *ExecError. Background processes
// the script starts must redirect their output (agent.OpExec).
func (p *Peer) Run(ctx context.Context, script string) (string, error) {
	resp, err := p.call(ctx, &agent.Request{Op: agent.OpExec, Cmd: script})
	if err != nil {
		return "", err
	}
	if resp.Status != 0 {
		return resp.Stdout, &ExecError{Cmd: script, Status: resp.Status, Stdout: resp.Stdout, Stderr: resp.Stderr}
	}
	return resp.Stdout, nil
}

// Close stops qemu and removes the links, the namespaces it created and
// its files. It is safe to call more than once.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() { p.closeErr = p.close() })
	return p.closeErr
}

func (p *Peer) close() error {
	var errs []error
	p.mu.Lock()
	if p.conn != nil {
		p.conn.Close()
	}
	p.mu.Unlock()
	if p.qemu != nil && p.qemu.Process != nil {
		p.qemu.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.qemu.Process.Kill()
			<-p.exited
		}
	}
	if p.qemuNS != nil {
		// Deleting qemu's namespace removes the bridge, the tap and the
		// veth pairs, whose host ends go with them.
		if err := p.qemuNS.Delete(); err != nil {
			errs = append(errs, err)
		}
	}
	if p.hostNS != nil {
		if p.ownHost {
			if err := p.hostNS.Delete(); err != nil {
				errs = append(errs, err)
			}
		} else {
			p.hostNS.IP("addr", "del", HostInner.String()+"/32", "dev", "lo")
		}
	}
	if p.dir != "" {
		if err := os.RemoveAll(p.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// PathDrops returns the drop counters on the way between the host
// namespace and the guest's stack, by name: the links of both namespaces
// ("qemu:tap0 tx_dropped", ...), the UDP receive-buffer errors of qemu's
// namespace (its user-mode network's sockets) and of the guest, and the
// guest NICs' drops. Tests that compare what one end sent with what the
// other counted use it to tell a loss on the way from a miscount.
func (p *Peer) PathDrops(ctx context.Context) (map[string]uint64, error) {
	m := map[string]uint64{}
	for _, ns := range []struct {
		tag string
		ns  *testrig.Netns
	}{{"qemu", p.qemuNS}, {"host", p.hostNS}} {
		out, err := ns.ns.IP("-s", "-j", "link", "show")
		if err != nil {
			return nil, err
		}
		var links []struct {
			Name  string `json:"ifname"`
			Stats struct {
				RX struct{ Dropped uint64 } `json:"rx"`
				TX struct{ Dropped uint64 } `json:"tx"`
			} `json:"stats64"`
		}
		if err := json.Unmarshal([]byte(out), &links); err != nil {
			return nil, fmt.Errorf("kernelpeer: ip -j link: %w", err)
		}
		for _, l := range links {
			m[ns.tag+":"+l.Name+" rx_dropped"] = l.Stats.RX.Dropped
			m[ns.tag+":"+l.Name+" tx_dropped"] = l.Stats.TX.Dropped
		}
	}
	snmp, err := p.qemuNS.Command("cat", "/proc/net/snmp").Output()
	if err != nil {
		return nil, err
	}
	m["qemu:udp RcvbufErrors"] = udpRcvbufErrors(string(snmp))
	out, err := p.Run(ctx, "cat /proc/net/snmp; for l in "+GuestNATLink+" "+GuestPlainLink+
		"; do echo \"$l $(cat /sys/class/net/$l/statistics/rx_dropped) $(cat /sys/class/net/$l/statistics/tx_dropped)\"; done")
	if err != nil {
		return nil, err
	}
	m["guest:udp RcvbufErrors"] = udpRcvbufErrors(out)
	for _, line := range strings.Split(out, "\n") {
		var name string
		var rx, tx uint64
		if n, _ := fmt.Sscanf(line, "%s %d %d", &name, &rx, &tx); n == 3 && (name == GuestNATLink || name == GuestPlainLink) {
			m["guest:"+name+" rx_dropped"], m["guest:"+name+" tx_dropped"] = rx, tx
		}
	}
	return m, nil
}

// udpRcvbufErrors reads Udp RcvbufErrors from /proc/net/snmp's text.
func udpRcvbufErrors(snmp string) uint64 {
	var names []string
	for _, line := range strings.Split(snmp, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i+1 < len(f) {
				v, _ := strconv.ParseUint(f[i+1], 10, 64)
				return v
			}
		}
	}
	return 0
}
