// Package testrig holds what the privileged test rigs share: the rule for
// tests that cannot run here, network namespaces, commands run inside
// them, and sadbd daemons with the userspace data path driven through the
// sadb command line.
//
// # Privileged tests
//
// Rigs need root (namespaces, TUN and tap devices, raw sockets) and some
// tools (ip, qemu, ...). Require skips a test that lacks them, except when
// the environment says CI=true: CI installs everything and runs as root, so
// there a missing prerequisite is a failure, never a silent skip.
//
// # Namespaces
//
// NewNetns creates a namespace named after the test process (prefix, the
// process id, a sequence number) and removes it in the test's cleanup.
// SweepNetns removes the namespaces that processes no longer running left
// behind (a test binary killed before its cleanups ran).
//
// # sadbd
//
// BuildCommands builds cmd/sadbd and cmd/sadb once; StartSadbd runs sadbd
// in a namespace with the userspace data path and an in-memory store, and
// Sadbd.CLI runs the sadb command line against it with JSON output.
package testrig

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// CI reports whether the tests run in CI (CI=true), where a missing
// prerequisite fails a test instead of skipping it.
func CI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips tb with the reason, or fails it in CI.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if CI() {
		tb.Fatalf(format+" (CI=true: a missing prerequisite is a failure)", args...)
	}
	tb.Skipf(format, args...)
}

// Require skips tb (fails it in CI) unless the process is root and every
// tool is on PATH.
func Require(tb testing.TB, tools ...string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Unavailable(tb, "needs root (network namespaces, TUN and tap devices, raw sockets)")
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			Unavailable(tb, "%s is not installed", t)
		}
	}
}

// Run runs a command and returns its combined output, failing tb if it
// fails.
func Run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ModuleRoot returns the directory of this module's go.mod.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// Commands are the paths of the built command binaries.
type Commands struct {
	Sadbd, Sadb string
}

// BuildCommands builds cmd/sadbd and cmd/sadb into dir. The caller removes
// dir.
func BuildCommands(dir string) (Commands, error) {
	c := Commands{Sadbd: filepath.Join(dir, "sadbd"), Sadb: filepath.Join(dir, "sadb")}
	for _, b := range []struct{ out, pkg string }{{c.Sadbd, "./cmd/sadbd"}, {c.Sadb, "./cmd/sadb"}} {
		if err := GoBuild(b.out, b.pkg, false); err != nil {
			return c, err
		}
	}
	return c, nil
}

// GoBuild builds the package pkg (a path relative to the module root, e.g.
// "./cmd/sadb") into out; static builds it without cgo.
func GoBuild(out, pkg string, static bool) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = ModuleRoot()
	cmd.Env = os.Environ()
	if static {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
