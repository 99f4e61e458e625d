package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sadb-dev/sadb/client"
	"github.com/sadb-dev/sadb/internal/defaults"
	"github.com/sadb-dev/sadb/wfp"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // a call failed, or an input file is unusable
	exitUsage = 2 // the command line is wrong
)

// app is the state of one invocation: its streams, its global flags and,
// inside a txn script, the session of the enclosing transaction. Each
// command tree built by newRootCmd has its own app.
type app struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time // the time watch stamps its lines with

	// Global flags.
	target  string
	tlsCert string
	tlsKey  string
	tlsCA   string
	output  string
	timeout time.Duration

	// shared is the session of an enclosing txn; nil outside one.
	shared *sharedSession
}

// sharedSession is the one session a txn script runs in.
type sharedSession struct {
	api  wfp.API
	keys bool // opened with wfp.SessionFlagKeyMaterial
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

// Error returns the message.
func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// unreachableError is a failure to reach sadbd, with the socket it tried.
type unreachableError struct {
	err    error
	target string
}

// Error returns the underlying error's text.
func (e *unreachableError) Error() string { return e.err.Error() }

// Unwrap returns the underlying error.
func (e *unreachableError) Unwrap() error { return e.err }

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}
	return a.execute(args)
}

// execute runs args on a fresh command tree of a, prints any error and
// returns the exit status.
func (a *app) execute(args []string) int {
	root := newRootCmd(a)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	return a.report(cmd, err)
}

// report prints err as operators see it and returns the exit status.
func (a *app) report(cmd *cobra.Command, err error) int {
	if err == nil {
		return exitOK
	}
	var tle *txnLineError
	if errors.As(err, &tle) {
		fmt.Fprintf(a.stderr, "sadb: txn: line %d: %s\n", tle.line.n, tle.line.text)
		code := a.report(nil, tle.err)
		fmt.Fprintf(a.stderr, "sadb: txn: %s\n", tle.outcome)
		return code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "sadb: %s\n", ue.msg)
		if cmd != nil {
			fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return exitUsage
	}
	fmt.Fprintf(a.stderr, "sadb: %s\n", errorText(err))
	var un *unreachableError
	if errors.As(err, &un) {
		fmt.Fprintf(a.stderr, "sadb: is sadbd running? socket: %s\n", strings.TrimPrefix(un.target, "unix://"))
	}
	return exitError
}

// errorText formats err: a wfp status code as "NAME (0xCODE): message:
// detail", anything else as it is.
func errorText(err error) string {
	var d *wfp.DetailedError
	if errors.As(err, &d) {
		return d.Error()
	}
	var e wfp.Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return err.Error()
}

// newRootCmd builds the whole command tree for a.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "sadb",
		Short: "Operate sadbd: IPsec SA contexts, filters, access control",
		Long: `sadb drives sadbd, which serves the Windows Filtering Platform IPsec
SA-context API. Each invocation opens one session to sadbd.

A manual SA pair is plumbed in this order, on each peer:

  sadb filter add-pair --local 192.0.2.1 --remote 192.0.2.2
  sadb ctx create --local 192.0.2.1 --remote 192.0.2.2 --filter 1
  sadb ctx setspi 1 4096        (or: sadb ctx getspi 1)
  sadb ctx add-inbound 1 --transform esp-gcm-256 --key-file in.keys
  sadb ctx add-outbound 1 --transform esp-gcm-256 --spi 8192 --key-file out.keys`,
		Example: `  sadb ctx list
  sadb -o json ctx show 3
  SADB_SOCKET=$XDG_RUNTIME_DIR/sadb/sadbd.sock sadb stats
  sadb --target sadb.example.net:7443 --tls-cert me.pem --tls-key me.key --tls-ca ca.pem session`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRun,
		PersistentPreRunE: func(*cobra.Command, []string) error { return a.checkGlobals() },
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetContext(a.ctx)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{msg: err.Error()} })

	pf := root.PersistentFlags()
	pf.StringVar(&a.target, "target", orDefault(a.target, defaults.Target()), "sadbd to talk to: unix:///path, a socket path, or host:port (TLS); env "+defaults.SocketEnv+" sets the default socket")
	pf.StringVar(&a.tlsCert, "tls-cert", a.tlsCert, "client certificate (PEM) for a TCP target")
	pf.StringVar(&a.tlsKey, "tls-key", a.tlsKey, "client private key (PEM) for a TCP target")
	pf.StringVar(&a.tlsCA, "tls-ca", a.tlsCA, "CA certificates (PEM) that sign sadbd's certificate")
	pf.StringVarP(&a.output, "output", "o", orDefault(a.output, "table"), "output format: table or json")
	pf.DurationVar(&a.timeout, "timeout", a.timeout, "bound on connecting and on each call (0: no bound)")

	root.AddCommand(
		newCtxCmd(a),
		newSACmd(a),
		newFilterCmd(a),
		newACLCmd(a),
		newWatchCmd(a),
		newStatsCmd(a),
		newSessionCmd(a),
		newTxnCmd(a),
	)
	root.InitDefaultCompletionCmd()
	return root
}

