package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sadb-dev/sadb/wfp"
)

// scriptLine is one command of a txn script.
type scriptLine struct {
	n    int      // line number, from 1
	text string   // as written
	args []string // the words, without a leading "sadb"
}

// txnLineError is the failure of one script line.
type txnLineError struct {
	line    scriptLine
	err     error
	outcome string // what became of the transaction
}

// Error says which line failed and why.
func (e *txnLineError) Error() string {
	return fmt.Sprintf("line %d: %v", e.line.n, e.err)
}

// Unwrap returns the line's error.
func (e *txnLineError) Unwrap() error { return e.err }

// child returns an app for one script line: a's streams and flags, the
// script's session.
func (a *app) child(shared *sharedSession) *app {
	c := *a
	c.shared = shared
	return &c
}

// newTxnCmd builds "sadb txn".
func newTxnCmd(a *app) *cobra.Command {
	var readOnly bool
	var file string
	cmd := &cobra.Command{
		Use:   "txn [--read-only] [-f FILE]",
		Short: "Run a script of sadb commands in one transaction",
		Long: `Run a script of sadb commands in one session, inside one explicit
transaction (FwpmTransactionBegin0): commit if every command succeeds, abort
and report the failing line otherwise, so that either all of the script
takes effect or none of it.

The script is read from FILE (-f) or standard input: one command per line,
written as on the command line without the leading "sadb", with '...' and
"..." quoting; blank lines and # comments are ignored. Every line is checked
(commands, flags, arguments) before the transaction begins. Global flags
other than -o cannot appear in the script.

WFP forbids some functions inside a transaction: ctx create, ctx delete,
stats, watch and acl set fail with FWP_E_TXN_IN_PROGRESS. With --read-only
the transaction is read-only and changes fail with FWP_E_INCOMPATIBLE_TXN.`,
		Example: `  sadb txn -f plumb.sadb
  printf 'filter add-pair --local 192.0.2.1 --remote 192.0.2.2\nfilter list\n' | sadb txn
  sadb txn --read-only -f report.sadb

  # plumb.sadb
  ctx setspi 1 4096
  ctx add-inbound 1 --transform esp-gcm-256 --key-file in.keys
  ctx add-outbound 1 --transform esp-gcm-256 --spi 8192 --key-file out.keys`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.shared != nil {
				return usagef("txn cannot run inside a txn script")
			}
			var src []byte
			var err error
			fromStdin := file == "" || file == "-"
			if fromStdin {
				src, err = io.ReadAll(a.stdin)
			} else {
				src, err = os.ReadFile(file)
			}
			if err != nil {
				return fmt.Errorf("reading the script: %w", err)
			}
			lines, err := parseScript(string(src))
			if err != nil {
				return err
			}
			keys, err := a.checkScript(lines, fromStdin)
			if err != nil {
				return err
			}
			api, done, err := a.open(keys)
			if err != nil {
				return err
			}
			defer done()
			var flags uint32
			if readOnly {
				flags = wfp.TxnReadOnly
			}
			if err := api.FwpmTransactionBegin0(flags); err != nil {
				return err
			}
			shared := &sharedSession{api: api, keys: keys}
			for _, l := range lines {
				c := a.child(shared)
				root := newRootCmd(c)
				root.SetArgs(l.args)
				if _, err := root.ExecuteC(); err != nil {
					outcome := "transaction aborted; nothing was changed"
					if aerr := api.FwpmTransactionAbort0(); aerr != nil && !errors.Is(aerr, wfp.ErrNoTxnInProgress) {
						outcome = "aborting the transaction failed: " + errorText(aerr)
					}
					return &txnLineError{line: l, err: err, outcome: outcome}
				}
			}
			if err := api.FwpmTransactionCommit0(); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "sadb: txn: committed %d command(s)\n", len(lines))
			return nil
		},
	}
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "begin a read-only transaction (FWPM_TXN_READ_ONLY)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "read the script from FILE (default: standard input)")
	return cmd
}

// checkScript checks every line's command, flags and arguments without
// running anything, and reports whether any line asks for keys.
func (a *app) checkScript(lines []scriptLine, fromStdin bool) (keys bool, err error) {
	keyStdin := 0
	for _, l := range lines {
		fail := func(err error) error {
			return &txnLineError{line: l, err: err, outcome: "nothing was run"}
		}
		root := newRootCmd(a.child(&sharedSession{}))
		cmd, rest, err := root.Find(l.args)
		if err != nil {
			return false, fail(&usageError{msg: err.Error()})
		}
		if err := cmd.ParseFlags(rest); err != nil {
			return false, fail(&usageError{msg: err.Error()})
		}
		if help, _ := cmd.Flags().GetBool("help"); help {
			continue
		}
		if cmd.HasSubCommands() {
			pos := cmd.Flags().Args()
			if len(pos) == 0 {
				return false, fail(usagef("%q is not a command by itself; see '%s --help'", cmd.CommandPath(), cmd.CommandPath()))
			}
			return false, fail(groupRun(cmd, pos))
		}
		if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
			return false, fail(err)
		}
		for _, g := range []string{"target", "tls-cert", "tls-key", "tls-ca", "timeout"} {
			if f := cmd.Flags().Lookup(g); f != nil && f.Changed {
				return false, fail(usagef("--%s cannot be used inside a script: the script runs in one session", g))
			}
		}
		if f := cmd.Flags().Lookup("show-keys"); f != nil && f.Changed {
			keys = true
		}
		if f := cmd.Flags().Lookup("key-stdin"); f != nil && f.Changed {
			keyStdin++
			if fromStdin {
				return false, fail(usagef("--key-stdin cannot be used when the script itself is read from standard input; use --key-file"))
			}
			if keyStdin > 1 {
				return false, fail(usagef("only one line of a script can read keys from standard input"))
			}
		}
	}
	return keys, nil
}

// parseScript splits a script into command lines.
func parseScript(src string) ([]scriptLine, error) {
	var out []scriptLine
	for i, text := range strings.Split(src, "\n") {
		text = strings.TrimRight(text, "\r")
		l := scriptLine{n: i + 1, text: strings.TrimSpace(text)}
		words, err := splitWords(text)
		if err != nil {
			return nil, &txnLineError{line: l, err: &usageError{msg: err.Error()}, outcome: "nothing was run"}
		}
		if len(words) > 0 && words[0] == "sadb" {
			words = words[1:]
		}
		if len(words) == 0 {
			continue
		}
		l.args = words
		out = append(out, l)
	}
	return out, nil
}

// splitWords splits a line into words as a shell would for simple
// commands: blanks separate words; '...' quotes literally; "..." quotes
// with \" and \\ escapes; a backslash outside quotes escapes the next
// character; # at the start of a word begins a comment.
func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '#' && !inWord:
			return words, nil
		case r == '\'':
			inWord = true
			j := i + 1
			for j < len(rs) && rs[j] != '\'' {
				cur.WriteRune(rs[j])
				j++
			}
			if j == len(rs) {
				return nil, errors.New("unterminated ' quote")
			}
			i = j
		case r == '"':
			inWord = true
			j := i + 1
			for ; j < len(rs) && rs[j] != '"'; j++ {
				if rs[j] == '\\' && j+1 < len(rs) && (rs[j+1] == '"' || rs[j+1] == '\\') {
					j++
				}
				cur.WriteRune(rs[j])
			}
			if j == len(rs) {
				return nil, errors.New(`unterminated " quote`)
			}
			i = j
		case r == '\\':
			inWord = true
			if i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			}
		default:
			inWord = true
			cur.WriteRune(r)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
