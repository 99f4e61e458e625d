package userspace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sock is one of the backend's sockets: a raw IPPROTO_ESP or IPPROTO_AH
// socket of one address family, or a UDP socket for ESP in UDP. Every
// socket carries the backend's firewall mark, so that what it sends takes
// the normal routes rather than the backend's table.
//
// A UDP socket is driven by the Go runtime's poller through its os.File.
// A raw socket is not: it is blocking, and its reader waits in recvmmsg
// on a thread of its own, which close wakes with shutdown. Plain ESP
// comes one packet per datagram, and every datagram queued on a socket in
// the poller's epoll set wakes the poller's thread when it sleeps: a
// wakeup (on a virtual machine an interrupt between CPUs) per packet,
// which UDP GRO's coalesced datagrams do not pay. A reader blocked in
// recvmmsg is woken by the first packet of a burst and takes the rest
// while it runs. The same holds for sending: the kernel reports
// writability each time a sent packet is freed, so a raw socket sends on
// out, a twin that nobody polls (see openRaw).
//
// recv is called by one goroutine at a time (the socket's reader); send
// by one goroutine at a time per batch (the caller serializes with its
// own batch).
type sock struct {
	f        *os.File
	rc       syscall.RawConn
	v6       bool
	udp      bool
	blocking bool        // a raw socket: not in the poller, see above
	port     uint16      // UDP: the bound port
	closed   atomic.Bool // set by close
	// out is the socket that sends for this one: itself (UDP, whose
	// datagrams must leave from the bound port) or the raw socket's
	// sending twin.
	out *sock
	// gso is set while UDP GSO sends work on the socket (the sender turns
	// it off when the path refuses them); gro when the socket takes
	// coalesced datagrams (UDP_GRO).
	gso atomic.Bool
	gro bool
}

// openRaw opens a raw socket receiving proto (ESP or AH) of one family,
// marked with mark, and if send, its sending twin, with the outer header
// written by the backend (IP_HDRINCL, IPV6_HDRINCL). IPv6 sockets also
// report the destination address of what they receive (IPV6_RECVPKTINFO).
func openRaw(v6 bool, proto int, mark uint32, send bool) (*sock, error) {
	family, level, hdrincl := unix.AF_INET, unix.IPPROTO_IP, unix.IP_HDRINCL
	if v6 {
		family, level, hdrincl = unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL
	}
	in, err := rawSocket(family, proto, mark, []sockopt{{level, hdrincl, 1}})
	if err != nil {
		return nil, err
	}
	// The receiving socket wakes from recvmmsg at least once a second, to
	// see whether it was closed should shutdown not have woken it.
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(in, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(in)
		return nil, fmt.Errorf("userspace: raw socket receive timeout: %w", err)
	}
	if v6 {
		if err := unix.SetsockoptInt(in, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
			unix.Close(in)
			return nil, fmt.Errorf("userspace: raw socket packet info: %w", err)
		}
	}
	s, err := newSock(in, v6, false, 0)
	if err != nil {
		return nil, err
	}
	s.blocking = true
	if !send {
		return s, nil
	}
	// IPPROTO_RAW sends packets of any protocol with the header given
	// (which it implies; set anyway) and receives nothing.
	out, err := rawSocket(family, unix.IPPROTO_RAW, mark, []sockopt{{level, hdrincl, 1}})
	if err != nil {
		s.close()
		return nil, err
	}
	tx, err := newSock(out, v6, false, 0)
	if err != nil {
		s.close()
		return nil, err
	}
	s.out = tx
	tx.blocking = true
	return s, nil
}

type sockopt struct{ level, name, value int }

// rawSocket opens a blocking raw socket of family for proto, marked with
// mark, with opts set and the buffers sized.
func rawSocket(family, proto int, mark uint32, opts []sockopt) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, fmt.Errorf("userspace: raw socket for protocol %d: %w", proto, err)
	}
	for _, o := range append([]sockopt{{unix.SOL_SOCKET, unix.SO_MARK, int(mark)}}, opts...) {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.value); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("userspace: raw socket option %d/%d: %w", o.level, o.name, err)
		}
	}
	setBuffers(fd)
	return fd, nil
}

// openUDP opens the IPv4 UDP socket of ESP in UDP on port, marked with
// mark. It reports the destination address of what it receives
// (IP_PKTINFO) and lets the kernel fragment what it sends.
func openUDP(port uint16, mark uint32) (*sock, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("userspace: UDP socket: %w", err)
	}
	for _, o := range []struct{ level, name, value int }{
		{unix.SOL_SOCKET, unix.SO_MARK, int(mark)},
		{unix.IPPROTO_IP, unix.IP_PKTINFO, 1},
		{unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.value); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("userspace: UDP socket option %d/%d: %w", o.level, o.name, err)
		}
	}
	setBuffers(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(port)}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("userspace: binding UDP port %d: %w", port, err)
	}
	// Offloads where the kernel has them: UDP GSO (Linux 4.18) and GRO
	// (Linux 5.0).
	_, gsoErr := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	groErr := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	s, err := newSock(fd, false, true, port)
	if err != nil {
		return nil, err
	}
	s.gso.Store(gsoErr == nil)
	s.gro = groErr == nil
	return s, nil
}