// orDefault returns v, or def when v is empty.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// groupRun is the RunE of commands that only group subcommands: without
// arguments it shows the help, with any it reports an unknown command.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return &usageError{msg: msg}
}

// checkGlobals validates the global flags.
func (a *app) checkGlobals() error {
	switch a.output {
	case "table", "json":
	default:
		return usagef("-o %q: want table or json", a.output)
	}
	if a.timeout < 0 {
		return usagef("--timeout must not be negative")
	}
	return nil
}

// jsonOut reports whether -o json was given.
func (a *app) jsonOut() bool { return a.output == "json" }

// normalizeTarget turns a plain socket path into a unix:// target.
func normalizeTarget(t string) string {
	if strings.HasPrefix(t, "/") || strings.HasPrefix(t, "./") {
		return "unix://" + t
	}
	return t
}

// session returns the session a command runs in, and the function that
// ends it. keys asks for key material (wfp.SessionFlagKeyMaterial). Inside
// a txn script it is the script's session, which the script closes.
func (a *app) session(keys bool) (wfp.API, func(), error) {
	if a.shared != nil {
		if keys && !a.shared.keys {
			return nil, nil, usagef("--show-keys inside a script needs the script's session to be opened for keys")
		}
		return a.shared.api, func() {}, nil
	}
	return a.open(keys)
}

// open dials the target and opens a new session.
func (a *app) open(keys bool) (wfp.API, func(), error) {
	target := normalizeTarget(a.target)
	var opts []client.Option
	if !strings.HasPrefix(target, "unix://") {
		tc, err := a.tlsConfig(target)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, client.WithTLS(tc))
	}
	ctx := a.ctx
	if a.timeout > 0 {
		opts = append(opts, client.WithCallTimeout(a.timeout), client.WithDialTimeout(a.timeout))
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	s := &wfp.FwpmSession0{DisplayData: wfp.FwpmDisplayData0{Name: "sadb", Description: "sadb command line"}}
	if keys {
		s.Flags |= wfp.SessionFlagKeyMaterial
	}
	api, err := client.Open(ctx, target, s, opts...)
	if err != nil {
		switch wfp.Code(err) {
		case wfp.RPCSServerUnavailable, wfp.RPCEDisconnected, wfp.RPCSCallFailed, wfp.RPCSCallFailedDNE:
			if strings.HasPrefix(target, "unix://") {
				return nil, nil, &unreachableError{err: err, target: target}
			}
		}
		return nil, nil, err
	}
	return api, func() { _ = api.FwpmEngineClose0() }, nil
}

// tlsConfig builds the client TLS configuration for a TCP target.
func (a *app) tlsConfig(target string) (*tls.Config, error) {
	if a.tlsCert == "" || a.tlsKey == "" || a.tlsCA == "" {
		return nil, usagef("TCP target %q needs --tls-cert, --tls-key and --tls-ca", target)
	}
	cert, err := tls.LoadX509KeyPair(a.tlsCert, a.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	pemCA, err := os.ReadFile(a.tlsCA)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return nil, fmt.Errorf("CA certificates: no PEM certificate in %s", a.tlsCA)
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, usagef("target %q: %v", target, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}, nil
}

// withSession runs fn in a session (see session).
func (a *app) withSession(keys bool, fn func(api wfp.API) error) error {
	api, done, err := a.session(keys)
	if err != nil {
		return err
	}
	defer done()
	return fn(api)
}
