package userspace

import (
	"math"
	"sync/atomic"

	"github.com/sadb-dev/sadb/wfp"
)

// Stats are the backend's aggregate packet counters, beyond what
// IPSEC_STATISTICS1 has fields for. The zero value is all zeros.
type Stats struct {
	// Outbound: packets read from the TUN device.
	OutProtected      uint64 // protected and sent
	OutProtectedBytes uint64 // their bytes before protection
	OutClear          uint64 // let out in clear (a PERMIT filter, or no filter)
	OutBlocked        uint64 // dropped by a BLOCK filter
	OutNoSA           uint64 // matched an IPsec filter without a usable SA: dropped
	OutSAExpired      uint64 // the SA's lifetime or sequence numbers were spent: dropped
	OutMalformed      uint64 // not a well-formed IP packet: dropped
	OutReassembled    uint64 // datagrams put back together from fragments before protection
	OutReasmDropped   uint64 // fragments given up on: malformed, overlapping, timed out, evicted, or too large a datagram
	OutFragmented     uint64 // protected packets fragmented to fit the path MTU
	OutSendErrors     uint64 // the kernel refused to send

	// Inbound: ESP and AH packets from the raw and UDP sockets.
	InAccepted       uint64 // decapsulated and written to the TUN device
	InAcceptedBytes  uint64 // their bytes after decapsulation
	InInvalidSPI     uint64 // no SA has the SPI (ESP and AH)
	InReplay         uint64 // replayed or outside the window
	InAuth           uint64 // ICV check failed
	InMalformed      uint64 // truncated, bad padding or next header, bad inner packet
	InSelector       uint64 // the inner packet is not one the SA protects (RFC 4301 §5.2)
	InUDPInvalid     uint64 // ESP in UDP that is malformed or on an SA without UDP (or the reverse)
	InSAExpired      uint64 // the SA's lifetime was spent
	InBundleMismatch uint64 // ESP of an ESP+AH bundle that did not come inside its AH
	InDummy          uint64 // dummy packets (next header 59), discarded (RFC 4303 §2.6)
	InTUNErrors      uint64 // the TUN device refused a packet
}

// stats is the live form of Stats plus the per-protocol split that
// IPSEC_STATISTICS1 wants. Every field is updated atomically by the packet
// goroutines.
type stats struct {
	outProtected, outProtectedBytes, outClear, outBlocked, outNoSA atomic.Uint64
	outSAExpired, outMalformed, outFragmented                      atomic.Uint64
	outReassembled, outReasmDropped, outSendErrors                 atomic.Uint64

	inAccepted, inAcceptedBytes, inSelector, inUDPInvalid, inSAExpired atomic.Uint64
	inMalformed, inBundleMismatch, inDummy, inTUNErrors                atomic.Uint64

	espInvalidSPI, espReplay, espAuth, espDecrypt atomic.Uint64
	ahInvalidSPI, ahReplay, ahAuth                atomic.Uint64

	// Traffic by kind (IPSEC_TRAFFIC_STATISTICS0), bytes before
	// protection or after removing it.
	inEncrypted, inESPAuth, inAHAuth, inTransport, inTunnel      atomic.Uint64
	outEncrypted, outESPAuth, outAHAuth, outTransport, outTunnel atomic.Uint64
}

func (s *stats) snapshot() Stats {
	return Stats{
		OutProtected:      s.outProtected.Load(),
		OutProtectedBytes: s.outProtectedBytes.Load(),
		OutClear:          s.outClear.Load(),
		OutBlocked:        s.outBlocked.Load(),
		OutNoSA:           s.outNoSA.Load(),
		OutSAExpired:      s.outSAExpired.Load(),
		OutMalformed:      s.outMalformed.Load(),
		OutReassembled:    s.outReassembled.Load(),
		OutReasmDropped:   s.outReasmDropped.Load(),
		OutFragmented:     s.outFragmented.Load(),
		OutSendErrors:     s.outSendErrors.Load(),
		InAccepted:        s.inAccepted.Load(),
		InAcceptedBytes:   s.inAcceptedBytes.Load(),
		InInvalidSPI:      s.espInvalidSPI.Load() + s.ahInvalidSPI.Load(),
		InReplay:          s.espReplay.Load() + s.ahReplay.Load(),
		InAuth:            s.espAuth.Load() + s.ahAuth.Load(),
		InMalformed:       s.inMalformed.Load() + s.espDecrypt.Load(),
		InSelector:        s.inSelector.Load(),
		InUDPInvalid:      s.inUDPInvalid.Load(),
		InSAExpired:       s.inSAExpired.Load(),
		InBundleMismatch:  s.inBundleMismatch.Load(),
		InDummy:           s.inDummy.Load(),
		InTUNErrors:       s.inTUNErrors.Load(),
	}
}

// u32 saturates a counter into a 32-bit WFP field.
func u32(v uint64) uint32 { return uint32(min(v, math.MaxUint32)) }

