// Package rcu owns the read-copy-update hash map that the data path's
// packet goroutines and the engine's filter lookups read without locks,
// allocations or shared writes.
package rcu

import "sync/atomic"

// Map is a hash map that readers (packet goroutines, API calls) read
// without locks or allocations while one writer at a time changes it
// (read-copy-update):
// a lookup is two atomic loads and a scan of one short bucket, a change
// copies one bucket and publishes it with an atomic store, and growing
// rehashes into a new table published the same way. A reader sees every
// key either before or after a change, never a torn bucket.
//
// The zero value is not usable; call New. Load, Get and Range are safe
// for concurrent use with everything; Store, Remove and Clear must be
// serialized by the caller. Values are shared with readers: the caller
// never changes a value once stored (slices are replaced, not modified).
type Map[K comparable, V any] struct {
	hash func(K) uint64
	cur  atomic.Pointer[table[K, V]]
	n    int // entries; the writer's
}

type table[K comparable, V any] struct {
	mask    uint64
	buckets []atomic.Pointer[[]entry[K, V]]
}

type entry[K comparable, V any] struct {
	k K
	v V
}

// minBuckets is the size of a new table; tables double when they hold
// more entries than buckets, and never shrink.
const minBuckets = 16

// New returns an empty map that hashes keys with hash.
func New[K comparable, V any](hash func(K) uint64) *Map[K, V] {
	m := &Map[K, V]{hash: hash}
	m.cur.Store(&table[K, V]{mask: minBuckets - 1, buckets: make([]atomic.Pointer[[]entry[K, V]], minBuckets)})
	return m
}

// Load returns the value of k.
func (m *Map[K, V]) Load(k K) (v V, ok bool) {
	t := m.cur.Load()
	b := t.buckets[m.hash(k)&t.mask].Load()
	if b == nil {
		return v, false
	}
	for i := range *b {
		if (*b)[i].k == k {
			return (*b)[i].v, true
		}
	}
	return v, false
}

// Get returns the value of k, or the zero value.
func (m *Map[K, V]) Get(k K) V {
	v, _ := m.Load(k)
	return v
}

// Len returns the number of entries. The caller serializes it with the
// writers.
func (m *Map[K, V]) Len() int { return m.n }

// Store sets k to v. The caller serializes writers.
func (m *Map[K, V]) Store(k K, v V) {
	t := m.cur.Load()
	slot := &t.buckets[m.hash(k)&t.mask]
	var old []entry[K, V]
	if b := slot.Load(); b != nil {
		old = *b
	}
	nb := make([]entry[K, V], 0, len(old)+1)
	replaced := false
	for _, e := range old {
		if e.k == k {
			e.v, replaced = v, true
		}
		nb = append(nb, e)
	}
	if !replaced {
		nb = append(nb, entry[K, V]{k, v})
		m.n++
	}
	slot.Store(&nb)
	if m.n > len(t.buckets) {
		m.grow(t)
	}
}

// Remove deletes k. The caller serializes writers.
func (m *Map[K, V]) Remove(k K) {
	t := m.cur.Load()
	slot := &t.buckets[m.hash(k)&t.mask]
	b := slot.Load()
	if b == nil {
		return
	}
	i := -1
	for j := range *b {
		if (*b)[j].k == k {
			i = j
			break
		}
	}
	if i < 0 {
		return
	}
	m.n--
	if len(*b) == 1 {
		slot.Store(nil)
		return
	}
	nb := make([]entry[K, V], 0, len(*b)-1)
	nb = append(nb, (*b)[:i]...)
	nb = append(nb, (*b)[i+1:]...)
	slot.Store(&nb)
}

// grow publishes a table twice the size of t with every entry rehashed.
// Buckets are shared with no one: readers of t keep seeing t.
func (m *Map[K, V]) grow(t *table[K, V]) {
	size := 2 * len(t.buckets)
	nt := &table[K, V]{mask: uint64(size - 1), buckets: make([]atomic.Pointer[[]entry[K, V]], size)}
	lists := make([][]entry[K, V], size)
	for i := range t.buckets {
		if b := t.buckets[i].Load(); b != nil {
			for _, e := range *b {
				h := m.hash(e.k) & nt.mask
				lists[h] = append(lists[h], e)
			}
		}
	}
	for i := range lists {
		if lists[i] != nil {
			nt.buckets[i].Store(&lists[i])
		}
	}
	m.cur.Store(nt)
}

// Range calls fn for every entry of one snapshot of the table until fn
// returns false. Entries changed meanwhile may be seen old or new.
func (m *Map[K, V]) Range(fn func(K, V) bool) {
	t := m.cur.Load()
	for i := range t.buckets {
		if b := t.buckets[i].Load(); b != nil {
			for _, e := range *b {
				if !fn(e.k, e.v) {
					return
				}
			}
		}
	}
}

// Clear removes every entry. The caller serializes writers.
func (m *Map[K, V]) Clear() {
	m.cur.Store(&table[K, V]{mask: minBuckets - 1, buckets: make([]atomic.Pointer[[]entry[K, V]], minBuckets)})
	m.n = 0
}

// Mix64 is the splitmix64 finalizer: a fast hash of a 64-bit word whose
// low bits depend on every input bit.
func Mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
