// Package userspace is a data path that carries real IPsec traffic
// without the kernel's ESP: a datapath.Backend that captures the packets
// its SA contexts protect on a TUN device, protects them with ESP or AH
// (internal/esp) and sends them on raw or UDP sockets, and does the
// reverse for what arrives.
//
// # Packet flow
//
//	local stack ──(route in table T, "not fwmark M")──▶ TUN sadb0 (virtio-net header:
//	                                                   TCP/UDP super-packets, checksums left undone)
//	                                                       │ outbound goroutine: reads drained per
//	                                                       │ wakeup into a batch, super-packets split,
//	                                                       │ fragments reassembled
//	                                                       ▼
//	                 SPD: outbound transport-layer filters, highest weight first
//	         PERMIT / no match │            BLOCK │             IPsec callout │
//	                           ▼                  ▼                           ▼
//	         raw socket, mark M (clear)        drop      SA of that filter whose traffic fits
//	                                                    (none: drop and count, never clear)
//	                                                       │ lifetime, ESP/AH, outer header,
//	                                                       │ fragment to the path MTU, in place
//	                                                       ▼
//	         raw IPPROTO_RAW socket (header included): sendmmsg, a message per packet, or
//	         UDP :4500: sendmmsg, runs of datagrams to one peer as one UDP GSO message
//	                                                       │ mark M, normal routes ──▶ the wire
//
//	the wire ──▶ raw ESP socket (v4, v6), raw AH socket (v4, v6), UDP :4500 (UDP_GRO)
//	                │ one goroutine per socket: recvmmsg batches, coalesced runs split
//	                ▼
//	  SPI lookup ─▶ replay check ─▶ ICV ─▶ decrypt ─▶ rebuild the IP header (transport)
//	  or strip the outer one (tunnel) ─▶ inner packet against the SA's selectors
//	  (RFC 4301 §5.2) ─▶ lifetime ─▶ runs of one TCP or UDP flow coalesced in place
//	  (checksums checked) ─▶ TUN sadb0, one write per super-packet ─▶ local stack
//
// Every drop on the way is counted: per SA (replay, ICV, other) and in
// the aggregate statistics (invalid SPI, replay, ICV, decryption,
// selector mismatch, UDP validation), with the rest in Stats.
//
// # Routing and marks
//
// New installs two rules, "not fwmark Mark lookup Table" for IPv4 and
// IPv6 at RulePriority, and keeps routes into the TUN device in Table:
// for every outbound IPsec filter, routes to the addresses of its
// IP_REMOTE_ADDRESS conditions (a tunnel filter's are the remote inner
// subnets), with as source a local address its IP_LOCAL_ADDRESS
// condition admits; a transport filter without remote address conditions
// gets, for each of its outbound SAs, a route to the SA's remote address.
// So protected traffic reaches the TUN device before any SA exists, and
// is dropped there rather than sent in clear. The backend's sockets carry
// SO_MARK Mark: ESP, AH and the packets a PERMIT filter lets out skip the
// table and take the normal routes. Routes are reference-counted; Close
// removes rules, routes and the device.
//
// Decrypted packets enter the stack from the TUN device, whose routes also
// make them pass a strict reverse-path filter. Tunnel gateways that
// forward need net.ipv4.ip_forward (and IPv6 forwarding) as usual.
//
// # The SPD
//
// Outbound packets are classified by the filters at
// FWPM_LAYER_OUTBOUND_TRANSPORT_V4/V6, by effective weight: the first
// filter whose conditions match decides. PERMIT lets the packet out in
// clear (with the mark), BLOCK and other terminating callouts drop it, an
// IPsec transport or tunnel callout sends it through the newest outbound
// SA that refers to that filter and whose traffic fits (transport: the
// SA's local and remote addresses; both modes: its protocol and port
// overrides). A packet no filter matches was routed here by a route of
// another filter and goes out in clear, as WFP permits what no filter
// matches. The fields the data path can see are the addresses, address
// types, protocol and ports (ICMP type and code in the port fields, as in
// WFP); a filter that also tests other fields (interfaces, profiles,
// flags) is taken to match when it protects or blocks and never when it
// permits, so an unknown condition never lets traffic out in clear.
// Inbound, every decrypted packet is checked against the SA's inbound
// filter and traffic the same way.
//
// # Lifetimes and events
//
// Each SA counts its packets and bytes (of the packets before protection
// or after its removal). At 90 % of lifetimeKilobytes or lifetimePackets
// it raises SoftLifetime, at 100 % HardLifetime, and carries nothing more
// from then on. An outbound SA stops after its last sequence number
// (2^32-1; WFP bundles have no ESN) and raises SequenceExhausted. Replay
// and ICV failures are reported with their count, once a second (or with
// a lifetime event that comes first). Events go to the handler from the
// housekeeping goroutine, never from a packet goroutine: an SA with
// something to report queues itself, so reporting costs nothing per
// installed SA.
//
// # Batches and offloads
//
// The kernel's segmentation and receive offloads do most of the work: the
// TUN device is opened with the virtio-net header and TSO/USO, so the local
// stack hands over 64 KiB TCP super-packets, which the outbound goroutine
// cuts into MTU-sized segments (headers and checksums per segment) placed
// straight into its batch with room for ESP around each. Protected
// datagrams of one ESP-in-UDP SA then leave as UDP GSO runs (up to 64
// datagrams of one size, one sendmsg; on a veth they stay one packet up
// to the peer's socket). The receiving UDP socket has UDP_GRO, so a run
// comes back in one message; each ESP packet is opened in place, and runs
// of decrypted segments of one flow are coalesced in place (each payload
// moved back over the bytes of the packets before it) and written to the
// TUN device as one super-packet with CHECKSUM_PARTIAL. Plain ESP cannot
// use UDP GSO or GRO: its packets go one message each, still batched in
// sendmmsg and recvmmsg, and are coalesced for the TUN device the same
// way. Its per-packet cost is mostly the kernel's, so the raw sockets
// stay out of the Go runtime's poller: a socket in its epoll set wakes
// the poller's sleeping thread for every packet queued on it and for
// every sent packet freed (writability), a wakeup between CPUs each,
// which UDP pays once per GSO or GRO run. The raw ESP and AH sockets are
// blocking, each read by a goroutine waiting in recvmmsg on its own
// thread, woken by the first packet of a burst; everything raw is sent on
// a blocking IPPROTO_RAW socket that nothing polls (plain-ESP TCP about
// 30 % faster, UDP 20 %, on the benchmark's rig). What raw sockets can
// move at all bounds plain ESP: bench/datapath/floor measures it, with the
// packets sealed and opened and nothing else (on the benchmark's 2-CPU
// rig, 0.76 times wireguard-go's TCP goodput). A capture on a veth
// shows the UDP GSO runs whole (gso_max_segs 1 on the link makes the
// kernel cut them first, as a NIC would).
//
// Each packet goroutine works in one fixed arena it reuses, and the hot
// path allocates nothing (TestBatchAllocs): buffers, sendmmsg and recvmmsg
// headers, I/O vectors and the poller callbacks are set up once.
//
// # Concurrency
//
//   - One goroutine reads the TUN device and protects and sends what it
//     reads; one goroutine per receiving socket (raw ESP v4 and v6, raw AH
//     v4 and v6, each UDP port) receives, removes the protection and
//     writes to the TUN device. Each runs its batch to completion: a
//     pipeline that handed batches to a sending (or writing) goroutine was
//     measured slower on a loaded 2-CPU machine. Outbound sequence numbers
//     are taken in read order and sent in that order.
//   - One housekeeping goroutine reports the events of the SAs that queued
//     one, sends NAT keepalives for the SAs in UDP and logs drops, once a
//     second (events at once).
//   - Programming (AddFilter, AddSA, ...) is serialized by Backend.mu and
//     never blocks the packet goroutines: the lookup tables are
//     read-copy-update hash maps (rcu.Map) whose writers copy one bucket and
//     publish it with an atomic store, so a packet goroutine looks up
//     without a lock and sees each change either whole or not yet.
//     Netlink calls (routes) run under Backend.mu only. An SA's transforms
//     are safe for concurrent use (package esp); its counters, lifetime
//     state and pending events are atomics. An SA deleted while a packet
//     is being protected with it fails that packet (ErrWiped), counted as
//     expired.
//   - Lookups are O(1) in the number of SAs and filters: inbound by
//     (protocol, SPI); outbound the SPD by tuple space search over the
//     shapes of the filters (spdIndex), then the SA by (filter, addresses);
//     the outbound goroutine also remembers the last flow's decision for as
//     long as the tables do not change (the segments of a super-packet).
//   - Traffic counters are summed per batch and added to the shared
//     atomics once per batch.
//   - Close closes the device and sockets, which ends every goroutine, and
//     waits for them.
//
// Everything runs in the network namespace New was called in: the
// netlink handle and sockets are bound to it.
//
// # Choices and limits
//
//   - When an outbound SA is added, the MTU of the routes into the TUN
//     device that lead to it is lowered to the path MTU less the SA's
//     worst-case overhead, so the local stack sizes its packets to fit
//     once protected. Outer headers never carry DF; a protected packet
//     that is still too large is fragmented after protection. The TUN MTU
//     (default 1420) keeps AES-GCM packets whole on 1500-byte links.
//   - Fragments the local stack made (of a datagram larger than the MTU
//     of its route into the device) are reassembled before the SPD lookup
//     and the datagram protected whole, in both modes (RFC 4303 §3.3.4:
//     transport mode applies to whole datagrams; RFC 4301 §7: only a
//     whole datagram has ports to match): see reassembly.go.
//   - In transport mode over UDP, the TCP or UDP checksum of each
//     decapsulated packet is recomputed (RFC 3948 §3.1.2).
//   - Inbound cleartext that a filter says should have been protected is
//     not seen: it never passes the TUN device. The kernel delivers it.
//     Dropping it needs a netfilter rule, which this backend does not
//     install.
//   - NAT keepalives go out when an outbound UDP-encapsulated SA has sent
//     nothing for the keepalive interval, checked once a second.
//   - ESP in UDP is IPv4 only (as in WFP), on a UDP socket per local
//     encapsulation port: a keying daemon on the same host must not bind
//     that port; IKE messages (Non-ESP Marker) arriving there are ignored.
package userspace
