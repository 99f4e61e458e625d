package kernelpeer

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/sadb-dev/sadb/internal/testrig/echo"
	"github.com/sadb-dev/sadb/internal/testrig/kernelpeer/agent"
)

// Algorithm is an ESP transform in the kernel's terms.
type Algorithm struct {
	// AEAD is an AEAD algorithm (e.g. "rfc4106(gcm(aes))") with key
	// AEADKey (for RFC 4106: the AES key followed by the 4-byte salt) and
	// an ICV of ICVBits bits. Empty: Enc and Auth.
	AEAD    string
	AEADKey []byte
	ICVBits int
	// Enc and Auth are an encryption and an integrity algorithm (e.g.
	// "cbc(aes)" and "hmac(sha256)") with their keys; the ICV is
	// truncated to AuthTruncBits bits.
	Enc           string
	EncKey        []byte
	Auth          string
	AuthKey       []byte
	AuthTruncBits int
	// AH makes the SA an AH SA (RFC 4302) with Auth alone.
	AH bool
}

// Proto is the SA's IPsec protocol as ip xfrm names it: esp or ah.
func (a Algorithm) Proto() string { return protoName(a.AH) }

func protoName(ah bool) string {
	if ah {
		return "ah"
	}
	return "esp"
}

// GCM returns AES-GCM with a 16-octet ICV (RFC 4106); key is the AES key
// followed by the 4-byte salt, as in sadb's key files.
func GCM(key []byte) Algorithm {
	return Algorithm{AEAD: "rfc4106(gcm(aes))", AEADKey: key, ICVBits: 128}
}

// CBCSHA256 returns AES-CBC (RFC 3602) with HMAC-SHA-256-128 (RFC 4868).
func CBCSHA256(encKey, authKey []byte) Algorithm {
	return Algorithm{Enc: "cbc(aes)", EncKey: encKey, Auth: "hmac(sha256)", AuthKey: authKey, AuthTruncBits: 128}
}

// GMAC returns AES-GMAC, ESP with integrity only (RFC 4543); key is the
// AES key followed by the 4-byte salt.
func GMAC(key []byte) Algorithm {
	return Algorithm{AEAD: "rfc4543(gcm(aes))", AEADKey: key, ICVBits: 128}
}

// NullSHA256 returns ESP with NULL encryption (RFC 2410) and
// HMAC-SHA-256-128.
func NullSHA256(authKey []byte) Algorithm {
	return Algorithm{Enc: "ecb(cipher_null)", Auth: "hmac(sha256)", AuthKey: authKey, AuthTruncBits: 128}
}

// AHSHA256 returns AH with HMAC-SHA-256-128 (RFC 4302, RFC 4868).
func AHSHA256(authKey []byte) Algorithm {
	return Algorithm{AH: true, Auth: "hmac(sha256)", AuthKey: authKey, AuthTruncBits: 128}
}

func (a Algorithm) args() string {
	auth := fmt.Sprintf("auth-trunc %s 0x%s %d", shellQuote(a.Auth), hex.EncodeToString(a.AuthKey), a.AuthTruncBits)
	switch {
	case a.AEAD != "":
		return fmt.Sprintf("aead %s 0x%s %d", shellQuote(a.AEAD), hex.EncodeToString(a.AEADKey), a.ICVBits)
	case a.AH:
		return auth
	case len(a.EncKey) == 0:
		return fmt.Sprintf("enc %s '' %s", shellQuote(a.Enc), auth)
	}
	return fmt.Sprintf("enc %s 0x%s %s", shellQuote(a.Enc), hex.EncodeToString(a.EncKey), auth)
}

// State is an ESP or AH SA of the guest kernel (ip xfrm state).
type State struct {
	// Src and Dst are the SA's addresses as the guest sees them.
	Src, Dst netip.Addr
	SPI      uint32
	// ReqID ties the SA to the policies with the same ReqID.
	ReqID uint32
	// Tunnel selects tunnel mode (default transport).
	Tunnel bool
	Alg    Algorithm
	// EncapSport and EncapDport, when not zero, are the UDP ports of ESP
	// in UDP (RFC 3948) as the guest sees them.
	EncapSport, EncapDport uint16
	// ReplayWindow is the inbound anti-replay window (default 64).
	ReplayWindow int
	// Align4 pads an IPv4 AH to 32 bits, as RFC 4302 says; without it
	// Linux pads to 64 bits, and takes only that.
	Align4 bool
}

