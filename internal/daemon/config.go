package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sadb-dev/sadb/internal/defaults"
	"github.com/sadb-dev/sadb/wfp"
)

// Config is sadbd's configuration: a JSON file, overridden by flags. The
// zero value of each field means its default.
type Config struct {
	// Store is the bbolt file (default: internal/defaults.StorePath()).
	Store string `json:"store,omitempty"`
	// Memory runs without a store: nothing survives a restart.
	Memory bool `json:"memory,omitempty"`
	// Socket is the Unix socket (default: internal/defaults.SocketPath()).
	Socket string `json:"socket,omitempty"`
	// SocketMode is the socket file's mode (default 0666: any local user
	// may connect; the engine's access control decides what they may do).
	SocketMode fs.FileMode `json:"socket_mode,omitempty"`
	// Listen is an optional TCP address for remote callers; it needs TLS.
	Listen string `json:"listen,omitempty"`
	// TLSCert and TLSKey are the server certificate and key (PEM);
	// TLSClientCA verifies client certificates, which are required.
	TLSCert     string `json:"tls_cert,omitempty"`
	TLSKey      string `json:"tls_key,omitempty"`
	TLSClientCA string `json:"tls_client_ca,omitempty"`
	// Metrics is an optional address for the Prometheus endpoint (/metrics).
	Metrics string `json:"metrics,omitempty"`
	// Pprof also serves Go's runtime profiles (/debug/pprof/: heap, CPU,
	// goroutines) on the Metrics address, for diagnosing memory or CPU
	// use. The profiles show no key material, but they show the process's
	// structure: keep the address local.
	Pprof bool `json:"pprof,omitempty"`
	// LogLevel is debug, info, warn or error (default info); LogFormat is
	// text or json (default text).
	LogLevel  string `json:"log_level,omitempty"`
	LogFormat string `json:"log_format,omitempty"`
	// Admins are granted GENERIC_ALL on the engine and the SA database when
	// a new store is created (later, use `sadb acl`). uid:0 always is, and
	// so is the user sadbd runs as.
	Admins []wfp.SID `json:"admins,omitempty"`
	// ShutdownGrace is how long sessions may keep running after SIGTERM
	// before they are ended (their open transactions aborted). Default 2s.
	ShutdownGrace Duration `json:"shutdown_grace,omitempty"`
	// Datapath is the packet path (default: none).
	Datapath DatapathConfig `json:"datapath,omitzero"`
}

// Duration is a time.Duration written as "2s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// LoadConfig reads a JSON configuration file. A missing file is not an error
// when optional is true (the default location may hold none).
func LoadConfig(path string, optional bool) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return c, nil
		}
		return c, fmt.Errorf("sadbd: reading config: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("sadbd: config %s: %w", path, err)
	}
	return c, nil
}

// withDefaults fills in defaults and checks the result.
func (c Config) withDefaults() (Config, error) {
	if c.Store == "" && !c.Memory {
		c.Store = defaults.StorePath()
	}
	if c.Socket == "" {
		c.Socket = defaults.SocketPath()
	}
	if c.SocketMode == 0 {
		c.SocketMode = 0o666
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = Duration(2 * time.Second)
	}
	if c.Listen != "" && (c.TLSCert == "" || c.TLSKey == "" || c.TLSClientCA == "") {
		return c, errors.New("sadbd: a TCP listener needs tls_cert, tls_key and tls_client_ca (callers are identified by their certificates)")
	}
	if c.Pprof && c.Metrics == "" {
		return c, errors.New("sadbd: pprof is served on the metrics address: set metrics too")
	}
	for _, a := range c.Admins {
		if !a.Valid() {
			return c, fmt.Errorf("sadbd: admin %q is not a SID (uid:N, gid:N, cert:NAME)", a)
		}
	}
	if _, err := c.level(); err != nil {
		return c, err
	}
	if err := c.Datapath.check(); err != nil {
		return c, err
	}
	return c, nil
}

func (c Config) level() (slog.Level, error) {
	switch strings.ToLower(c.LogLevel) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("sadbd: log level %q is not debug, info, warn or error", c.LogLevel)
}

// NewLogger builds the daemon's logger from the configuration.
func (c Config) NewLogger() (*slog.Logger, error) {
	lvl, err := c.level()
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(c.LogFormat) {
	case "", "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("sadbd: log format %q is not text or json", c.LogFormat)
}
