package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sadb-dev/sadb/internal/sadbdtest"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader on different
// goroutines.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is what one CLI run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// testNow is the time watch stamps lines with in tests.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// cli runs sadb commands in process against one test server.
type cli struct {
	t   testing.TB
	srv *sadbdtest.Server
}

func newCLI(t testing.TB) *cli {
	t.Helper()
	return &cli{t: t, srv: sadbdtest.Start(t, sadbdtest.Options{})}
}

// runCtx runs one command line with ctx and stdin, returning what it
// printed. The server's target is passed with --target.
func (c *cli) runCtx(ctx context.Context, stdin string, stdout, stderr *syncBuffer, args ...string) int {
	a := &app{ctx: ctx, stdin: strings.NewReader(stdin), stdout: stdout, stderr: stderr, now: func() time.Time { return testNow }}
	return a.execute(append([]string{"--target", c.srv.Target}, args...))
}

// runIn runs one command line with stdin.
func (c *cli) runIn(stdin string, args ...string) result {
	c.t.Helper()
	var out, errb syncBuffer
	code := c.runCtx(context.Background(), stdin, &out, &errb, args...)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// run runs one command line.
func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.runIn("", args...)
}

// ok runs one command line that must succeed and returns its stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("sadb %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// writeFile writes a file in a fresh temporary directory with mode 0600
// and returns its path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
