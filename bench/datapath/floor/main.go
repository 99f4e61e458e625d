// Command floor measures how many ESP-sized packets this machine can move
// from one network namespace to another at all, by each way a userspace
// program has of putting packets on the wire and taking them off, with
// the packets sealed and opened with AES-GCM-128 and nothing else done:
// no TUN device, no TCP, no SA lookups. It is the ceiling of any
// userspace ESP data path on the machine, and the figure that says
// whether a throughput target is reachable before anyone builds for it.
//
//	sudo go run ./bench/datapath/floor                # every way, 5 s each
//	sudo go run ./bench/datapath/floor -t 10 -ways raw,af_xdp -rounds 3
//
// The ways:
//
//   - raw: plain ESP on raw sockets, as the userspace data path sends and
//     receives it: sendmmsg on an IPPROTO_RAW socket (the outer header
//     written by the sender), recvmmsg on an IPPROTO_ESP socket. Every
//     packet crosses both kernels' IP layers on its own.
//   - af_xdp: plain ESP by kernel bypass: an AF_XDP socket sends Ethernet
//     frames on the first namespace's veth; on the second, an XDP program
//     hands ESP to an AF_XDP socket before the IP layer sees it. The
//     cheapest per-packet crossing Linux offers a userspace program on a
//     veth (copy mode: veth has no zero-copy AF_XDP).
//   - udp_gso: ESP in UDP (RFC 3948) with UDP GSO and GRO, as the
//     userspace data path and wireguard-go send theirs: 44 packets per
//     sendmsg, crossing the veth as one super-packet, and coalesced again
//     for the receiver.
//
// For each way it prints the packets delivered (authenticated) per second,
// the CPU time spent per packet (the process's, which includes the kernel
// work done on its threads, and the whole machine's from /proc/stat), and
// the TCP goodput those packets could carry at most: packets/s times the
// TCP payload of a full-size packet through a tunnel whose inner MTU is
// -mtu (1420, the userspace data path's and wireguard-go's default).
//
// The rig: two namespaces joined by a veth pair, 192.0.2.1/24 and
// 192.0.2.2/24. Needs root and iproute2.
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sadb-dev/sadb/internal/testrig"
	"golang.org/x/sys/unix"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

type options struct {
	secs   time.Duration
	ways   []string
	rounds int
	mtu    int
	batch  int
}

var allWays = []string{"raw", "af_xdp", "udp_gso"}

func run(args []string, w io.Writer) int {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	fs.SetOutput(w)
	var o options
	ways := fs.String("ways", strings.Join(allWays, ","), "the ways to measure, comma-separated: "+strings.Join(allWays, ", "))
	fs.DurationVar(&o.secs, "t", 5*time.Second, "how long each measurement runs")
	fs.IntVar(&o.rounds, "rounds", 1, "rounds: the ways alternate within each")
	fs.IntVar(&o.mtu, "mtu", 1420, "the tunnel's inner MTU, which sets the packet size")
	fs.IntVar(&o.batch, "batch", 32, "packets per system call (raw, af_xdp)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, s := range strings.Split(*ways, ",") {
		if !slices.Contains(allWays, s) {
			fmt.Fprintf(w, "floor: unknown way %q (want %s)\n", s, strings.Join(allWays, ", "))
			return 2
		}
		o.ways = append(o.ways, s)
	}
	if o.mtu < 576 || o.mtu > 8000 || o.batch < 1 || o.batch > 256 || o.rounds < 1 || o.secs <= 0 {
		fmt.Fprintln(w, "floor: -mtu must be in [576, 8000], -batch in [1, 256], -rounds and -t positive")
		return 2
	}
	if err := measureAll(o, w); err != nil {
		fmt.Fprintln(w, "floor:", err)
		return 1
	}
	return 0
}

// shape is the size of what one way moves: an ESP packet carrying a
// full-size inner packet of the tunnel, in tunnel mode with AES-GCM-128.
type shape struct {
	inner   int // the inner packet: the tunnel's MTU
	ct      int // the ciphertext: inner packet, padding, pad length, next header
	esp     int // SPI, sequence number, IV, ciphertext, ICV
	goodput int // the TCP payload of a full-size inner packet (IPv4, timestamps)
}

const (
	espHeader = 8  // SPI and sequence number
	ivLen     = 8  // RFC 4106
	icvLen    = 16 // AES-GCM
	ipv4Len   = 20
	udpLen    = 8
	ethLen    = 14
)

func newShape(mtu int) shape {
	ct := (mtu + 2 + 3) &^ 3
	return shape{inner: mtu, ct: ct, esp: espHeader + ivLen + ct + icvLen, goodput: mtu - ipv4Len - 20 - 12}
}

// result is one measurement.
type result struct {
	sent, delivered     uint64
	bad                 uint64 // packets that did not authenticate
	elapsed             time.Duration
	procCPU, machineCPU time.Duration
}

