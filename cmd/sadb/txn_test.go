package main

import (
	"strings"
	"testing"
)

// filterCount is how many filters the server has.
func filterCount(t *testing.T, c *cli) int {
	t.Helper()
	return len(decode[[]filterView](t, c, "filter", "list"))
}

// TestTxnAbortsOnFailingLine runs scripts that add two filters and then
// fail on line 3 (a fourth is never reached), and checks that nothing was left behind and that the
// failing line is reported.
func TestTxnAbortsOnFailingLine(t *testing.T) {
	for _, tc := range []struct {
		name, line3, wantErr string
	}{
		{"UnknownFilter", "filter show 99", "FWP_E_FILTER_NOT_FOUND"},
		{"ForbiddenInTxn", "ctx create --local 192.0.2.1 --remote 192.0.2.2 --filter 1", "FWP_E_TXN_IN_PROGRESS"},
		{"Stats", "stats", "FWP_E_TXN_IN_PROGRESS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t)
			script := "filter add --ipsec outbound --local 192.0.2.1 --remote 192.0.2.2\n" +
				"filter add --ipsec inbound --local 192.0.2.1 --remote 192.0.2.2 --name 'inbound, quoted'\n" +
				tc.line3 + "\n" +
				"filter add --ipsec outbound --local 192.0.2.1 --remote 192.0.2.3\n"
			r := c.runIn(script, "txn")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
			}
			for _, want := range []string{"sadb: txn: line 3: " + tc.line3, "sadb: " + tc.wantErr + " (0x", "transaction aborted"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if n := filterCount(t, c); n != 0 {
				t.Errorf("%d filters left after the abort, want 0", n)
			}
		})
	}
}

// TestTxnCommits runs a good script from a file: everything is committed,
// outputs appear in order.
func TestTxnCommits(t *testing.T) {
	c := newCLI(t)
	script := writeFile(t, "plumb.sadb", `
filter add-pair --local 192.0.2.1 --remote 192.0.2.2   # one transaction inside the script's
sadb filter add --layer outbound-transport-v4 --action permit --protocol icmp --weight-range 12 --name "ICMP exemption"
filter list
`)
	r := c.run("txn", "-f", script)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "committed 3 command(s)") {
		t.Errorf("stderr: %s", r.stderr)
	}
	if !strings.Contains(r.stdout, "outbound filter id  1\ninbound filter id   2\nfilter id  3\nID  LAYER") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	if n := filterCount(t, c); n != 3 {
		t.Errorf("%d filters after commit, want 3", n)
	}
}

// TestTxnPlumbsAnSA plumbs a context in one transaction: everything after
// create is allowed inside one.
func TestTxnPlumbsAnSA(t *testing.T) {
	c := newCLI(t)
	c.ok("filter", "add-pair", "--local", "192.0.2.1", "--remote", "192.0.2.2")
	c.ok("ctx", "create", "--local", "192.0.2.1", "--remote", "192.0.2.2", "--filter", "1")
	in := writeFile(t, "in.keys", keyFileFor(t, "esp-gcm-128", 1))
	script := writeFile(t, "plumb.sadb", "ctx setspi 1 4096\n"+
		"ctx add-inbound 1 --transform esp-gcm-128 --key-file "+in+"\n"+
		"ctx add-outbound 1 --transform esp-gcm-128 --spi 8192 --key-stdin\n"+
		"ctx show 1 --show-keys\n")
	r := c.runIn(keyFileFor(t, "esp-gcm-128", 2), "-o", "json", "txn", "-f", script)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	v := decode[contextView](t, c, "ctx", "show", "1")
	if v.State != "SA_CONTEXT_OUTBOUND_ADDED" || v.Outbound.Bundle.SAs[0].SPI != 8192 {
		t.Errorf("after the txn: %+v", v)
	}
	if !strings.Contains(r.stdout, `"cipher_key": "`) {
		t.Errorf("ctx show --show-keys in the script showed no keys:\n%s", r.stdout)
	}
}

// TestTxnChecksLinesFirst checks that a script with a usage error runs
// nothing at all.
func TestTxnChecksLinesFirst(t *testing.T) {
	for _, tc := range []struct {
		name, script, want string
	}{
		{"UnknownFlag", "filter add-pair --local 192.0.2.1 --remote 192.0.2.2\nfilter list --bogus\n", "line 2: filter list --bogus"},
		{"UnknownCommand", "filter add-pair --local 192.0.2.1 --remote 192.0.2.2\nfilters list\n", `unknown command "filters"`},
		{"GroupOnly", "filter add-pair --local 192.0.2.1 --remote 192.0.2.2\nctx\n", "not a command by itself"},
		{"Quote", "filter add --name 'unterminated\n", "unterminated ' quote"},
		{"Target", "filter list --target unix:///elsewhere\n", "--target cannot be used inside a script"},
		{"KeyStdin", "ctx add-inbound 1 --transform esp-gcm-128 --key-stdin\n", "--key-stdin cannot be used when the script itself is read from standard input"},
		{"Nested", "txn\n", "txn cannot run inside a txn script"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t)
			r := c.runIn(tc.script, "txn")
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want 2; stderr lacks %q:\n%s", r.code, tc.want, r.stderr)
			}
			if n := filterCount(t, c); n != 0 {
				t.Errorf("%d filters after a rejected script, want 0", n)
			}
		})
	}
}

// TestTxnReadOnly checks that a read-only transaction reads and refuses
// changes with FWP_E_INCOMPATIBLE_TXN.
func TestTxnReadOnly(t *testing.T) {
	c := newCLI(t)
	c.ok("filter", "add-pair", "--local", "192.0.2.1", "--remote", "192.0.2.2")
	if r := c.runIn("filter list\nfilter show 1\nacl show\n", "txn", "--read-only"); r.code != 0 {
		t.Errorf("read-only script: exit %d: %s", r.code, r.stderr)
	}
	r := c.runIn("filter delete 1\n", "txn", "--read-only")
	if r.code != 1 || !strings.Contains(r.stderr, "FWP_E_INCOMPATIBLE_TXN") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   # just a comment", nil},
		{"ctx show 1", []string{"ctx", "show", "1"}},
		{"filter add --name 'a b'  --description \"say \\\"hi\\\"\"", []string{"filter", "add", "--name", "a b", "--description", `say "hi"`}},
		{`x a\ b c#d # comment`, []string{"x", "a b", "c#d"}},
		{"tab\tseparated", []string{"tab", "separated"}},
		{"empty '' word", []string{"empty", "", "word"}},
	} {
		got, err := splitWords(tc.in)
		if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`'open`, `"open`, `"ends with backslash\"`} {
		if _, err := splitWords(bad); err == nil {
			t.Errorf("splitWords(%q): no error", bad)
		}
	}
}
