package engine_test

import (
	"testing"
	"time"

	"github.com/sadb-dev/sadb/clock"
	"github.com/sadb-dev/sadb/conformance"
	"github.com/sadb-dev/sadb/engine"
	"github.com/sadb-dev/sadb/wfp"
)

// harness runs the conformance suite on an in-process engine with a fake
// clock starting 2026-01-01 UTC.
type harness struct {
	e   *engine.Engine
	clk *clock.Fake
}

func newHarness(t *testing.T) conformance.Harness {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := engine.New(engine.Options{Clock: clk})
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("engine.Close: %v", err)
		}
	})
	return &harness{e: e, clk: clk}
}

func (h *harness) Open(tok wfp.Token, s *wfp.FwpmSession0) (wfp.API, error) {
	return h.e.FwpmEngineOpen0(tok, s)
}

func (h *harness) Admin() wfp.Token { return wfp.Token{User: wfp.UserSID(0)} }

func (h *harness) Users() int { return 3 }

func (h *harness) User(i int) wfp.Token {
	return wfp.Token{User: wfp.UserSID(uint32(1000 + i)), Groups: []wfp.SID{wfp.GroupSID(uint32(1000 + i))}}
}

func (h *harness) Now() time.Time { return h.clk.Now() }

func (h *harness) Advance(d time.Duration) { h.clk.Advance(d) }

func TestConformance(t *testing.T) {
	conformance.Run(t, newHarness)
}
