package main

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

const espInUDPPort = 4500

// udpTx sends ESP in UDP, runs of packets as one UDP GSO message.
type udpTx struct {
	fd   int
	buf  []byte
	segs int
	oob  []byte
	s    *sealer
}

// udpRx receives ESP in UDP with UDP GRO.
type udpRx struct {
	fd  int
	buf []byte
	oob []byte
	s   *sealer
}

func newUDP(r *rig, sh shape) (sender, receiver, error) {
	segs := min(64, (65535-ipv4Len-udpLen)/sh.esp)
	tx := &udpTx{buf: make([]byte, segs*sh.esp), segs: segs, oob: make([]byte, unix.CmsgSpace(2)), s: newSealer(sh)}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&tx.oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&tx.oob[unix.CmsgLen(0)])) = uint16(sh.esp)
	rx := &udpRx{buf: make([]byte, 65536), oob: make([]byte, unix.CmsgSpace(4)), s: newSealer(sh)}
	err := r.b.Do(func() (err error) {
		rx.fd, err = socket(unix.SOCK_DGRAM, unix.IPPROTO_UDP)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(rx.fd, unix.SOL_UDP, unix.UDP_GRO, 1); err != nil {
			return fmt.Errorf("UDP_GRO: %w", err)
		}
		return unix.Bind(rx.fd, &unix.SockaddrInet4{Addr: r.addrB, Port: espInUDPPort})
	})
	if err != nil {
		if rx.fd > 0 {
			unix.Close(rx.fd)
		}
		return nil, nil, err
	}
	err = r.a.Do(func() (err error) {
		tx.fd, err = socket(unix.SOCK_DGRAM, unix.IPPROTO_UDP)
		if err != nil {
			return err
		}
		return unix.Connect(tx.fd, &unix.SockaddrInet4{Addr: r.addrB, Port: espInUDPPort})
	})
	if err != nil {
		rx.close()
		if tx.fd > 0 {
			unix.Close(tx.fd)
		}
		return nil, nil, err
	}
	return tx, rx, nil
}

func (t *udpTx) run(stop *atomic.Bool) (uint64, error) {
	var sent uint64
	n := t.s.sh.esp
	for !stop.Load() {
		for i := range t.segs {
			t.s.seal(t.buf[i*n : (i+1)*n])
		}
		if _, err := unix.SendmsgN(t.fd, t.buf, t.oob, nil, 0); err != nil {
			if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ECONNREFUSED) {
				continue
			}
			return sent, fmt.Errorf("sendmsg: %w", err)
		}
		sent += uint64(t.segs)
	}
	return sent, nil
}

func (t *udpTx) close() { unix.Close(t.fd) }

func (x *udpRx) run(stop *atomic.Bool) (ok, bad uint64, err error) {
	for !stop.Load() {
		n, oobn, _, _, err := unix.Recvmsg(x.fd, x.buf, x.oob, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return ok, bad, fmt.Errorf("recvmsg: %w", err)
		}
		seg := n
		if cms, err := unix.ParseSocketControlMessage(x.oob[:oobn]); err == nil {
			for _, c := range cms {
				if c.Header.Level == unix.SOL_UDP && c.Header.Type == unix.UDP_GRO && len(c.Data) >= 4 {
					seg = int(*(*int32)(unsafe.Pointer(&c.Data[0])))
				}
			}
		}
		if seg <= 0 {
			seg = n
		}
		for off := 0; off < n; off += seg {
			if x.s.open(x.buf[off:min(off+seg, n)]) {
				ok++
			} else {
				bad++
			}
		}
	}
	return ok, bad, nil
}

func (x *udpRx) close() { unix.Close(x.fd) }
