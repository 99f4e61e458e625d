// Command sadb is the operator's command line for sadbd: every function of
// the WFP IPsec SA-context API, in an operator's words. See doc.go.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// main runs one command line; SIGINT and SIGTERM cancel it (watch stops
// cleanly).
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
