// Package conformance is one test suite for any implementation of wfp.API:
// the in-process engine and, unchanged, the client talking to sadbd. It checks
// the documented WFP semantics and the choices recorded in docs/semantics.md.
//
// An implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t *testing.T) conformance.Harness { return newHarness(t) })
//	}
package conformance

import (
	"testing"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

// Harness is what the suite needs from an implementation: a fresh, empty
// engine per test, sessions opened as chosen principals, and control of the
// engine's clock.
type Harness interface {
	// Open opens a session (FwpmEngineOpen0) as tok, which is Admin() or
	// one of User(i). session may be nil.
	Open(tok wfp.Token, session *wfp.FwpmSession0) (wfp.API, error)
	// Admin is a principal that the default security descriptors of the
	// engine and the SA database grant everything (the owner).
	Admin() wfp.Token
	// Users is how many distinct unprivileged principals the harness can
	// authenticate as; User(i) returns the i-th. Those principals get only
	// what the default descriptors give everyone (FWPM_ACTRL_OPEN on the
	// engine) until a test grants more.
	Users() int
	User(i int) wfp.Token
	// Now reads the engine clock; Advance moves it forward and returns once
	// every timer that fell due (lifetimes, linger, lock timeout) has run.
	Now() time.Time
	Advance(d time.Duration)
}

// Factory returns a harness over a new, empty engine. It registers its own
// cleanup with t.
type Factory func(t *testing.T) Harness
