// Package datapath defines what the engine needs from a packet path: a
// backend the engine programs as part of each commit (filters, SAs), that
// counts traffic per SA and reports events back (lifetimes spent, sequence
// numbers exhausted, replay and authentication failures).
//
// The engine owns every decision; a backend carries packets. The design
// follows the usual shape of kernel IPsec interfaces: an SA identifier plus
// a per-operation description, and a backend that declares its features up
// front and refuses (with an error) what it cannot do rather than emulating
// it. Implementations: None (no packets at all) and userspace (ESP over a
// TUN device).
package datapath

import (
	"errors"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

// SAID identifies one direction of an SA context in a backend.
type SAID struct {
	Context   uint64
	Direction wfp.Direction
}

// SA describes one direction of an SA context for a backend. The backend
// must copy what it keeps: the engine owns the structures and zeroes the
// key material after the SA is deleted.
type SA struct {
	ID SAID
	// Traffic is this direction's traffic: the endpoints (the tunnel
	// endpoints in tunnel mode) and the port/protocol overrides.
	Traffic wfp.IPsecTraffic1
	// Filter is the IPsec filter the traffic refers to: its conditions
	// narrow what the SA protects (in tunnel mode they are the inner
	// selectors).
	Filter *wfp.FwpmFilter0
	// UDPEncapsulation, when set, carries ESP in UDP (RFC 3948).
	UDPEncapsulation *wfp.IPsecV4UDPEncapsulation0
	// Bundle holds the SAs (ESP, AH, or ESP then AH) with their keys,
	// lifetimes and flags.
	Bundle *wfp.IPsecSABundle1
	// Added is when the engine added the bundle (lifetimes count from it).
	Added time.Time
}

// Features say what a backend supports.
type Features struct {
	// Packets is false for a backend that carries no traffic.
	Packets bool
	// ESN: 64-bit sequence numbers.
	ESN bool
	// UDPEncapsulation: ESP in UDP (RFC 3948).
	UDPEncapsulation bool
	// Tunnel and Transport modes.
	Tunnel, Transport bool
	// AH and the AH+ESP bundle.
	AH bool
	// ReplayWindow is the anti-replay window size used for inbound SAs.
	ReplayWindow int
}

// EventKind says what happened to an SA.
type EventKind uint8

const (
	// SoftLifetime: 90% of the SA's kilobyte or packet lifetime is spent.
	SoftLifetime EventKind = iota + 1
	// HardLifetime: the kilobyte or packet lifetime is spent; the SA no
	// longer carries traffic.
	HardLifetime
	// SequenceExhausted: the outbound sequence number would wrap.
	SequenceExhausted
	// ReplayFailures: inbound packets were dropped as replays (reported at
	// most once a second per SA, with the count since the last report).
	ReplayFailures
	// AuthFailures: inbound packets failed the ICV (rate-limited likewise).
	AuthFailures
)

func (k EventKind) String() string {
	switch k {
	case SoftLifetime:
		return "soft-lifetime"
	case HardLifetime:
		return "hard-lifetime"
	case SequenceExhausted:
		return "sequence-exhausted"
	case ReplayFailures:
		return "replay-failures"
	case AuthFailures:
		return "auth-failures"
	}
	return "unknown"
}

// Event is a backend's report about an SA.
type Event struct {
	Kind  EventKind
	SA    SAID
	Count uint64 // for the failure kinds: how many since the last report
}

// Handler receives a backend's events. It is called from the backend's own
// goroutines and must not block for long.
type Handler func(Event)

// Backend is a packet path. Calls come from the engine, one at a time per
// SA, inside the engine's commit; an error makes the engine's call fail and
// undo what it had programmed. Implementations are safe for concurrent use.
type Backend interface {
	// Features says what the backend supports.
	Features() Features
	// SetHandler tells the backend where to send events; the engine calls
	// it once, before anything else.
	SetHandler(h Handler)
	// AddFilter and DeleteFilter maintain the backend's copy of the
	// filters (the security policy database).
	AddFilter(f *wfp.FwpmFilter0) error
	DeleteFilter(id uint64) error
	// CheckSA says whether AddSA would accept sa, without side effects;
	// the engine asks when the call is made, so that a refusal fails that
	// call even inside an explicit transaction.
	CheckSA(sa *SA) error
	// AddSA installs one direction of an SA context. A backend refuses,
	// without side effects, a transform or mode it does not support.
	AddSA(sa *SA) error
	// UpdateSA replaces the description of an installed SA (new
	// addresses, encapsulation or flags; keys and SPIs never change).
	UpdateSA(sa *SA) error
	// DeleteSA removes an SA and wipes the backend's copy of its keys.
	// Deleting an unknown SA is not an error.
	DeleteSA(id SAID) error
	// Counters returns an SA's counters; false if the backend does not
	// know it.
	Counters(id SAID) (wfp.SACounters, bool)
	// Statistics fills the packet parts of IPsecGetStatistics1: the drop
	// statistics and the traffic statistics.
	Statistics(st *wfp.IPsecStatistics1)
	// Close stops the backend and removes what it installed.
	Close() error
}

// ErrNotSupported is wrapped by backends refusing a feature.
var ErrNotSupported = errors.New("datapath: not supported")

// None is the backend that carries no traffic: it accepts everything and
// counts nothing. An engine without a data path behaves like this.
type None struct{}

var _ Backend = None{}

func (None) Features() Features {
	return Features{Tunnel: true, Transport: true, AH: true, ESN: true, UDPEncapsulation: true}
}
func (None) SetHandler(Handler)                   {}
func (None) AddFilter(*wfp.FwpmFilter0) error     { return nil }
func (None) DeleteFilter(uint64) error            { return nil }
func (None) CheckSA(*SA) error                    { return nil }
func (None) AddSA(*SA) error                      { return nil }
func (None) UpdateSA(*SA) error                   { return nil }
func (None) DeleteSA(SAID) error                  { return nil }
func (None) Counters(SAID) (wfp.SACounters, bool) { return wfp.SACounters{}, false }
func (None) Statistics(*wfp.IPsecStatistics1)     {}
func (None) Close() error                         { return nil }
