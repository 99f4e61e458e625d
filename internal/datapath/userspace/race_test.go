//go:build race

package userspace

// raceEnabled is set when the race detector is on: it makes sync.Pool
// drop items at random and instruments memory accesses with allocations,
// so allocation counts mean nothing.
const raceEnabled = true