func measureAll(o options, w io.Writer) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (namespaces, raw and AF_XDP sockets, XDP)")
	}
	r, err := newRig()
	if err != nil {
		return err
	}
	defer r.close()
	// An interrupt still removes the namespaces.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer func() {
		signal.Stop(sig)
		close(sig)
	}()
	go func() {
		if _, ok := <-sig; ok {
			r.close()
			os.Exit(130)
		}
	}()

	sh := newShape(o.mtu)
	fmt.Fprintf(w, "floor: %d-byte ESP packets (inner MTU %d, AES-GCM-128, tunnel mode), %d TCP payload bytes each; %s per measurement, %d round(s) [load %s]\n",
		ipv4Len+sh.esp, sh.inner, sh.goodput, o.secs, o.rounds, loadavg())
	var failed []error
	for round := 0; round < o.rounds; round++ {
		for _, way := range o.ways {
			res, err := measure(r, way, sh, o)
			if err != nil {
				// The other ways still run: a machine without AF_XDP
				// still has raw sockets.
				fmt.Fprintf(w, "floor %s failed: %v\n", way, err)
				failed = append(failed, fmt.Errorf("%s: %w", way, err))
				continue
			}
			per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(max(res.delivered, 1)) }
			pps := float64(res.delivered) / res.elapsed.Seconds()
			fmt.Fprintf(w, "floor %-8s %9.0f packets/s delivered (%9.0f sent, %d failed authentication); CPU per packet %5.2fµs process, %5.2fµs machine; at most %5.2f Gbit/s of TCP goodput [load %s]\n",
				way, pps, float64(res.sent)/res.elapsed.Seconds(), res.bad, per(res.procCPU), per(res.machineCPU), pps*float64(sh.goodput)*8/1e9, loadavg())
			if res.bad > 0 {
				failed = append(failed, fmt.Errorf("%s: %d packets failed authentication", way, res.bad))
			}
		}
	}
	return errors.Join(failed...)
}

// measure runs one way for o.secs: a sender in the first namespace, a
// receiver in the second, each on its own thread.
func measure(r *rig, way string, sh shape, o options) (result, error) {
	var tx sender
	var rx receiver
	var err error
	switch way {
	case "raw":
		tx, rx, err = newRaw(r, sh, o.batch)
	case "af_xdp":
		tx, rx, err = newXDP(r, sh, o.batch)
	case "udp_gso":
		tx, rx, err = newUDP(r, sh)
	}
	if err != nil {
		return result{}, err
	}
	defer tx.close()
	defer rx.close()

	var res result
	var stop atomic.Bool
	var wg sync.WaitGroup
	var rxErr, txErr error
	cpu0, mach0 := processCPU(), machineCPU()
	start := time.Now()
	wg.Add(2)
	go func() { defer wg.Done(); res.delivered, res.bad, rxErr = rx.run(&stop) }()
	go func() { defer wg.Done(); res.sent, txErr = tx.run(&stop) }()
	time.Sleep(o.secs)
	stop.Store(true)
	wg.Wait()
	res.elapsed = time.Since(start)
	res.procCPU, res.machineCPU = processCPU()-cpu0, machineCPU()-mach0
	return res, errors.Join(txErr, rxErr)
}

// A sender sends sealed packets until stop is set and reports how many.
type sender interface {
	run(stop *atomic.Bool) (uint64, error)
	close()
}

// A receiver opens what arrives until stop is set and reports how many
// packets authenticated and how many did not. It returns within about
// 100 ms of stop being set.
type receiver interface {
	run(stop *atomic.Bool) (ok, bad uint64, err error)
	close()
}

// sealer seals and opens the ESP packets of one measurement: one key, the
// sequence number as IV.
type sealer struct {
	aead cipher.AEAD
	salt [4]byte
	sh   shape
	seq  uint32
}

func newSealer(sh shape) *sealer {
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &sealer{aead: aead, salt: [4]byte{1, 2, 3, 4}, sh: sh}
}

// seal writes the next ESP packet into b (at least sh.esp bytes): header,
// IV and the sealed inner packet, whose plaintext is b's own bytes.
func (s *sealer) seal(b []byte) {
	s.seq++
	binary.BigEndian.PutUint32(b[0:], 0x1001)
	binary.BigEndian.PutUint32(b[4:], s.seq)
	binary.BigEndian.PutUint64(b[8:], uint64(s.seq))
	var nonce [12]byte
	copy(nonce[:4], s.salt[:])
	copy(nonce[4:], b[8:16])
	ct := b[espHeader+ivLen : espHeader+ivLen+s.sh.ct]
	s.aead.Seal(ct[:0], nonce[:], ct, b[:espHeader])
}

// open authenticates and decrypts the ESP packet b in place.
func (s *sealer) open(b []byte) bool {
	if len(b) != s.sh.esp {
		return false
	}
	var nonce [12]byte
	copy(nonce[:4], s.salt[:])
	copy(nonce[4:], b[8:16])
	ct := b[espHeader+ivLen:]
	_, err := s.aead.Open(ct[:0], nonce[:], ct, b[:espHeader])
	return err == nil
}

func processCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU is the busy time of all CPUs since boot, from /proc/stat.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		var n int64
		fmt.Sscan(v, &n)
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// rig is the two namespaces and their veth pair.
type rig struct {
	a, b     *testrig.Netns
	once     sync.Once
	addrA    [4]byte
	addrB    [4]byte
	ifA, ifB string
}

func newRig() (*rig, error) {
	testrig.SweepNetns()
	a, err := testrig.CreateNetns("floora")
	if err != nil {
		return nil, err
	}
	b, err := testrig.CreateNetns("floorb")
	if err != nil {
		a.Delete()
		return nil, err
	}
	r := &rig{a: a, b: b, addrA: [4]byte{192, 0, 2, 1}, addrB: [4]byte{192, 0, 2, 2}, ifA: "fla", ifB: "flb"}
	for _, c := range [][]string{
		{"link", "add", r.ifA, "type", "veth", "peer", "name", r.ifB, "netns", b.Name},
		{"addr", "add", "192.0.2.1/24", "dev", r.ifA},
		{"link", "set", r.ifA, "up"},
	} {
		if _, err := a.IP(c...); err != nil {
			r.close()
			return nil, err
		}
	}
	for _, c := range [][]string{{"addr", "add", "192.0.2.2/24", "dev", r.ifB}, {"link", "set", r.ifB, "up"}} {
		if _, err := b.IP(c...); err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

func (r *rig) close() {
	r.once.Do(func() {
		r.a.Delete()
		r.b.Delete()
	})
}
