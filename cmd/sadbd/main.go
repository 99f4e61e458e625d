// Command sadbd is the sadb daemon: the WFP IPsec SA-context API as a
// durable service on a Unix socket (and optionally TCP with mutual TLS).
//
//	sadbd                       # defaults: see internal/defaults
//	sadbd -config /etc/sadb/sadbd.json -metrics 127.0.0.1:9120
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sadb-dev/sadb/internal/daemon"
	"github.com/sadb-dev/sadb/internal/defaults"
	"github.com/sadb-dev/sadb/wfp"
)

type sidList []wfp.SID

func (l *sidList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = string(v)
	}
	return strings.Join(s, ",")
}

func (l *sidList) Set(v string) error {
	*l = append(*l, wfp.SID(v))
	return nil
}

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("sadbd", flag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file (JSON); default "+defaults.ConfigPath()+" if it exists")
	var over daemon.Config
	var admins sidList
	fs.StringVar(&over.Store, "store", "", "store file (default "+defaults.StorePath()+")")
	fs.BoolVar(&over.Memory, "memory", false, "keep no store: nothing survives a restart")
	fs.StringVar(&over.Socket, "socket", "", "Unix socket (default "+defaults.SocketPath()+")")
	fs.StringVar(&over.Listen, "listen", "", "TCP address for remote callers (needs -tls-*)")
	fs.StringVar(&over.TLSCert, "tls-cert", "", "server certificate (PEM)")
	fs.StringVar(&over.TLSKey, "tls-key", "", "server key (PEM)")
	fs.StringVar(&over.TLSClientCA, "tls-client-ca", "", "CA that signs client certificates (PEM)")
	fs.StringVar(&over.Metrics, "metrics", "", "address of the Prometheus endpoint, e.g. 127.0.0.1:9120")
	fs.BoolVar(&over.Pprof, "pprof", false, "also serve Go's runtime profiles (/debug/pprof/) on the metrics address")
	fs.StringVar(&over.LogLevel, "log-level", "", "debug, info, warn or error")
	fs.StringVar(&over.LogFormat, "log-format", "", "text or json")
	fs.StringVar(&over.Datapath.Type, "datapath", "", "packet path: none (default) or userspace (ESP over a TUN device; root)")
	fs.Var(&admins, "admin", "principal granted GENERIC_ALL in a new store (repeatable), e.g. gid:27 or cert:ops")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	path, optional := *configPath, false
	if path == "" {
		path, optional = defaults.ConfigPath(), true
	}
	cfg, err := daemon.LoadConfig(path, optional)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	merge(&cfg, &over)
	cfg.Admins = append(cfg.Admins, admins...)
	log, err := cfg.NewLogger()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := daemon.Run(ctx, cfg, log); err != nil {
		log.Error("sadbd failed", "err", err)
		return 1
	}
	return 0
}

// merge applies the flags that were given over the file's settings.
func merge(c, f *daemon.Config) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&c.Store, f.Store)
	set(&c.Socket, f.Socket)
	set(&c.Listen, f.Listen)
	set(&c.TLSCert, f.TLSCert)
	set(&c.TLSKey, f.TLSKey)
	set(&c.TLSClientCA, f.TLSClientCA)
	set(&c.Metrics, f.Metrics)
	set(&c.LogLevel, f.LogLevel)
	set(&c.LogFormat, f.LogFormat)
	set(&c.Datapath.Type, f.Datapath.Type)
	if f.Memory {
		c.Memory = true
	}
	if f.Pprof {
		c.Pprof = true
	}
}
