package userspace

import "github.com/sadb-dev/sadb/internal/esp"

// Specification constants.
const (
	// protoICMP and protoICMPv6 carry ICMP type and code where WFP and
	// RFC 4301 §4.4.1.1 put the ports: the type in IP_LOCAL_PORT, the code
	// in IP_REMOTE_PORT (FWPM_CONDITION_ICMP_TYPE/CODE are those fields).
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
	protoSCTP   = 132
	protoESP    = esp.ProtoESP
	protoAH     = esp.ProtoAH

	// ipv6FragmentHeaderSize is the IPv6 Fragment header (RFC 8200 §4.5).
	ipv6FragmentHeaderSize = 8
	// ipv6MinMTU is the smallest link MTU IPv6 allows (RFC 8200 §5).
	ipv6MinMTU = 1280
)

// Implementation constants.
const (
	// maxOverhead bounds what protection adds to a packet: an outer IPv6
	// header (40; IPv4 with UDP is 28), the ESP header and IV (24 for
	// AES-CBC), padding, Pad Length and Next Header (17), the ICV (16) and
	// an AH over IPv6 (40).
	maxOverhead = 40 + 24 + 17 + 16 + 40

	// headroom is the space left in front of every packet buffer: the
	// outer headers go there, and the TUN device's virtio header in front
	// of them.
	headroom = 160
	// tailroom is the space after a packet for the ESP trailer.
	tailroom = 64
	// ahRegions is the batch of the AH sockets, which see little
	// traffic.
	ahRegions = 4
	// maxRoutesPerFilter bounds the routes one filter condition expands
	// into (a NOT_EQUAL or a range becomes several prefixes).
	maxRoutesPerFilter = 256
)
