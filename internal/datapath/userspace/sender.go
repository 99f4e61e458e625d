package userspace

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP GSO (UDP_SEGMENT, Linux 4.18): one sendmsg carries a run of
// datagrams of one size (the last may be shorter) to one destination,
// and the kernel cuts them apart as late as it can — on a veth pair not
// at all: the peer's socket with UDP_GRO takes the run as it is.
const (
	// maxGSOSegments is the kernel's limit of datagrams per UDP GSO send
	// (UDP_MAX_SEGMENTS on older kernels).
	maxGSOSegments = 64
	// maxGSOBytes bounds the payload of one UDP GSO send (an IPv4 packet
	// of 65535 bytes less the IP and UDP headers).
	maxGSOBytes = 65535 - 20 - 8
)

// sendCmsgSpace is room for the control messages of one sent message:
// IP_PKTINFO (the source address) and UDP_SEGMENT.
var sendCmsgSpace = unix.CmsgSpace(unix.SizeofInet4Pktinfo) + unix.CmsgSpace(2)

// sender sends the outbound batches. It belongs to the outbound
// goroutine.
type sender struct {
	b     *Backend
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	segs  []int // datagrams each header carries
	names []unix.RawSockaddrInet6
	oob   []byte
	count int // headers prepared
	niov  int // iovecs they use
	s     *sock

	sent   int
	failed int
	errno  syscall.Errno
	// sendFn and refusedFn are doSend and refused, made once: method
	// values made per call would allocate.
	sendFn    func(fd uintptr) bool
	refusedFn func(i int, e syscall.Errno)
}

func newSender(b *Backend) *sender {
	x := &sender{
		b:     b,
		hdrs:  make([]unix.Mmsghdr, obatchMsgs),
		iovs:  make([]unix.Iovec, obatchMsgs),
		segs:  make([]int, obatchMsgs),
		names: make([]unix.RawSockaddrInet6, obatchMsgs),
		oob:   make([]byte, obatchMsgs*sendCmsgSpace),
	}
	x.sendFn, x.refusedFn = x.doSend, x.refused
	return x
}

// send sends every message of bt: runs of messages on one socket in one
// sendmmsg, runs of equal-sized datagrams to one peer in one UDP GSO
// message.
func (x *sender) send(bt *obatch) {
	msgs := bt.msgs
	for i := 0; i < len(msgs); {
		m := &msgs[i]
		if m.s != x.s {
			x.flush()
			x.s = m.s
		}
		n := 1
		if m.s.udp && !m.alone && m.s.gso.Load() {
			// The run: same destination and source, same size (the last
			// may be shorter), contiguous iovecs not needed.
			total := m.n
			for i+n < len(msgs) && n < maxGSOSegments {
				q := &msgs[i+n]
				if q.s != m.s || q.dst != m.dst || q.src != m.src || q.alone || q.n > m.n || total+q.n > maxGSOBytes || msgs[i+n-1].n != m.n {
					break
				}
				total += q.n
				n++
			}
		}
		x.prepare(bt, msgs[i:i+n])
		i += n
	}
	x.flush()
}

// prepare adds one message carrying the datagrams ms (one unless GSO).
func (x *sender) prepare(bt *obatch, ms []omsg) {
	if x.count == len(x.hdrs) || x.niov+len(ms) > len(x.iovs) {
		x.flush()
	}
	i := x.count
	first := x.niov
	x.niov += len(ms)
	for j := range ms {
		setIov(&x.iovs[first+j], bt.arena[ms[j].off:ms[j].off+ms[j].n])
	}
	m := &ms[0]
	h := &x.hdrs[i].Hdr
	h.Iov = &x.iovs[first]
	h.SetIovlen(len(ms))
	x.segs[i] = len(ms)
	putName(h, &x.names[i], m.dst)
	oob := x.oob[i*sendCmsgSpace : (i+1)*sendCmsgSpace]
	n := 0
	if m.src.IsValid() && m.src.Is4() {
		n += putPktinfo(oob, m.src)
	}
	if len(ms) > 1 {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&oob[n]))
		c.Level, c.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		c.SetLen(unix.CmsgLen(2))
		binary.NativeEndian.PutUint16(oob[n+unix.CmsgLen(0):], uint16(m.n))
		n += unix.CmsgSpace(2)
	}
	h.Control = nil
	if n > 0 {
		h.Control = &oob[0]
	}
	h.SetControllen(n)
	x.count++
}

// putName points h's destination at name, set to dst.
func putName(h *unix.Msghdr, name *unix.RawSockaddrInet6, dst netip.AddrPort) {
	h.Name = (*byte)(unsafe.Pointer(name))
	a := dst.Addr()
	if a.Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(name))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], dst.Port())
		h.Namelen = unix.SizeofSockaddrInet4
		return
	}
	*name = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&name.Port))[:], dst.Port())
	h.Namelen = unix.SizeofSockaddrInet6
}

// putPktinfo writes an IP_PKTINFO control message choosing the source
// address src into oob and returns its space.
func putPktinfo(oob []byte, src netip.Addr) int {
	clear(oob[:unix.CmsgSpace(unix.SizeofInet4Pktinfo)])
	c := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	c.Level, c.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
	c.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
	pi.Spec_dst = src.As4()
	return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
}

func (x *sender) doSend(fd uintptr) bool {
	return sendmmsg(fd, x.hdrs[:x.count], &x.sent, x.refusedFn)
}

// refused counts the datagrams of message i, which the kernel refused
// with e. A UDP GSO send the path cannot take (no checksum offload: EIO)
// turns GSO off for the socket.
func (x *sender) refused(i int, e syscall.Errno) {
	if x.segs[i] > 1 && (e == unix.EIO || e == unix.EINVAL || e == unix.ENOTSUP) {
		x.s.gso.Store(false)
	}
	x.errno = e
	x.failed += x.segs[i]
}

// flush sends the prepared messages.
func (x *sender) flush() {
	if x.count == 0 {
		return
	}
	x.sent, x.failed, x.errno = 0, 0, 0
	err := x.s.out.rc.Write(x.sendFn)
	failed := x.failed
	if err != nil {
		for i := x.sent; i < x.count; i++ {
			failed += x.segs[i] // the socket was closed: the rest is lost
		}
	} else if x.errno != 0 {
		err = x.errno
	}
	if failed > 0 {
		x.b.stats.outSendErrors.Add(uint64(failed))
		x.b.logSendError(err)
	}
	x.count, x.niov = 0, 0
}
