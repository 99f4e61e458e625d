package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond until it holds or ten seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// watcher is a sadb watch running in the background.
type watcher struct {
	out, err syncBuffer
	cancel   context.CancelFunc
	done     chan int
}

func startWatch(t *testing.T, c *cli, args ...string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{cancel: cancel, done: make(chan int, 1)}
	go func() { w.done <- c.runCtx(ctx, "", &w.out, &w.err, append([]string{"watch"}, args...)...) }()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	waitFor(t, "watch to subscribe", func() bool { return strings.Contains(w.err.String(), "watching") })
	return w
}

// stop interrupts the watch and returns its exit status.
func (w *watcher) stop() int {
	w.cancel()
	code := <-w.done
	w.done <- code // for the cleanup
	return code
}

// TestWatch runs sadb watch while another client creates and deletes an SA
// context, and checks the lines it prints, in both output formats. A watch
// whose template does not match sees nothing.
func TestWatch(t *testing.T) {
	for _, tc := range []struct {
		format string
		want   string
	}{
		{"table", "2026-01-02T03:04:05Z  ADD     1\n2026-01-02T03:04:05Z  DELETE  1\n"},
		{"json", `{"time":"2026-01-02T03:04:05Z","change":"ADD","sa_context_id":1}` + "\n" +
			`{"time":"2026-01-02T03:04:05Z","change":"DELETE","sa_context_id":1}` + "\n"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			c := newCLI(t)
			c.ok("filter", "add-pair", "--local", "192.0.2.1", "--remote", "192.0.2.2")
			all := startWatch(t, c, "-o", tc.format)
			matching := startWatch(t, c, "-o", tc.format, "--remote", "192.0.2.0/24")
			other := startWatch(t, c, "-o", tc.format, "--local", "2001:db8::/32")

			// Another client: each command below is its own session.
			c.ok("ctx", "create", "--local", "192.0.2.1", "--remote", "192.0.2.2", "--filter", "1")
			c.ok("ctx", "delete", "1")

			for _, w := range []*watcher{all, matching} {
				waitFor(t, "two changes", func() bool { return strings.Count(w.out.String(), "\n") >= 2 })
				if code := w.stop(); code != 0 {
					t.Errorf("watch exited %d: %s", code, w.err.String())
				}
				if got := w.out.String(); got != tc.want {
					t.Errorf("watch printed\n%s\nwant\n%s", got, tc.want)
				}
			}
			if code := other.stop(); code != 0 || other.out.String() != "" {
				t.Errorf("non-matching watch: exit %d, printed %q", code, other.out.String())
			}
		})
	}
}

// TestWatchInsideTxn checks that watch in a txn script fails as WFP says:
// subscribing is not allowed in a transaction.
func TestWatchInsideTxn(t *testing.T) {
	c := newCLI(t)
	r := c.runIn("watch\n", "txn")
	if r.code != 1 || !strings.Contains(r.stderr, "FWP_E_TXN_IN_PROGRESS") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
