package userspace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The TUN device, with the virtio-net header (IFF_VNET_HDR) in front of
// every packet so that the kernel can hand over TCP and UDP super-packets
// (TSO, USO) with their checksums left to us (CHECKSUM_PARTIAL), and take
// coalesced ones (GRO) the same way. The packet goroutines read and write
// it directly: reads drain whatever the kernel has queued in one wakeup,
// straight into batch memory (readv: the header to the side, the packet in
// place, the rest of a super-packet into a spill buffer).

// virtio-net header (struct virtio_net_hdr, include/uapi/linux/virtio_net.h).
const (
	vnetHdrLen = 10

	vnetFlags      = 0
	vnetGSOType    = 1
	vnetHdrLenOff  = 2
	vnetGSOSize    = 4
	vnetCsumStart  = 6
	vnetCsumOffset = 8
)

// vnetHdr is a decoded virtio-net header.
type vnetHdr struct {
	flags, gsoType                         uint8
	hdrLen, gsoSize, csumStart, csumOffset uint16
}

func (h *vnetHdr) decode(b []byte) {
	h.flags, h.gsoType = b[vnetFlags], b[vnetGSOType]
	h.hdrLen = binary.NativeEndian.Uint16(b[vnetHdrLenOff:])
	h.gsoSize = binary.NativeEndian.Uint16(b[vnetGSOSize:])
	h.csumStart = binary.NativeEndian.Uint16(b[vnetCsumStart:])
	h.csumOffset = binary.NativeEndian.Uint16(b[vnetCsumOffset:])
}

func (h *vnetHdr) encode(b []byte) {
	b[vnetFlags], b[vnetGSOType] = h.flags, h.gsoType
	binary.NativeEndian.PutUint16(b[vnetHdrLenOff:], h.hdrLen)
	binary.NativeEndian.PutUint16(b[vnetGSOSize:], h.gsoSize)
	binary.NativeEndian.PutUint16(b[vnetCsumStart:], h.csumStart)
	binary.NativeEndian.PutUint16(b[vnetCsumOffset:], h.csumOffset)
}

// tunDev is the backend's TUN device. Reads belong to the outbound
// goroutine, writes to the TUN writer goroutine; Close wakes both.
type tunDev struct {
	f    *os.File
	rc   syscall.RawConn
	name string
	// uso is set when the kernel takes UDP super-packets (GSO UDP_L4,
	// Linux 6.2), so that the writer may coalesce UDP datagrams too.
	uso bool
}

// Offloads the backend asks for: checksums and TSO in both directions;
// USO where the kernel has it. Not TSO_ECN: a super-packet with CWR set is
// split by the kernel.
const (
	tunTCPOffloads = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6
	tunUDPOffloads = unix.TUN_F_USO4 | unix.TUN_F_USO6
)

// openTUN creates (or takes over) the TUN device name, with the
// virtio-net header and offloads, non-blocking under the Go poller.
func openTUN(name string) (*tunDev, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	t := &tunDev{name: ifr.Name()}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunTCPOffloads|tunUDPOffloads); err == nil {
		t.uso = true
	} else if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunTCPOffloads); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETOFFLOAD: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	t.f = os.NewFile(uintptr(fd), "/dev/net/tun")
	if t.rc, err = t.f.SyscallConn(); err != nil {
		t.f.Close()
		return nil, err
	}
	return t, nil
}

// Close closes the device; a device that is not persistent goes away.
func (t *tunDev) Close() error { return t.f.Close() }

// tunReader reads packets from a tunDev with readv, without allocating:
// the I/O vector and the poller callback are set up once.
type tunReader struct {
	t    *tunDev
	iov  [3]unix.Iovec
	niov int
	wait bool // block until a packet comes; else report none
	n    int
	err  syscall.Errno
	fn   func(fd uintptr) bool
}

func newTUNReader(t *tunDev) *tunReader {
	r := &tunReader{t: t}
	r.fn = r.doRead
	return r
}

func (r *tunReader) doRead(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&r.iov[0])), uintptr(r.niov))
		switch e {
		case 0:
			r.n = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if r.wait {
				return false // park on the poller
			}
			r.n = 0
			return true
		}
		r.err = e
		return true
	}
}

// read reads one packet: its virtio-net header into hdr, then into first,
// then (a super-packet's rest) into spill. With wait it blocks until a
// packet comes; without, it returns 0 when none is queued. It returns the
// bytes read after the header.
func (r *tunReader) read(hdr, first, spill []byte, wait bool) (int, error) {
	setIov(&r.iov[0], hdr)
	setIov(&r.iov[1], first)
	r.niov = 2
	if len(spill) > 0 {
		setIov(&r.iov[2], spill)
		r.niov = 3
	}
	r.wait, r.n, r.err = wait, 0, 0
	if err := r.t.rc.Read(r.fn); err != nil {
		return 0, err
	}
	if r.err != 0 {
		if r.err == unix.EBADFD {
			return 0, os.ErrClosed
		}
		return 0, r.err
	}
	if r.n == 0 {
		return 0, nil
	}
	if r.n < vnetHdrLen {
		return 0, errShortTUNRead
	}
	return r.n - vnetHdrLen, nil
}

// errShortTUNRead: the device returned less than a virtio-net header.
var errShortTUNRead = errors.New("userspace: short read from the TUN device")

func setIov(v *unix.Iovec, b []byte) {
	v.Base = unsafe.SliceData(b)
	v.SetLen(len(b))
}

// tunWriter writes packets (each with its virtio-net header in front) to
// a tunDev without allocating.
type tunWriter struct {
	t   *tunDev
	buf []byte
	err syscall.Errno
	fn  func(fd uintptr) bool
}

func newTUNWriter(t *tunDev) *tunWriter {
	w := &tunWriter{t: t}
	w.fn = w.doWrite
	return w
}

func (w *tunWriter) doWrite(fd uintptr) bool {
	for {
		_, _, e := unix.Syscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(w.buf))), uintptr(len(w.buf)))
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		w.err = e
		return true
	}
}

// write writes one packet, buf being its virtio-net header and the packet.
func (w *tunWriter) write(buf []byte) error {
	w.buf, w.err = buf, 0
	err := w.t.rc.Write(w.fn)
	w.buf = nil
	if err != nil {
		return err
	}
	switch w.err {
	case 0:
		return nil
	case unix.EBADFD:
		return os.ErrClosed
	}
	return w.err
}
