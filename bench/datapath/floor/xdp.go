package main

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// AF_XDP sizes: a umem of xskFrames frames of xskFrame bytes per socket,
// rings of xskRing entries.
const (
	xskFrame  = 2048
	xskFrames = 4096
	xskRing   = 2048
)

// xring is one of an AF_XDP socket's rings, shared with the kernel: the
// producer and consumer indexes free-running, the entries at desc.
type xring struct {
	mem        []byte
	prod, cons *uint32
	desc       unsafe.Pointer
	mask       uint32
}

func mapRing(fd int, off unix.XDPRingOffset, pgoff int64, entrySize int) (xring, error) {
	mem, err := unix.Mmap(fd, pgoff, int(off.Desc)+xskRing*entrySize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return xring{}, fmt.Errorf("mmap of an AF_XDP ring: %w", err)
	}
	base := unsafe.Pointer(&mem[0])
	return xring{mem: mem, prod: (*uint32)(unsafe.Add(base, off.Producer)), cons: (*uint32)(unsafe.Add(base, off.Consumer)),
		desc: unsafe.Add(base, off.Desc), mask: xskRing - 1}, nil
}

func (r *xring) addr(i uint32) *uint64 { return (*uint64)(unsafe.Add(r.desc, 8*uintptr(i&r.mask))) }
func (r *xring) xdesc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(r.desc, 16*uintptr(i&r.mask)))
}

// xsk is an AF_XDP socket in copy mode on queue 0 of one interface, with a
// umem of its own and either a receive or a transmit ring.
type xsk struct {
	fd      int
	umem    []byte
	rx, tx  xring // one of them is used
	fq, cq  xring
	rings   []xring
	ifindex int
}

func newXSK(ifindex int, rx bool) (x *xsk, err error) {
	x = &xsk{fd: -1, ifindex: ifindex}
	defer func() {
		if err != nil {
			x.close()
		}
	}()
	x.fd, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_XDP socket: %w", err)
	}
	x.umem, err = unix.Mmap(-1, 0, xskFrame*xskFrames, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, err
	}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&x.umem[0]))), Len: uint64(len(x.umem)), Size: xskFrame}
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(x.fd), unix.SOL_XDP, unix.XDP_UMEM_REG, uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0); e != 0 {
		return nil, fmt.Errorf("XDP_UMEM_REG: %w", e)
	}
	ring := unix.XDP_TX_RING
	if rx {
		ring = unix.XDP_RX_RING
	}
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, ring} {
		if err := unix.SetsockoptInt(x.fd, unix.SOL_XDP, opt, xskRing); err != nil {
			return nil, fmt.Errorf("AF_XDP ring %d: %w", opt, err)
		}
	}
	var off unix.XDPMmapOffsets
	size := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(x.fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&size)), 0); e != 0 {
		return nil, fmt.Errorf("XDP_MMAP_OFFSETS: %w", e)
	}
	for _, m := range []struct {
		r     *xring
		off   unix.XDPRingOffset
		pgoff int64
		size  int
		want  bool
	}{
		{&x.fq, off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, 8, true},
		{&x.cq, off.Cr, unix.XDP_UMEM_PGOFF_COMPLETION_RING, 8, true},
		{&x.rx, off.Rx, unix.XDP_PGOFF_RX_RING, 16, rx},
		{&x.tx, off.Tx, unix.XDP_PGOFF_TX_RING, 16, !rx},
	} {
		if !m.want {
			continue
		}
		if *m.r, err = mapRing(x.fd, m.off, m.pgoff, m.size); err != nil {
			return nil, err
		}
		x.rings = append(x.rings, *m.r)
	}
	if err := unix.Bind(x.fd, &unix.SockaddrXDP{Flags: unix.XDP_COPY | unix.XDP_USE_NEED_WAKEUP, Ifindex: uint32(ifindex)}); err != nil {
		return nil, fmt.Errorf("binding the AF_XDP socket: %w", err)
	}
	return x, nil
}

