// Package engine is sadb's Base Filtering Engine: the IPsec SA database with
// the whole WFP SA-context API, implemented in process.
//
// # What it owns
//
// Sessions (FwpmEngineOpen0, dynamic sessions), transactions (explicit and
// implicit, with WFP's locking rules), the IPsec filters SA contexts refer
// to, SA contexts and their life cycle, SPI allocation, lifetimes and idle
// timeouts, enumeration, change subscriptions, key managers, statistics and
// access control. All of the API's semantics live here; the RPC layer and
// the CLI only translate. docs/semantics.md records the choices made where
// Microsoft's documentation is silent.
//
// # Use
//
//	e, err := engine.New(engine.Options{})
//	api, err := e.FwpmEngineOpen0(wfp.Token{User: wfp.UserSID(0)}, nil)
//	id, _, err := api.IPsecSaContextCreate1(&traffic, nil)
//
// # Concurrency
//
// An Engine and its sessions are safe for concurrent use. Calls outside
// explicit transactions run in parallel: SA contexts live in a sharded table
// of immutable versions, SPIs in a sharded index, and an engine-wide
// transaction lock (lock.go) lets an explicit read/write transaction run
// alone. Every change is logged for undo; what must wait for commit (events,
// key zeroing, persistence, key-manager notifications) runs after it.
//
// # Memory
//
// The memory of a deleted SA context is reused for the next ones once
// nothing can read it (reuse.go): readers of the table hold its shard lock
// while they read, a rollback never puts back a version another
// transaction replaced, and an open enumeration snapshot stops reuse until
// it is destroyed. A keying daemon that creates and deletes contexts all
// day then makes no garbage for them.
//
// # Time
//
// Lifetimes, the 60 s inbound linger after IPsecSaContextExpire0 and the
// transaction lock timeout run on Options.Clock, so tests drive them with
// clock.Fake instead of sleeping.
package engine
