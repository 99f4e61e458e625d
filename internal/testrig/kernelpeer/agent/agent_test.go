package agent

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sadb-dev/sadb/internal/testrig/echo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestServe drives Serve over a pipe as the host does over the port.
func TestServe(t *testing.T) {
	host, guest := net.Pipe()
	g := NewGuest()
	served := make(chan error, 1)
	go func() { served <- g.Serve(guest) }()
	defer func() {
		host.Close()
		if err := <-served; err != nil && err != io.ErrClosedPipe {
			t.Errorf("Serve: %v", err)
		}
		guest.Close()
		g.mu.Lock()
		for _, s := range g.servers {
			s.Close()
		}
		g.mu.Unlock()
	}()
	enc := json.NewEncoder(host)
	rd := bufio.NewReader(host)
	call := func(req Request) Response {
		t.Helper()
		if err := enc.Encode(req); err != nil {
			t.Fatal(err)
		}
		line, err := rd.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		var resp Response
		if err := json.Unmarshal(line, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.ID != req.ID {
			t.Fatalf("response %d to request %d", resp.ID, req.ID)
		}
		return resp
	}
	if r := call(Request{ID: 1, Op: OpPing}); r.Err != "" {
		t.Errorf("ping: %+v", r)
	}
	if r := call(Request{ID: 2, Op: OpExec, Cmd: "echo out; echo err >&2; exit 4"}); r.Status != 4 || r.Stdout != "out\n" || r.Stderr != "err\n" || r.Err != "" {
		t.Errorf("exec: %+v", r)
	}
	if r := call(Request{ID: 3, Op: OpExec, Cmd: "sleep 5", Timeout: 100 * time.Millisecond}); r.Status == 0 && r.Err == "" {
		t.Errorf("exec past its timeout: %+v", r)
	}
	if r := call(Request{ID: 4, Op: "nope"}); !strings.Contains(r.Err, "unknown op") {
		t.Errorf("unknown op: %+v", r)
	}
	if r := call(Request{ID: 5, Op: OpEchoServer, Network: "tcp4", Addr: "127.0.0.1:0"}); r.Err != "" {
		t.Errorf("echo-server: %+v", r)
	}
	// An echo client against a server of the test.
	s, err := echo.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := call(Request{ID: 6, Op: OpEchoClient, Network: "udp4", Addr: s.Addr.String(), Count: 5, Size: 100})
	if res, err := r.EchoResult(); err != nil || res.ReceivedPackets != 5 {
		t.Errorf("echo-client: %+v (%+v, %v)", r, res, err)
	}
	// A line that is not JSON gets an error response, and Serve goes on.
	if _, err := host.Write([]byte("{not json\n")); err != nil {
		t.Fatal(err)
	}
	line, _ := rd.ReadBytes('\n')
	if !strings.Contains(string(line), "bad request") {
		t.Errorf("bad request answered %q", line)
	}
	if r := call(Request{ID: 7, Op: OpPing}); r.Err != "" {
		t.Errorf("ping after a bad request: %+v", r)
	}
}