func (x *xsk) close() {
	for _, r := range x.rings {
		unix.Munmap(r.mem)
	}
	x.rings = nil
	if x.fd >= 0 {
		unix.Close(x.fd)
		x.fd = -1
	}
	if x.umem != nil {
		unix.Munmap(x.umem)
		x.umem = nil
	}
}

// xdpTx sends plain ESP as Ethernet frames on an AF_XDP socket.
type xdpTx struct {
	x     *xsk
	s     *sealer
	free  []uint64
	frame [ethLen + ipv4Len]byte // the Ethernet and IPv4 headers of every frame
	batch int
}

// xdpRx takes plain ESP off an AF_XDP socket, to which an XDP program on
// the interface redirects it.
type xdpRx struct {
	x    *xsk
	s    *sealer
	prog *ebpf.Program
	xsks *ebpf.Map
	l    link.Link
}

func newXDP(r *rig, sh shape, batch int) (sender, receiver, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, nil, err
	}
	tx := &xdpTx{s: newSealer(sh), batch: batch}
	var dstMAC net.HardwareAddr
	rx := &xdpRx{s: newSealer(sh)}
	err := r.b.Do(func() error {
		ifc, err := net.InterfaceByName(r.ifB)
		if err != nil {
			return err
		}
		dstMAC = ifc.HardwareAddr
		if rx.x, err = newXSK(ifc.Index, true); err != nil {
			return err
		}
		return rx.attach(ifc.Index)
	})
	if err != nil {
		rx.close()
		return nil, nil, err
	}
	err = r.a.Do(func() error {
		ifc, err := net.InterfaceByName(r.ifA)
		if err != nil {
			return err
		}
		copy(tx.frame[0:6], dstMAC)
		copy(tx.frame[6:12], ifc.HardwareAddr)
		tx.frame[12], tx.frame[13] = 0x08, 0x00
		tx.x, err = newXSK(ifc.Index, false)
		return err
	})
	if err != nil {
		rx.close()
		return nil, nil, err
	}
	putIPv4(tx.frame[ethLen:], sh.esp, r.addrA, r.addrB)
	// The kernel does not check or fill in the checksum of what AF_XDP
	// sends: write it.
	putChecksum(tx.frame[ethLen:])
	for i := range xskFrames {
		tx.free = append(tx.free, uint64(i*xskFrame))
	}
	// The fill ring holds every frame of the receiver's umem.
	p := *rx.x.fq.prod
	for i := range min(xskFrames, xskRing) {
		*rx.x.fq.addr(p) = uint64(i * xskFrame)
		p++
	}
	atomic.StoreUint32(rx.x.fq.prod, p)
	return tx, rx, nil
}

// attach loads the XDP program, which redirects IPv4 ESP to the socket of
// the queue it arrived on (queue 0 here) and passes everything else, and
// attaches it to the interface in driver mode. The program declares that
// it handles multi-buffer frames, so that veth keeps its peer's GSO.
func (x *xdpRx) attach(ifindex int) error {
	var err error
	x.xsks, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 64})
	if err != nil {
		return fmt.Errorf("XSKMAP: %w", err)
	}
	if err := x.xsks.Put(uint32(0), uint32(x.x.fd)); err != nil {
		return fmt.Errorf("XSKMAP: %w", err)
	}
	x.prog, err = ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "GPL",
		Flags:   unix.BPF_F_XDP_HAS_FRAGS,
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // xdp_md.data
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // xdp_md.data_end
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, ethLen+ipv4Len),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
			asm.LoadMem(asm.R5, asm.R2, 12, asm.Half), // EtherType, network order
			asm.JNE.Imm(asm.R5, 0x0008, "pass"),       // 0x0800 read little-endian
			asm.LoadMem(asm.R5, asm.R2, ethLen+9, asm.Byte),
			asm.JNE.Imm(asm.R5, unix.IPPROTO_ESP, "pass"),
			asm.LoadMem(asm.R2, asm.R1, 16, asm.Word), // xdp_md.rx_queue_index
			asm.LoadMapPtr(asm.R1, x.xsks.FD()),
			asm.Mov.Imm(asm.R3, 2), // XDP_PASS where the queue has no socket
			asm.FnRedirectMap.Call(),
			asm.Return(),
			asm.Mov.Imm(asm.R0, 2).WithSymbol("pass"), // XDP_PASS
			asm.Return(),
		},
	}, ebpf.ProgramOptions{})
	if err != nil {
		return fmt.Errorf("loading the XDP program: %w", err)
	}
	x.l, err = link.AttachXDP(link.XDPOptions{Program: x.prog, Interface: ifindex, Flags: link.XDPDriverMode})
	if err != nil {
		return fmt.Errorf("attaching the XDP program: %w", err)
	}
	return nil
}