func (s State) command() string {
	mode := "transport"
	if s.Tunnel {
		mode = "tunnel"
	}
	w := s.ReplayWindow
	if w == 0 {
		w = 64
	}
	cmd := fmt.Sprintf("xip xfrm state add src %s dst %s proto %s spi 0x%08x reqid %d mode %s replay-window %d %s",
		s.Src, s.Dst, s.Alg.Proto(), s.SPI, s.ReqID, mode, w, s.Alg.args())
	if s.EncapSport != 0 || s.EncapDport != 0 {
		cmd += fmt.Sprintf(" encap espinudp %d %d 0.0.0.0", s.EncapSport, s.EncapDport)
	}
	if s.Align4 {
		cmd += " flag align4"
	}
	return cmd
}

// Policy is a guest policy (ip xfrm policy) that requires ESP (or AH)
// with the SAs of ReqID between TmplSrc and TmplDst, or with Bypass lets
// its traffic pass in clear.
type Policy struct {
	// AH requires AH instead of ESP.
	AH       bool
	Src, Dst netip.Prefix
	// ICMPv6Type, when not zero, narrows the selector to ICMPv6 messages
	// of that type.
	ICMPv6Type int
	// Bypass lets the traffic pass without IPsec (no template).
	Bypass bool
	// Priority orders overlapping policies: the lowest wins.
	Priority int
	// Dir is "in", "out" or "fwd".
	Dir string
	// TmplSrc and TmplDst are the SA's addresses (tunnel mode); zero in
	// transport mode.
	TmplSrc, TmplDst netip.Addr
	ReqID            uint32
	Tunnel           bool
}

func (p Policy) command() string {
	sel := fmt.Sprintf("src %s dst %s", p.Src, p.Dst)
	if p.ICMPv6Type != 0 {
		sel += fmt.Sprintf(" proto 58 type %d", p.ICMPv6Type) // ICMPv6; the guest has no /etc/protocols
	}
	cmd := fmt.Sprintf("xip xfrm policy add %s dir %s priority %d", sel, p.Dir, p.Priority)
	if p.Bypass {
		return cmd
	}
	mode, tmpl := "transport", ""
	if p.Tunnel {
		mode, tmpl = "tunnel", fmt.Sprintf("src %s dst %s ", p.TmplSrc, p.TmplDst)
	}
	return cmd + fmt.Sprintf(" tmpl %sproto %s reqid %d mode %s", tmpl, protoName(p.AH), p.ReqID, mode)
}

// Configure replaces the guest's XFRM configuration by states and
// policies, in one guest command.
func (p *Peer) Configure(ctx context.Context, states []State, policies []Policy) error {
	cmds := []string{"set -e", "xip xfrm policy flush", "xip xfrm state flush"}
	for _, s := range states {
		cmds = append(cmds, s.command())
	}
	for _, pol := range policies {
		cmds = append(cmds, pol.command())
	}
	_, err := p.Run(ctx, strings.Join(cmds, "\n"))
	return err
}

// Flush removes every XFRM state and policy of the guest.
func (p *Peer) Flush(ctx context.Context) error {
	return p.Configure(ctx, nil, nil)
}

// StateStats are one guest state's identity and counters, from
// ip -s xfrm state.
type StateStats struct {
	Src, Dst netip.Addr
	SPI      uint32
	// Bytes and Packets are the kernel's lifetime counters (curlft).
	Bytes, Packets uint64
	// ReplayWindow, Replay and Failed are the kernel's drop counters
	// ("stats:" line): replay window, replayed, failed integrity checks.
	ReplayWindow, Replay, Failed uint64
	// Seq and OSeq are the anti-replay context's highest inbound and last
	// outbound sequence numbers.
	Seq, OSeq uint64
}

var (
	reStateHead = regexp.MustCompile(`(?m)^src (\S+) dst (\S+)$`)
	reSPI       = regexp.MustCompile(`proto (?:esp|ah) spi 0x([0-9a-f]+)`)
	reCurrent   = regexp.MustCompile(`lifetime current:\s+(\d+)\(bytes\), (\d+)\(packets\)`)
	reStats     = regexp.MustCompile(`stats:\s+replay-window (\d+) replay (\d+) failed (\d+)`)
	reSeq       = regexp.MustCompile(`anti-replay (?:esn )?context:\s*(?:seq-hi 0x[0-9a-f]+, )?seq 0x([0-9a-f]+), (?:oseq-hi 0x[0-9a-f]+, )?oseq 0x([0-9a-f]+)`)
)

