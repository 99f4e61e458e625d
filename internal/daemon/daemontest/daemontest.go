// Package daemontest runs sadbd as a separate process, for tests and
// benchmarks that need what only a process gives: a kill -9 at any moment, a
// SIGTERM and an exit status, a client under another credential, the
// daemon's own CPU time and memory.
//
// Build compiles cmd/sadbd once; Start runs a binary on a daemon.Config
// (written to a JSON file and passed with -config), keeps its log, and
// WaitServing waits until a session can be opened. A Proc must be ended
// with Kill, Term or Wait; StartTB does that at the end of the test.
package daemontest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/internal/daemon"
)

// Package is the import path of the daemon's command.
const Package = "github.com/sadb-dev/sadb/cmd/sadbd"

// Build compiles cmd/sadbd into dir and returns the binary's path. It runs
// the go command, so it needs the module's source (any directory inside
// the module will do as the working directory).
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "sadbd")
	cmd := exec.Command("go", "build", "-o", bin, Package)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("daemontest: building %s: %w\n%s", Package, err, out)
	}
	return bin, nil
}

// Proc is a running (or ended) daemon process. Its methods are safe for
// concurrent use.
type Proc struct {
	// Config is the configuration the process was started with.
	Config daemon.Config
	// Started is when the process was started.
	Started time.Time

	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{} // closed when the process has been waited for
	state  *os.ProcessState
	err    error // from Wait, other than an exit status
}

// Start runs bin with args followed by -config and a file holding cfg,
// which is written next to cfg.Store (or cfg.Socket when the daemon keeps
// no store). stdout and stderr are kept; see Log.
func Start(bin string, cfg daemon.Config, args ...string) (*Proc, error) {
	dir := filepath.Dir(cfg.Store)
	if cfg.Memory || cfg.Store == "" {
		dir = filepath.Dir(cfg.Socket)
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("daemontest: %w", err)
	}
	conf := filepath.Join(dir, "sadbd.json")
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		return nil, fmt.Errorf("daemontest: %w", err)
	}
	p := &Proc{Config: cfg, log: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append(args, "-config", conf)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.Started = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("daemontest: starting %s: %w", bin, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.state = p.cmd.ProcessState
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			p.err = err
		}
		close(p.exited)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Target is the client target of the process's Unix socket.
func (p *Proc) Target() string { return "unix://" + p.Config.Socket }

// Exited is closed once the process has ended.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Log returns what the process has written to stdout and stderr so far.
func (p *Proc) Log() string { return p.log.String() }

// WaitServing waits until a session can be opened on the socket and
// returns how long after Start that was. It fails if the process exits
// first or timeout passes.
func (p *Proc) WaitServing(timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			return 0, fmt.Errorf("daemontest: sadbd exited before serving (%v)\n%s", p.state, p.Log())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		api, err := client.Open(ctx, p.Target(), nil, client.WithDialTimeout(time.Second))
		cancel()
		if err == nil {
			took := time.Since(p.Started)
			api.FwpmEngineClose0()
			return took, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("daemontest: sadbd not serving after %v: %v\n%s", timeout, err, p.Log())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Kill ends the process with SIGKILL and waits for it.
func (p *Proc) Kill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("daemontest: %w", err)
	}
	<-p.exited
	return p.err
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("daemontest: %w", err)
	}
	return nil
}

// Term sends SIGTERM and waits up to timeout for the process to exit; it
// returns the exit code. A process still running after timeout is killed
// and reported as an error.
func (p *Proc) Term(timeout time.Duration) (int, error) {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, fmt.Errorf("daemontest: %w", err)
	}
	return p.Wait(timeout)
}

// Wait waits up to timeout for the process to exit and returns its exit
// code (-1 if a signal ended it). A process still running after timeout is
// killed and reported as an error.
func (p *Proc) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.Kill()
		return -1, fmt.Errorf("daemontest: sadbd did not exit within %v\n%s", timeout, p.Log())
	}
	if p.err != nil {
		return -1, p.err
	}
	return p.state.ExitCode(), nil
}

// CPUTime returns the user and system CPU time the running process has
// used, from /proc.
func (p *Proc) CPUTime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("daemontest: %w", err)
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis are fixed: utime and stime are the 12th and 13th.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("daemontest: short /proc stat %q", s)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("daemontest: %w", err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc's CPU times; it is 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// Memory returns the process's resident set size and its peak, from /proc.
func (p *Proc) Memory() (rss, peak int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("daemontest: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		name, val, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("daemontest: %s: %w", name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak, nil
}

// StartTB starts bin on cfg and waits until it serves. The process is
// killed at the end of the test if it still runs, and its log is written
// to the test's output if the test failed.
func StartTB(tb testing.TB, bin string, cfg daemon.Config) *Proc {
	tb.Helper()
	p, err := Start(bin, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		p.Kill()
		if tb.Failed() {
			tb.Logf("sadbd (pid %d) log:\n%s", p.Pid(), p.Log())
		}
	})
	if _, err := p.WaitServing(30 * time.Second); err != nil {
		tb.Fatal(err)
	}
	return p
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex   // guards b
	b  bytes.Buffer // +checklocks:mu
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
