// Package echo is a small TCP and UDP echo service and its clients, used
// by the test rigs on both ends of a protected path (the host namespace and
// the kernel peer's guest) to move a known amount of data through it and
// check that every byte came back.
//
// The servers echo whatever they receive. The TCP client streams a
// deterministic byte pattern while reading the echo and compares it; the
// UDP client sends numbered datagrams one at a time and waits for each
// echo. Both report what they sent and got back as a Result.
//
// TCP sockets on both ends have small buffers (SocketBuffer), which bound
// the data in flight: a slow peer (an emulated guest) never sees the queues
// in front of it overflow, so the tests that compare the packet counts of
// both ends see no losses on the way.
//
// Everything here is safe for concurrent use; nothing keeps global state.
package echo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// Result is what a client moved through the echo service.
type Result struct {
	// Sent and Received count payload bytes (TCP) or datagram payload
	// bytes (UDP) written and read back.
	Sent, Received int64
	// SentPackets and ReceivedPackets count datagrams (UDP only).
	SentPackets, ReceivedPackets int
	// Elapsed is the time from the first write to the last read.
	Elapsed time.Duration
}

// Server is a running echo server. Close stops it and waits for its
// goroutines.
type Server struct {
	// Addr is the address it listens on.
	Addr net.Addr

	closeFn func() error
	wg      sync.WaitGroup
}

// Close stops the server and waits for every goroutine it started.
func (s *Server) Close() error {
	err := s.closeFn()
	s.wg.Wait()
	return err
}

// SocketBuffer is the send and receive buffer size of the TCP sockets
// Listen and Dial create.
const SocketBuffer = 64 << 10

// setBuffers is a net.ListenConfig and net.Dialer Control function that
// sets SocketBuffer on TCP sockets before they listen or connect (the
// window scale is chosen then).
func setBuffers(network, _ string, c syscall.RawConn) error {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, SocketBuffer); serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, SocketBuffer)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Dial connects to address over network with SocketBuffer on TCP sockets.
// The socket is created in the caller's network namespace.
func Dial(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{Control: setBuffers}
	return d.DialContext(ctx, network, address)
}

// Listen starts an echo server on network ("tcp", "tcp4", "udp", ...) and
// address. Sockets are created in the caller's network namespace.
func Listen(network, address string) (*Server, error) {
	lc := net.ListenConfig{Control: setBuffers}
	switch network {
	case "tcp", "tcp4", "tcp6":
		l, err := lc.Listen(context.Background(), network, address)
		if err != nil {
			return nil, err
		}
		return ServeListener(l), nil
	case "udp", "udp4", "udp6":
		pc, err := lc.ListenPacket(context.Background(), network, address)
		if err != nil {
			return nil, err
		}
		return ServePacketConn(pc), nil
	}
	return nil, fmt.Errorf("echo: unknown network %q", network)
}

// ServeListener echoes every connection l accepts until Close, which also
// closes l and the open connections.
func ServeListener(l net.Listener) *Server {
	s := &Server{Addr: l.Addr()}
	var mu sync.Mutex // guards conns and closed
	conns := map[net.Conn]struct{}{}
	closed := false
	s.closeFn = func() error {
		err := l.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		return err
	}
	s.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = struct{}{}
			mu.Unlock()
			s.wg.Go(func() {
				io.Copy(c, c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			})
		}
	})
	return s
}

// ServePacketConn echoes every datagram pc receives to its sender until
// Close, which closes pc.
func ServePacketConn(pc net.PacketConn) *Server {
	s := &Server{Addr: pc.LocalAddr(), closeFn: pc.Close}
	s.wg.Go(func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			pc.WriteTo(buf[:n], from)
		}
	})
	return s
}

// pattern fills b with the stream's bytes from offset off on: a
// deterministic sequence that shows reordering, loss and duplication.
func pattern(b []byte, off int64) {
	for i := range b {
		x := uint64(off) + uint64(i)
		b[i] = byte(x ^ x>>8 ^ x>>16)
	}
}

// TCP writes n bytes of the pattern on c while reading the echo, checks
// that the same bytes come back in order, and closes c. ctx bounds the
// whole exchange.
func TCP(ctx context.Context, c net.Conn, n int64) (Result, error) {
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	var r Result
	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		buf := make([]byte, 32<<10)
		var off int64
		for off < n {
			chunk := buf[:min(int64(len(buf)), n-off)]
			pattern(chunk, off)
			w, err := c.Write(chunk)
			off += int64(w)
			if err != nil {
				werr <- err
				return
			}
		}
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		werr <- nil
	}()
	buf := make([]byte, 32<<10)
	want := make([]byte, 32<<10)
	for r.Received < n {
		k, err := c.Read(buf[:min(int64(len(buf)), n-r.Received)])
		if k > 0 {
			pattern(want[:k], r.Received)
			if !bytes.Equal(buf[:k], want[:k]) {
				return r, fmt.Errorf("echo: tcp: bytes %d..%d came back different", r.Received, r.Received+int64(k))
			}
			r.Received += int64(k)
		}
		if err != nil {
			if r.Received < n {
				return r, fmt.Errorf("echo: tcp: %d of %d bytes back: %w", r.Received, n, err)
			}
			break
		}
	}
	r.Elapsed = time.Since(start)
	if err := <-werr; err != nil {
		return r, fmt.Errorf("echo: tcp write: %w", err)
	}
	r.Sent = n
	return r, nil
}

// UDP sends count datagrams of size bytes (at least 8) on the connected
// socket c, one at a time, waiting up to wait for each echo (a datagram
// whose echo does not come back is counted as lost, not resent), and
// closes c. Echoes are matched by the sequence number in their first 8
// bytes.
func UDP(ctx context.Context, c net.Conn, count, size int, wait time.Duration) (Result, error) {
	defer c.Close()
	if size < 8 {
		return Result{}, fmt.Errorf("echo: udp datagrams of %d bytes: at least 8", size)
	}
	var r Result
	out := make([]byte, size)
	in := make([]byte, 65536)
	start := time.Now()
	for i := 0; i < count; i++ {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		pattern(out, int64(i))
		binary.BigEndian.PutUint64(out, uint64(i))
		if _, err := c.Write(out); err != nil {
			return r, fmt.Errorf("echo: udp write: %w", err)
		}
		r.Sent += int64(size)
		r.SentPackets++
		deadline := time.Now().Add(wait)
		for {
			c.SetReadDeadline(deadline)
			k, err := c.Read(in)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // lost
				}
				return r, fmt.Errorf("echo: udp read: %w", err)
			}
			if k == size && binary.BigEndian.Uint64(in) == uint64(i) && bytes.Equal(in[8:k], out[8:]) {
				r.Received += int64(k)
				r.ReceivedPackets++
				break
			}
			// A late echo of an earlier datagram: keep waiting for this one.
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}