// ParseStates parses the output of ip -s xfrm state.
func ParseStates(out string) ([]StateStats, error) {
	heads := reStateHead.FindAllStringSubmatchIndex(out, -1)
	var states []StateStats
	for i, h := range heads {
		end := len(out)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		block := out[h[0]:end]
		var s StateStats
		var err error
		if s.Src, err = netip.ParseAddr(out[h[2]:h[3]]); err != nil {
			return nil, err
		}
		if s.Dst, err = netip.ParseAddr(out[h[4]:h[5]]); err != nil {
			return nil, err
		}
		m := reSPI.FindStringSubmatch(block)
		c := reCurrent.FindStringSubmatch(block)
		st := reStats.FindStringSubmatch(block)
		if m == nil || c == nil || st == nil {
			return nil, fmt.Errorf("kernelpeer: cannot parse state:\n%s", block)
		}
		spi, _ := strconv.ParseUint(m[1], 16, 32)
		s.SPI = uint32(spi)
		s.Bytes, _ = strconv.ParseUint(c[1], 10, 64)
		s.Packets, _ = strconv.ParseUint(c[2], 10, 64)
		s.ReplayWindow, _ = strconv.ParseUint(st[1], 10, 64)
		s.Replay, _ = strconv.ParseUint(st[2], 10, 64)
		s.Failed, _ = strconv.ParseUint(st[3], 10, 64)
		if q := reSeq.FindStringSubmatch(block); q != nil {
			s.Seq, _ = strconv.ParseUint(q[1], 16, 64)
			s.OSeq, _ = strconv.ParseUint(q[2], 16, 64)
		}
		states = append(states, s)
	}
	return states, nil
}

// States returns the guest's states and their counters.
func (p *Peer) States(ctx context.Context) ([]StateStats, error) {
	out, err := p.Run(ctx, "xip -s xfrm state")
	if err != nil {
		return nil, err
	}
	return ParseStates(out)
}

// State returns the counters of the guest's state with the given SPI.
func (p *Peer) State(ctx context.Context, spi uint32) (StateStats, error) {
	states, err := p.States(ctx)
	if err != nil {
		return StateStats{}, err
	}
	for _, s := range states {
		if s.SPI == spi {
			return s, nil
		}
	}
	return StateStats{}, fmt.Errorf("kernelpeer: the guest has no state with SPI 0x%08x", spi)
}

// XfrmStat returns the guest's non-zero XFRM error counters
// (/proc/net/xfrm_stat).
func (p *Peer) XfrmStat(ctx context.Context) (map[string]uint64, error) {
	out, err := p.Run(ctx, "cat /proc/net/xfrm_stat")
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			if n, err := strconv.ParseUint(f[1], 10, 64); err == nil && n != 0 {
				m[f[0]] = n
			}
		}
	}
	return m, nil
}

// Encap opens (once) the guest's UDP socket on port with
// UDP_ENCAP_ESPINUDP, without which the guest kernel ignores ESP in UDP.
func (p *Peer) Encap(ctx context.Context, port uint16) error {
	_, err := p.call(ctx, &agent.Request{Op: agent.OpEncap, Port: port})
	return err
}

// EchoServer starts (once) an echo server in the guest on network
// ("tcp4", "udp6", ...) and addr.
func (p *Peer) EchoServer(ctx context.Context, network, addr string) error {
	_, err := p.call(ctx, &agent.Request{Op: agent.OpEchoServer, Network: network, Addr: addr})
	return err
}

// EchoTCP has the guest connect to addr (IPv4 or IPv6) and move n bytes
// through an echo server there.
func (p *Peer) EchoTCP(ctx context.Context, addr string, n int64) (echo.Result, error) {
	resp, err := p.call(ctx, &agent.Request{Op: agent.OpEchoClient, Network: "tcp", Addr: addr, Bytes: n})
	if err != nil {
		return echo.Result{}, err
	}
	return resp.EchoResult()
}

// EchoUDP has the guest send count datagrams of size bytes to an echo
// server at addr, one at a time.
func (p *Peer) EchoUDP(ctx context.Context, addr string, count, size int) (echo.Result, error) {
	resp, err := p.call(ctx, &agent.Request{Op: agent.OpEchoClient, Network: "udp", Addr: addr, Count: count, Size: size})
	if err != nil {
		return echo.Result{}, err
	}
	return resp.EchoResult()
}
