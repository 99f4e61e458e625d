package main

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgs is a batch of messages for sendmmsg and recvmmsg, each with one
// buffer of its own.
type mmsgs struct {
	bufs [][]byte
	iov  []unix.Iovec
	hdrs []mmsghdr
}

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

func newMmsgs(n, size int) *mmsgs {
	m := &mmsgs{bufs: make([][]byte, n), iov: make([]unix.Iovec, n), hdrs: make([]mmsghdr, n)}
	for i := range m.bufs {
		m.bufs[i] = make([]byte, size)
		m.iov[i].Base = &m.bufs[i][0]
		m.iov[i].SetLen(size)
		m.hdrs[i].hdr.Iov = &m.iov[i]
		m.hdrs[i].hdr.Iovlen = 1
	}
	return m
}

func (m *mmsgs) call(trap uintptr, fd int) (int, error) {
	n, _, e := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&m.hdrs[0])), uintptr(len(m.hdrs)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawTx sends plain ESP on an IPPROTO_RAW socket, the outer header its own.
type rawTx struct {
	fd  int
	m   *mmsgs
	to  unix.RawSockaddrInet4
	s   *sealer
	src [4]byte
}

// rawRx receives plain ESP on an IPPROTO_ESP socket.
type rawRx struct {
	fd int
	m  *mmsgs
	s  *sealer
}

func newRaw(r *rig, sh shape, batch int) (sender, receiver, error) {
	tx := &rawTx{m: newMmsgs(batch, ipv4Len+sh.esp), s: newSealer(sh), src: r.addrA}
	rx := &rawRx{m: newMmsgs(batch, 2048), s: newSealer(sh)}
	tx.to.Family = unix.AF_INET
	tx.to.Addr = r.addrB
	for i := range tx.m.hdrs {
		tx.m.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&tx.to))
		tx.m.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet4
	}
	err := r.a.Do(func() (err error) {
		tx.fd, err = socket(unix.SOCK_RAW, unix.IPPROTO_RAW)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	err = r.b.Do(func() (err error) {
		rx.fd, err = socket(unix.SOCK_RAW, unix.IPPROTO_ESP)
		return err
	})
	if err != nil {
		tx.close()
		return nil, nil, err
	}
	return tx, rx, nil
}

// socket opens an IPv4 socket of typ for proto with 4 MiB buffers and a
// 100 ms receive timeout, so that receivers see stop in time.
func socket(typ, proto int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, fmt.Errorf("socket for protocol %d: %w", proto, err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	tv := unix.Timeval{Usec: 100_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// afterIPv4 returns what follows the IPv4 header at the start of b.
func afterIPv4(b []byte) ([]byte, bool) {
	if len(b) < ipv4Len {
		return nil, false
	}
	ihl := int(b[0]&0xf) * 4
	if ihl < ipv4Len || ihl > len(b) {
		return nil, false
	}
	return b[ihl:], true
}

// putIPv4 writes an IPv4 header for an ESP packet of n bytes of payload;
// the kernel fills in the checksum and the identification.
func putIPv4(b []byte, n int, src, dst [4]byte) {
	clear(b[:ipv4Len])
	b[0] = 0x45
	l := ipv4Len + n
	b[2], b[3] = byte(l>>8), byte(l)
	b[8] = 64
	b[9] = unix.IPPROTO_ESP
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
}

func (t *rawTx) run(stop *atomic.Bool) (uint64, error) {
	var sent uint64
	for !stop.Load() {
		for i, b := range t.m.bufs {
			putIPv4(b, t.s.sh.esp, t.src, t.to.Addr)
			t.s.seal(b[ipv4Len:])
			t.m.iov[i].SetLen(ipv4Len + t.s.sh.esp)
		}
		n, err := t.m.call(unix.SYS_SENDMMSG, t.fd)
		if err != nil && !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
			return sent, fmt.Errorf("sendmmsg: %w", err)
		}
		sent += uint64(n)
	}
	return sent, nil
}

func (t *rawTx) close() { unix.Close(t.fd) }

func (x *rawRx) run(stop *atomic.Bool) (ok, bad uint64, err error) {
	for !stop.Load() {
		for i := range x.m.iov {
			x.m.iov[i].SetLen(len(x.m.bufs[i]))
		}
		n, err := x.m.call(unix.SYS_RECVMMSG, x.fd)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return ok, bad, fmt.Errorf("recvmmsg: %w", err)
		}
		for i := range n {
			esp, ok4 := afterIPv4(x.m.bufs[i][:x.m.hdrs[i].n])
			if !ok4 || !x.s.open(esp) {
				bad++
				continue
			}
			ok++
		}
	}
	return ok, bad, nil
}

func (x *rawRx) close() { unix.Close(x.fd) }
