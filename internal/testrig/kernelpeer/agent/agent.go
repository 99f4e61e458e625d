// Package agent is the command channel between a test and the kernel
// peer's guest: the protocol both ends speak and the guest's side of it,
// which cmd kpagent runs inside the virtual machine.
//
// # Protocol
//
// The host and the guest exchange JSON objects, one per line, over a
// virtio-serial port. The host sends a Request; the guest answers each with
// a Response carrying the same ID. Requests are served one at a time, in
// order. Before it has seen a request the guest sends nothing, so the host
// learns that the guest is up by repeating a "ping" until one is answered.
//
// Operations:
//
//   - ping: answers with OK.
//   - exec: runs Cmd with /bin/sh -c and returns its exit status, standard
//     output and standard error. Processes it leaves in the background must
//     not keep its output open (redirect them): the output is collected
//     until it closes, at most a second after the shell exits.
//   - encap: opens and keeps open an IPv4 UDP socket on Port with
//     UDP_ENCAP_ESPINUDP set, which the kernel needs before it takes ESP in
//     UDP (RFC 3948) on that port. Opening a port twice is not an error.
//   - echo-server: starts an echo server (package echo) on Network and
//     Addr, kept until the guest stops.
//   - echo-client: runs an echo client against Addr over Network: Bytes
//     bytes over TCP, or Count datagrams of Size bytes over UDP; Stdout
//     holds the echo.Result as JSON.
package agent

import (
	"encoding/json"
	"time"

	"github.com/sadb-dev/sadb/internal/testrig/echo"
)

// Operations.
const (
	OpPing       = "ping"
	OpExec       = "exec"
	OpEncap      = "encap"
	OpEchoServer = "echo-server"
	OpEchoClient = "echo-client"
)

// PortName is the name of the virtio-serial port the guest serves.
const PortName = "org.sadb.kernelpeer.0"

// Request is one operation for the guest. The fields an operation does not
// use are zero.
type Request struct {
	ID uint64 `json:"id"`
	Op string `json:"op"`
	// Cmd is the shell command of exec.
	Cmd string `json:"cmd,omitempty"`
	// Timeout bounds exec and echo-client (0: 60 s).
	Timeout time.Duration `json:"timeout,omitempty"`
	// Port is the UDP port of encap.
	Port uint16 `json:"port,omitempty"`
	// Network ("tcp4", "udp4", ...) and Addr of echo-server (where to
	// listen) and echo-client (where to connect).
	Network string `json:"network,omitempty"`
	Addr    string `json:"addr,omitempty"`
	// Bytes is how much an echo-client sends over TCP.
	Bytes int64 `json:"bytes,omitempty"`
	// Count and Size are the datagrams an echo-client sends over UDP.
	Count int `json:"count,omitempty"`
	Size  int `json:"size,omitempty"`
}

// Response is the guest's answer to the Request with the same ID.
type Response struct {
	ID uint64 `json:"id"`
	// Err says why the operation could not run (empty: it ran).
	Err string `json:"err,omitempty"`
	// Status is exec's exit status.
	Status int `json:"status"`
	// Stdout and Stderr are exec's output; Stdout is echo-client's
	// echo.Result as JSON.
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
}

// EchoResult decodes an echo-client's Stdout.
func (r *Response) EchoResult() (echo.Result, error) {
	var res echo.Result
	err := json.Unmarshal([]byte(r.Stdout), &res)
	return res, err
}