// sockBuffer is the receive and send buffer size of the backend's sockets:
// a burst of a few thousand packets, while the goroutine that drains the
// socket is off the CPU.
const sockBuffer = 4 << 20

// setBuffers sets fd's buffers to sockBuffer. It forces the size past
// net.core.rmem_max and wmem_max where the process may (CAP_NET_ADMIN,
// which the backend needs anyway); otherwise the kernel caps it there.
// A failure leaves the kernel's default size: slower, not wrong.
func setBuffers(fd int) {
	for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[0], sockBuffer) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[1], sockBuffer)
		}
	}
}

func newSock(fd int, v6, udp bool, port uint16) (*sock, error) {
	f := os.NewFile(uintptr(fd), "sadb-socket")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &sock{f: f, rc: rc, v6: v6, udp: udp, port: port}
	s.out = s
	return s, nil
}

// close closes the socket (and its sending twin), once; readers blocked
// in recv return. A blocking socket's descriptor stays open until its
// reader has left recvmmsg (os.File counts the calls in progress), so
// that a reused descriptor number is never read.
func (s *sock) close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.blocking {
		// Wakes a reader blocked in recvmmsg; raw sockets are not
		// connected, so the kernel answers ENOTCONN, but it has woken it.
		_ = s.rc.Control(func(fd uintptr) { _ = unix.Shutdown(int(fd), unix.SHUT_RD) })
	}
	err := s.f.Close()
	if s.out != s {
		s.out.close()
	}
	return err
}

// cmsgSpace is room for the control messages of one received message:
// IP_PKTINFO or IPV6_PKTINFO, and UDP_GRO (an int).
var cmsgSpace = unix.CmsgSpace(unix.SizeofInet6Pktinfo) + unix.CmsgSpace(4)

// mmsgs is a batch of messages for recvmmsg or sendmmsg, with the address,
// I/O vector and control buffer of each preallocated, so that the packet
// path does not allocate. An mmsgs belongs to one goroutine.
type mmsgs struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // big enough for either family
	oob   []byte                  // cmsgSpace per message

	// The current call, and the results of its last syscall, set by the
	// closures below.
	n      int
	errno  syscall.Errno
	sock   *sock // recv: the socket read
	count  int   // messages to send or receive
	sent   int   // sendmmsg: messages already handled of count
	failed int   // sendmmsg: messages the kernel refused

	// recvFn, sendFn and refusedFn are made once: method values made per
	// call would allocate.
	recvFn, sendFn func(fd uintptr) bool
	refusedFn      func(i int, e syscall.Errno)
}

func newMmsgs(n int) *mmsgs {
	m := &mmsgs{
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
		oob:   make([]byte, n*cmsgSpace),
	}
	for i := range m.hdrs {
		h := &m.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&m.names[i]))
		h.Iov = &m.iovs[i]
		h.SetIovlen(1)
	}
	m.recvFn = m.doRecv
	m.sendFn = m.doSend
	m.refusedFn = m.refused
	return m
}

func (m *mmsgs) doRecv(fd uintptr) bool {
	if m.sock.blocking {
		return m.doRecvBlocking(fd)
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.hdrs[0])), uintptr(m.count), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	m.n, m.errno = int(r), e
	return true
}

// doRecvBlocking waits in recvmmsg until at least one message arrived
// (MSG_WAITFORONE takes the others already queued, up to the batch) or
// the socket was closed. It never returns false: a file outside the
// poller cannot wait for readiness.
func (m *mmsgs) doRecvBlocking(fd uintptr) bool {
	for !m.sock.closed.Load() {
		// Syscall6, not RawSyscall6: the runtime hands the P to another
		// thread while this one waits.
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.hdrs[0])), uintptr(m.count), unix.MSG_WAITFORONE, 0, 0)
		switch {
		case m.sock.closed.Load():
			// Shut down: the kernel reports one empty message.
		case e == unix.EAGAIN || e == unix.EINTR: // the receive timeout
		default:
			m.n, m.errno = int(r), e
			return true
		}
	}
	m.errno = unix.EBADF
	return true
}

func (m *mmsgs) doSend(fd uintptr) bool {
	return sendmmsg(fd, m.hdrs[:m.count], &m.sent, m.refusedFn)
}

// refused counts message i, which the kernel refused with e.
func (m *mmsgs) refused(_ int, e syscall.Errno) {
	m.errno = e
	m.failed++
}