func putChecksum(h []byte) {
	var sum uint32
	for i := 0; i < ipv4Len; i += 2 {
		if i != 10 {
			sum += uint32(h[i])<<8 | uint32(h[i+1])
		}
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	h[10], h[11] = byte(^sum>>8), byte(^sum)
}

func (t *xdpTx) run(stop *atomic.Bool) (uint64, error) {
	x := t.x
	var done uint64
	size := uint32(len(t.frame) + t.s.sh.esp)
	for !stop.Load() {
		// Frames the kernel has sent come back on the completion ring.
		cp, cc := atomic.LoadUint32(x.cq.prod), *x.cq.cons
		for ; cc != cp; cc++ {
			t.free = append(t.free, *x.cq.addr(cc))
			done++
		}
		atomic.StoreUint32(x.cq.cons, cc)
		tp, tc := *x.tx.prod, atomic.LoadUint32(x.tx.cons)
		for k := 0; k < t.batch && len(t.free) > 0 && tp-tc < xskRing; k++ {
			a := t.free[len(t.free)-1]
			t.free = t.free[:len(t.free)-1]
			f := x.umem[a : a+uint64(size)]
			copy(f, t.frame[:])
			t.s.seal(f[len(t.frame):])
			*x.tx.xdesc(tp) = unix.XDPDesc{Addr: a, Len: size}
			tp++
		}
		atomic.StoreUint32(x.tx.prod, tp)
		// Copy mode sends only when asked to.
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(x.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		if e != 0 && e != unix.EAGAIN && e != unix.EBUSY && e != unix.ENOBUFS {
			return done, fmt.Errorf("AF_XDP send: %w", e)
		}
	}
	return done, nil
}

func (t *xdpTx) close() {
	if t.x != nil {
		t.x.close()
	}
}

func (x *xdpRx) run(stop *atomic.Bool) (ok, bad uint64, err error) {
	s := x.x
	pfd := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	for !stop.Load() {
		rp, rc := atomic.LoadUint32(s.rx.prod), *s.rx.cons
		if rp == rc {
			if _, err := unix.Poll(pfd, 100); err != nil && !errors.Is(err, unix.EINTR) {
				return ok, bad, fmt.Errorf("poll: %w", err)
			}
			continue
		}
		fp := *s.fq.prod
		for ; rc != rp; rc++ {
			d := s.rx.xdesc(rc)
			f := s.umem[d.Addr : d.Addr+uint64(d.Len)]
			if esp, ok4 := afterIPv4(f[min(ethLen, len(f)):]); ok4 && x.s.open(esp) {
				ok++
			} else {
				bad++
			}
			*s.fq.addr(fp) = d.Addr &^ (xskFrame - 1)
			fp++
		}
		atomic.StoreUint32(s.rx.cons, rc)
		atomic.StoreUint32(s.fq.prod, fp)
	}
	return ok, bad, nil
}

func (x *xdpRx) close() {
	if x.l != nil {
		x.l.Close()
	}
	if x.prog != nil {
		x.prog.Close()
	}
	if x.xsks != nil {
		x.xsks.Close()
	}
	if x.x != nil {
		x.x.close()
	}
}