// fill writes the packet parts of IPSEC_STATISTICS1.
func (s *stats) fill(st *wfp.IPsecStatistics1) {
	st.ESPDropPacketStatistics = wfp.IPsecESPDropPacketStatistics0{
		InvalidSPIsOnInbound:            u32(s.espInvalidSPI.Load()),
		DecryptionFailuresOnInbound:     u32(s.espDecrypt.Load()),
		AuthenticationFailuresOnInbound: u32(s.espAuth.Load()),
		ReplayCheckFailuresOnInbound:    u32(s.espReplay.Load()),
	}
	st.AHDropPacketStatistics = wfp.IPsecAHDropPacketStatistics0{
		InvalidSPIsOnInbound:            u32(s.ahInvalidSPI.Load()),
		AuthenticationFailuresOnInbound: u32(s.ahAuth.Load()),
		ReplayCheckFailuresOnInbound:    u32(s.ahReplay.Load()),
	}
	agg := &st.AggregateDropPacketStatistics
	agg.InvalidSPIsOnInbound = u32(s.espInvalidSPI.Load() + s.ahInvalidSPI.Load())
	agg.DecryptionFailuresOnInbound = u32(s.espDecrypt.Load() + s.inMalformed.Load())
	agg.AuthenticationFailuresOnInbound = u32(s.espAuth.Load() + s.ahAuth.Load())
	agg.UDPESPValidationFailuresOnInbound = u32(s.inUDPInvalid.Load())
	agg.ReplayCheckFailuresOnInbound = u32(s.espReplay.Load() + s.ahReplay.Load())
	agg.SANotInitializedOnInbound = u32(s.inSAExpired.Load())
	agg.ReceiveOverIncorrectSAInbound = u32(s.inSelector.Load() + s.inBundleMismatch.Load())
	agg.TotalDropPacketsInbound = u32(s.espInvalidSPI.Load() + s.ahInvalidSPI.Load() + s.espDecrypt.Load() +
		s.inMalformed.Load() + s.espAuth.Load() + s.ahAuth.Load() + s.inUDPInvalid.Load() + s.espReplay.Load() +
		s.ahReplay.Load() + s.inSAExpired.Load() + s.inSelector.Load() + s.inBundleMismatch.Load() + s.inTUNErrors.Load())

	in := &st.InboundTrafficStatistics
	in.EncryptedByteCount = s.inEncrypted.Load()
	in.AuthenticatedESPByteCount = s.inESPAuth.Load()
	in.AuthenticatedAHByteCount = s.inAHAuth.Load()
	in.TransportByteCount = s.inTransport.Load()
	in.TunnelByteCount = s.inTunnel.Load()
	in.TotalSuccessfulPackets = s.inAccepted.Load()
	out := &st.OutboundTrafficStatistics
	out.EncryptedByteCount = s.outEncrypted.Load()
	out.AuthenticatedESPByteCount = s.outESPAuth.Load()
	out.AuthenticatedAHByteCount = s.outAHAuth.Load()
	out.TransportByteCount = s.outTransport.Load()
	out.TunnelByteCount = s.outTunnel.Load()
	out.TotalSuccessfulPackets = s.outProtected.Load()
}

// tally is a packet goroutine's share of the traffic statistics for
// the batch at hand: plain integers, added to stats once per batch
// (flush), so that the goroutines on two CPUs do not trade the cache
// lines of stats for every packet. Drops, which are rare, go to stats
// directly.
type tally struct {
	outProtected, outProtectedBytes, outClear                    uint64
	outEncrypted, outESPAuth, outAHAuth, outTransport, outTunnel uint64
	inAccepted, inAcceptedBytes                                  uint64
	inEncrypted, inESPAuth, inAHAuth, inTransport, inTunnel      uint64
}

// flush adds c to s and zeroes c.
func (c *tally) flush(s *stats) {
	for _, x := range [...]struct {
		v *uint64
		a *atomic.Uint64
	}{
		{&c.outProtected, &s.outProtected}, {&c.outProtectedBytes, &s.outProtectedBytes}, {&c.outClear, &s.outClear},
		{&c.outEncrypted, &s.outEncrypted}, {&c.outESPAuth, &s.outESPAuth}, {&c.outAHAuth, &s.outAHAuth},
		{&c.outTransport, &s.outTransport}, {&c.outTunnel, &s.outTunnel},
		{&c.inAccepted, &s.inAccepted}, {&c.inAcceptedBytes, &s.inAcceptedBytes},
		{&c.inEncrypted, &s.inEncrypted}, {&c.inESPAuth, &s.inESPAuth}, {&c.inAHAuth, &s.inAHAuth},
		{&c.inTransport, &s.inTransport}, {&c.inTunnel, &s.inTunnel},
	} {
		if *x.v != 0 {
			x.a.Add(*x.v)
			*x.v = 0
		}
	}
}
