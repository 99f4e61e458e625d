package testrig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Sadbd is a sadbd process in a namespace, with an in-memory store, and
// the sadb command line pointed at it.
type Sadbd struct {
	// NS is the namespace it runs in.
	NS *Netns
	// Socket is its Unix socket; LogPath its standard output and error.
	Socket, LogPath string

	cmds Commands
	cmd  *exec.Cmd
	done chan struct{}
}

// StartSadbd runs sadbd in ns with the userspace data path (and extra
// flags), waits until it answers, and stops it in tb's cleanup (printing
// the end of its log if tb failed).
func StartSadbd(tb testing.TB, ns *Netns, cmds Commands, extra ...string) *Sadbd {
	tb.Helper()
	dir := tb.TempDir()
	d := &Sadbd{NS: ns, Socket: filepath.Join(dir, "sadbd.sock"), LogPath: filepath.Join(dir, "sadbd.log"), cmds: cmds, done: make(chan struct{})}
	logf, err := os.Create(d.LogPath)
	if err != nil {
		tb.Fatal(err)
	}
	args := append([]string{"-memory", "-socket", d.Socket, "-datapath", "userspace", "-log-level", "debug"}, extra...)
	d.cmd = ns.Command(cmds.Sadbd, args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		tb.Fatal(err)
	}
	go func() { d.cmd.Wait(); logf.Close(); close(d.done) }()
	tb.Cleanup(func() {
		d.Stop()
		if tb.Failed() {
			tb.Logf("sadbd in %s, end of its log:\n%s", ns.Name, Tail(d.Log(), 40))
		}
	})
	for i := 0; ; i++ {
		out, err := d.Exec("stats")
		if err == nil {
			return d
		}
		select {
		case <-d.done:
			tb.Fatalf("sadbd exited: %s\n%s", out, d.Log())
		default:
		}
		if i == 200 {
			tb.Fatalf("sadbd did not answer: %v %s\n%s", err, out, d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends sadbd (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (d *Sadbd) Stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// Log returns what sadbd has logged so far.
func (d *Sadbd) Log() string {
	b, _ := os.ReadFile(d.LogPath)
	return string(b)
}

// Exec runs the sadb command line against d with JSON output and returns
// its standard output (with standard error appended on failure).
func (d *Sadbd) Exec(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(d.cmds.Sadb, append([]string{"--target", "unix://" + d.Socket, "-o", "json", "--timeout", "30s"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// CLI runs the sadb command line and decodes its JSON output into v (if
// not nil), failing tb on error.
func (d *Sadbd) CLI(tb testing.TB, v any, args ...string) {
	tb.Helper()
	out, err := d.Exec(args...)
	if err != nil {
		tb.Fatalf("sadb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			tb.Fatalf("sadb %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// KeyFile writes a sadb key file (NAME=HEX lines) into a temporary
// directory of tb and returns its path.
func KeyFile(tb testing.TB, keys map[string][]byte) string {
	tb.Helper()
	var b strings.Builder
	for name, k := range keys {
		fmt.Fprintf(&b, "%s=%x\n", name, k)
	}
	p := filepath.Join(tb.TempDir(), "keys")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}
