// Package defaults decides where sadbd keeps its store and listens, when
// nothing says otherwise, so that the daemon and the CLI agree.
//
//	          root                       other users
//	socket    /run/sadb/sadbd.sock       $XDG_RUNTIME_DIR/sadb/sadbd.sock, else /tmp/sadb-$UID/sadbd.sock
//	store     /var/lib/sadb/sadb.db      $XDG_STATE_HOME/sadb/sadb.db, else ~/.local/state/sadb/sadb.db
//	config    /etc/sadb/sadbd.json       $XDG_CONFIG_HOME/sadb/sadbd.json, else ~/.config/sadb/sadbd.json
//
// SADB_SOCKET overrides the socket for both the daemon and the CLI.
package defaults

import (
	"os"
	"path/filepath"
	"strconv"
)

// SocketEnv names the environment variable that overrides SocketPath.
const SocketEnv = "SADB_SOCKET"

func xdg(env, fallback string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(os.TempDir(), "sadb-"+strconv.Itoa(os.Getuid()))
	}
	return filepath.Join(home, fallback)
}

// SocketPath is the daemon's Unix socket.
func SocketPath() string {
	if p := os.Getenv(SocketEnv); p != "" {
		return p
	}
	if os.Geteuid() == 0 {
		return "/run/sadb/sadbd.sock"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "sadb", "sadbd.sock")
	}
	return filepath.Join(os.TempDir(), "sadb-"+strconv.Itoa(os.Getuid()), "sadbd.sock")
}

// StorePath is the daemon's bbolt store.
func StorePath() string {
	if os.Geteuid() == 0 {
		return "/var/lib/sadb/sadb.db"
	}
	return filepath.Join(xdg("XDG_STATE_HOME", ".local/state"), "sadb", "sadb.db")
}

// ConfigPath is the daemon's configuration file (optional).
func ConfigPath() string {
	if os.Geteuid() == 0 {
		return "/etc/sadb/sadbd.json"
	}
	return filepath.Join(xdg("XDG_CONFIG_HOME", ".config"), "sadb", "sadbd.json")
}

// Target is the client target for the default socket.
func Target() string { return "unix://" + SocketPath() }
