package rcu

import (
	"math/rand/v2"
	"sync"
	"testing"
)

func TestMap(t *testing.T) {
	m := New[uint64, int](Mix64)
	want := map[uint64]int{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		k := rng.Uint64N(2000)
		if rng.IntN(3) == 0 {
			m.Remove(k)
			delete(want, k)
		} else {
			m.Store(k, i)
			want[k] = i
		}
	}
	if m.Len() != len(want) {
		t.Fatalf("len %d, want %d", m.Len(), len(want))
	}
	for k := range uint64(2000) {
		v, ok := m.Load(k)
		if w, wok := want[k]; ok != wok || v != w {
			t.Fatalf("key %d: %d %v, want %d %v", k, v, ok, w, wok)
		}
	}
	seen := 0
	m.Range(func(k uint64, v int) bool {
		if want[k] != v {
			t.Fatalf("range: key %d value %d, want %d", k, v, want[k])
		}
		seen++
		return true
	})
	if seen != len(want) {
		t.Fatalf("range saw %d of %d", seen, len(want))
	}
}

// TestMapConcurrent has readers look up keys that are always present
// while a writer adds and removes others and grows the table: the readers
// must never miss (run with -race).
func TestMapConcurrent(t *testing.T) {
	m := New[uint64, uint64](Mix64)
	for k := range uint64(64) {
		m.Store(k, k)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := uint64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := i % 64
				if v, ok := m.Load(k); !ok || v != k {
					t.Errorf("key %d: %d %v", k, v, ok)
					return
				}
			}
		})
	}
	for i := range uint64(20000) {
		m.Store(1000+i, i)
		if i >= 100 {
			m.Remove(1000 + i - 100)
		}
	}
	close(stop)
	wg.Wait()
}
