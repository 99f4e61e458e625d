package testrig

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

// Netns is a named network namespace (ip netns). Its methods are safe for
// concurrent use.
type Netns struct {
	// Name is the namespace's name under /run/netns.
	Name string
}

var nsSeq atomic.Int32

// nsName matches the names NewNetns and CreateNetns give: the prefix, the
// creating process and a sequence number.
var nsName = regexp.MustCompile(`^trig-[a-z0-9]+-([0-9]+)-[0-9]+$`)

// CreateNetns creates a namespace called trig-<prefix>-<pid>-<n> with lo up.
// prefix is lower-case letters and digits. The caller deletes it.
func CreateNetns(prefix string) (*Netns, error) {
	n := &Netns{Name: fmt.Sprintf("trig-%s-%d-%d", prefix, os.Getpid(), nsSeq.Add(1))}
	if out, err := exec.Command("ip", "netns", "add", n.Name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", n.Name, err, out)
	}
	if _, err := n.IP("link", "set", "lo", "up"); err != nil {
		n.Delete()
		return nil, err
	}
	return n, nil
}

// NewNetns is CreateNetns for a test: it fails tb on error and deletes the
// namespace in tb's cleanup.
func NewNetns(tb testing.TB, prefix string) *Netns {
	tb.Helper()
	n, err := CreateNetns(prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.Delete() })
	return n
}

// Delete removes the namespace. Links in it go with it once the last
// process in it has exited.
func (n *Netns) Delete() error {
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", n.Name, err, out)
	}
	return nil
}

// IP runs ip(8) in the namespace and returns its output.
func (n *Netns) IP(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip -n %s %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// MustIP is IP that fails tb on error.
func (n *Netns) MustIP(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := n.IP(args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// Command returns a command that runs name in the namespace (ip netns
// exec, which execs it: the process is name itself).
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Do runs fn on an OS thread switched into the namespace. Sockets fn
// creates stay in the namespace and may be used anywhere afterwards.
func (n *Netns) Do(fn func() error) error {
	target, err := netns.GetFromName(n.Name)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", n.Name, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: the runtime ends it with the
			// goroutine rather than reuse it in the wrong namespace.
			errc <- errors.Join(ferr, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// SweepNetns deletes the namespaces CreateNetns made in processes that
// are no longer running, and returns their names.
func SweepNetns() []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var gone []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := nsName.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue
		}
		if exec.Command("ip", "netns", "del", f[0]).Run() == nil {
			gone = append(gone, f[0])
		}
	}
	return gone
}
