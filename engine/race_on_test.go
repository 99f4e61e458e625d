//go:build race

package engine

// raceEnabled: the race detector's sync.Pool drops a share of what is put
// in it, so allocation counts are higher under it.
const raceEnabled = true