// sendmmsg sends hdrs[*sent:] on fd, advancing *sent past every message
// the kernel took, and past each one it refused after telling refused
// about it. It reports false when the socket's buffer is full (EAGAIN):
// the caller waits until it is writable and calls again.
func sendmmsg(fd uintptr, hdrs []unix.Mmsghdr, sent *int, refused func(i int, e syscall.Errno)) bool {
	for *sent < len(hdrs) {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[*sent])), uintptr(len(hdrs)-*sent), 0, 0, 0)
		switch e {
		case 0:
			*sent += int(r)
		case unix.EAGAIN:
			return false
		case unix.EINTR:
		default:
			refused(*sent, e)
			*sent++
		}
	}
	return true
}

// recv fills bufs (each at its own offset, see prepareRecv) from s and
// returns how many messages arrived.
func (m *mmsgs) recv(s *sock, bufs [][]byte, off int) (int, error) {
	m.count = len(bufs)
	for i := range m.count {
		b := bufs[i][off:]
		m.iovs[i].Base = &b[0]
		m.iovs[i].SetLen(len(b))
		h := &m.hdrs[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.Control = &m.oob[i*cmsgSpace]
		h.SetControllen(cmsgSpace)
		h.Flags = 0
		m.hdrs[i].Len = 0
	}
	m.n, m.errno, m.sock = 0, 0, s
	if err := s.rc.Read(m.recvFn); err != nil {
		return 0, err
	}
	if m.errno != 0 {
		return 0, m.errno
	}
	return m.n, nil
}

// received describes message i of the last recv: its length, the source
// address and port, the destination address from the packet-info control
// message (invalid if there was none), and for coalesced UDP datagrams
// (UDP_GRO) their size, else 0.
func (m *mmsgs) received(i int) (n int, src netip.AddrPort, dst netip.Addr, gso int, truncated bool) {
	h := &m.hdrs[i]
	n = int(h.Len)
	truncated = h.Hdr.Flags&unix.MSG_TRUNC != 0
	name := &m.names[i]
	switch name.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(name))
		src = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:]))
	case unix.AF_INET6:
		src = netip.AddrPortFrom(netip.AddrFrom16(name.Addr), binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&name.Port))[:]))
	}
	oob := m.oob[i*cmsgSpace : i*cmsgSpace+int(h.Hdr.Controllen)]
	for len(oob) >= unix.SizeofCmsghdr {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if int(c.Len) < unix.SizeofCmsghdr || int(c.Len) > len(oob) {
			break
		}
		data := oob[unix.CmsgLen(0):c.Len]
		switch {
		case c.Level == unix.IPPROTO_IP && c.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			dst = netip.AddrFrom4(pi.Addr)
		case c.Level == unix.IPPROTO_IPV6 && c.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			dst = netip.AddrFrom16(pi.Addr)
		case c.Level == unix.SOL_UDP && c.Type == unix.UDP_GRO && len(data) >= 4:
			gso = int(binary.NativeEndian.Uint32(data))
		}
		sp := unix.CmsgSpace(int(c.Len) - unix.CmsgLen(0))
		if sp > len(oob) {
			break
		}
		oob = oob[sp:]
	}
	return n, src, dst, gso, truncated
}

// add queues pkt for sending to dst (for UDP with its port) from src
// (UDP only: the source address, set with IP_PKTINFO; zero lets the
// kernel choose). It reports false when the batch is full.
func (m *mmsgs) add(pkt []byte, dst netip.AddrPort, src netip.Addr) bool {
	i := m.count
	if i == len(m.hdrs) {
		return false
	}
	m.iovs[i].Base = &pkt[0]
	m.iovs[i].SetLen(len(pkt))
	h := &m.hdrs[i].Hdr
	putName(h, &m.names[i], dst)
	h.Control = nil
	h.SetControllen(0)
	if src.IsValid() && src.Is4() {
		oob := m.oob[i*cmsgSpace : (i+1)*cmsgSpace]
		h.Control = &oob[0]
		h.SetControllen(putPktinfo(oob, src))
	}
	m.count++
	return true
}

// flush sends the queued messages on s and empties the batch. It returns
// the number of messages that were not sent, and the last error.
func (m *mmsgs) flush(s *sock) (failed int, err error) {
	if m.count == 0 {
		return 0, nil
	}
	m.sent, m.failed, m.errno = 0, 0, 0
	total := m.count
	err = s.out.rc.Write(m.sendFn)
	failed = m.failed
	if err != nil {
		failed += total - m.sent // the socket was closed: the rest is lost
	} else if m.errno != 0 {
		err = m.errno
	}
	m.count, m.sent = 0, 0
	return failed, err
}

// errClosed reports whether err means the socket or device was closed.
func errClosed(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, unix.EBADF) || errors.Is(err, unix.EBADFD)
}
