package daemon

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/internal/datapath/userspace"
)

// DatapathConfig selects the packet path the engine programs: "none" (the
// default: the engine keeps SAs but carries no traffic) or "userspace"
// (ESP over a TUN device; see internal/datapath/userspace). The other
// fields configure the userspace path; zero means its default.
type DatapathConfig struct {
	Type         string   `json:"type,omitempty"`
	TUN          string   `json:"tun,omitempty"`
	MTU          int      `json:"mtu,omitempty"`
	ReplayWindow int      `json:"replay_window,omitempty"`
	Mark         uint32   `json:"mark,omitempty"`
	Table        int      `json:"table,omitempty"`
	RulePriority int      `json:"rule_priority,omitempty"`
	UDPPort      uint16   `json:"udp_port,omitempty"`
	Keepalive    Duration `json:"keepalive,omitempty"`
}

// check validates the type.
func (c DatapathConfig) check() error {
	switch strings.ToLower(c.Type) {
	case "", "none", "userspace":
		return nil
	}
	return fmt.Errorf("sadbd: datapath type %q is not none or userspace", c.Type)
}

// open creates the configured data path; nil for none.
func (c DatapathConfig) open(log *slog.Logger) (datapath.Backend, error) {
	if strings.ToLower(c.Type) != "userspace" {
		return nil, nil
	}
	b, err := userspace.New(userspace.Config{
		TUN:               c.TUN,
		MTU:               c.MTU,
		ReplayWindow:      c.ReplayWindow,
		Mark:              c.Mark,
		Table:             c.Table,
		RulePriority:      c.RulePriority,
		UDPPort:           c.UDPPort,
		KeepaliveInterval: time.Duration(c.Keepalive),
		Logger:            log.With("component", "datapath"),
	})
	if err != nil {
		// Not b: a nil *Backend in the interface would not be nil.
		return nil, err
	}
	return b, nil
}
