package userspace

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/sadb-dev/sadb/internal/esp"
	"github.com/sadb-dev/sadb/internal/replay"
)

// Config configures a Backend. The zero value of every field means its
// default; the zero Config is usable.
type Config struct {
	// TUN is the name of the TUN device the backend creates (default
	// DefaultTUN, "sadb0"). A device of that name that already exists is
	// taken over and, when not persistent, removed by Close.
	TUN string
	// MTU is the TUN device's MTU: the largest packet the backend takes
	// before protecting it (default DefaultMTU, 1420, which leaves room for
	// AES-GCM ESP in tunnel mode over a 1500-byte IPv6 link). Protected
	// packets that end up larger than the outgoing link's MTU are
	// fragmented after protection (RFC 4303 §3.3.5).
	MTU int
	// ReplayWindow is the anti-replay window of inbound SAs, in packets
	// (default 64; at most replay.MaxSize). It is rounded up to a multiple
	// of 64.
	ReplayWindow int
	// Mark is the firewall mark (SO_MARK) of the backend's own sockets;
	// packets carrying it bypass the backend's routing table (default
	// DefaultMark). It must not be 0.
	Mark uint32
	// Table is the routing table holding the routes into the TUN device
	// (default DefaultTable).
	Table int
	// RulePriority is the priority of the "not fwmark Mark lookup Table"
	// routing rules, one for IPv4 and one for IPv6 (default
	// DefaultRulePriority). It must sort before the main table's rule
	// (32766).
	RulePriority int
	// UDPPort is the local port of ESP in UDP (RFC 3948), bound on all
	// IPv4 addresses (default esp.NATTPort, 4500). SAs whose local
	// encapsulation port differs get a socket of their own.
	UDPPort uint16
	// KeepaliveInterval is how often an idle outbound UDP-encapsulated SA
	// sends a NAT-keepalive (RFC 3948 §2.3; default 20 s). Negative
	// disables keepalives.
	KeepaliveInterval time.Duration
	// Logger receives operational messages, never key material (default:
	// discard).
	Logger *slog.Logger

	// seqLimit is the last outbound sequence number an SA may use before
	// SequenceExhausted (0: 2^32-1, the limit without ESN). Tests lower it.
	seqLimit uint64
}

// Defaults.
const (
	DefaultTUN          = "sadb0"
	DefaultMTU          = 1420
	DefaultMark         = 0x5adb
	DefaultTable        = 0x5adb
	DefaultRulePriority = 10
	DefaultKeepalive    = 20 * time.Second
)

// Implementation limits.
const (
	// minMTU is the smallest TUN MTU: IPv6 needs 1280 (RFC 8200 §5); IPv4
	// works with less, but a smaller MTU only makes everything fragment.
	minMTU = 576
	// maxMTU bounds the TUN MTU so that a protected packet still fits an
	// IP packet.
	maxMTU = 65535 - maxOverhead
)

func (c Config) withDefaults() (Config, error) {
	if c.TUN == "" {
		c.TUN = DefaultTUN
	}
	if len(c.TUN) >= 16 {
		return c, fmt.Errorf("userspace: TUN name %q is longer than 15 bytes", c.TUN)
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MTU < minMTU || c.MTU > maxMTU {
		return c, fmt.Errorf("userspace: MTU %d not in [%d, %d]", c.MTU, minMTU, maxMTU)
	}
	if c.ReplayWindow == 0 {
		c.ReplayWindow = replay.DefaultSize
	}
	if c.ReplayWindow < 0 || c.ReplayWindow > replay.MaxSize {
		return c, fmt.Errorf("userspace: replay window %d not in [1, %d]", c.ReplayWindow, replay.MaxSize)
	}
	if c.Mark == 0 {
		c.Mark = DefaultMark
	}
	if c.Table == 0 {
		c.Table = DefaultTable
	}
	if c.Table < 0 || c.Table == 253 || c.Table == 254 || c.Table == 255 {
		return c, fmt.Errorf("userspace: routing table %d is reserved (default, main, local) or negative", c.Table)
	}
	if c.RulePriority == 0 {
		c.RulePriority = DefaultRulePriority
	}
	if c.RulePriority < 1 || c.RulePriority >= 32766 {
		return c, fmt.Errorf("userspace: rule priority %d not in [1, 32765]", c.RulePriority)
	}
	if c.UDPPort == 0 {
		c.UDPPort = esp.NATTPort
	}
	if c.KeepaliveInterval == 0 {
		c.KeepaliveInterval = DefaultKeepalive
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.seqLimit == 0 {
		c.seqLimit = math.MaxUint32
	}
	return c, nil
}
