package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sadb-dev/sadb/internal/testrig/echo"
)

// DefaultTimeout bounds an exec or echo-client request without a Timeout.
const DefaultTimeout = 60 * time.Second

// maxLine bounds one request or response line.
const maxLine = 16 << 20

// FindPort waits up to wait for the virtio-serial port called name to
// appear and returns its device path.
func FindPort(name string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		dirs, _ := filepath.Glob("/sys/class/virtio-ports/*")
		for _, d := range dirs {
			b, err := os.ReadFile(filepath.Join(d, "name"))
			if err == nil && strings.TrimSpace(string(b)) == name {
				dev := filepath.Join("/dev", filepath.Base(d))
				if _, err := os.Stat(dev); err == nil {
					return dev, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("agent: no virtio-serial port %q after %v", name, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Guest is the state the guest keeps between requests and across
// reconnections of the host: encapsulation sockets and echo servers. The
// zero value is not usable; call NewGuest. Serve must not be called
// concurrently.
type Guest struct {
	mu      sync.Mutex              // guards encaps and servers
	encaps  map[uint16]int          // +checklocks:mu; port -> socket
	servers map[string]*echo.Server // +checklocks:mu; network/addr -> server
}

// NewGuest returns a Guest with no sockets open.
func NewGuest() *Guest {
	return &Guest{encaps: map[uint16]int{}, servers: map[string]*echo.Server{}}
}

// Serve answers the requests read from rw until it fails or reaches EOF
// (which a virtio-serial port returns while the host is not connected).
func (g *Guest) Serve(rw io.ReadWriter) error {
	sc := bufio.NewScanner(rw)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	enc := json.NewEncoder(rw)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var req Request
		var resp Response
		if err := json.Unmarshal(line, &req); err != nil {
			resp.Err = fmt.Sprintf("bad request: %v", err)
		} else {
			resp = g.do(&req)
		}
		resp.ID = req.ID
		if err := enc.Encode(&resp); err != nil {
			return err
		}
	}
	return sc.Err()
}

func (g *Guest) do(req *Request) Response {
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	switch req.Op {
	case OpPing:
		return Response{}
	case OpExec:
		return execSh(ctx, req.Cmd)
	case OpEncap:
		if err := g.encap(req.Port); err != nil {
			return Response{Err: err.Error()}
		}
		return Response{}
	case OpEchoServer:
		if err := g.echoServer(req.Network, req.Addr); err != nil {
			return Response{Err: err.Error()}
		}
		return Response{}
	case OpEchoClient:
		res, err := echoClient(ctx, req)
		if err != nil {
			return Response{Err: err.Error()}
		}
		b, _ := json.Marshal(res)
		return Response{Stdout: string(b)}
	}
	return Response{Err: fmt.Sprintf("unknown op %q", req.Op)}
}

func execSh(ctx context.Context, script string) Response {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	r := Response{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.Status = ee.ExitCode()
	case errors.Is(err, exec.ErrWaitDelay):
	default:
		r.Err = err.Error()
		r.Status = -1
	}
	return r
}

// Socket options of RFC 3948 decapsulation (linux/udp.h).
const (
	solUDP           = 17
	udpEncap         = 100
	udpEncapESPInUDP = 2
)

func (g *Guest) encap(port uint16) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.encaps[port]; ok {
		return nil
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(port)}); err != nil {
		syscall.Close(fd)
		return fmt.Errorf("bind udp %d: %w", port, err)
	}
	if err := syscall.SetsockoptInt(fd, solUDP, udpEncap, udpEncapESPInUDP); err != nil {
		syscall.Close(fd)
		return fmt.Errorf("UDP_ENCAP_ESPINUDP: %w", err)
	}
	// The kernel takes ESP and drops NAT keepalives on this socket; what
	// is left (IKE) is not read, so the socket never blocks the kernel.
	g.encaps[port] = fd
	return nil
}

func (g *Guest) echoServer(network, addr string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := network + "/" + addr
	if _, ok := g.servers[key]; ok {
		return nil
	}
	s, err := echo.Listen(network, addr)
	if err != nil {
		return err
	}
	g.servers[key] = s
	return nil
}

func echoClient(ctx context.Context, req *Request) (echo.Result, error) {
	c, err := echo.Dial(ctx, req.Network, req.Addr)
	if err != nil {
		return echo.Result{}, err
	}
	switch req.Network {
	case "tcp", "tcp4", "tcp6":
		return echo.TCP(ctx, c, req.Bytes)
	case "udp", "udp4", "udp6":
		return echo.UDP(ctx, c, req.Count, req.Size, time.Second)
	}
	c.Close()
	return echo.Result{}, fmt.Errorf("unknown network %q", req.Network)
}
