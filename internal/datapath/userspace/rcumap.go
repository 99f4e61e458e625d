package userspace

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/sadb-dev/sadb/internal/datapath"
)

// rcuMap is a hash map that the packet goroutines read without locks or
// allocations while one writer at a time changes it (read-copy-update):
// a lookup is two atomic loads and a scan of one short bucket, a change
// copies one bucket and publishes it with an atomic store, and growing
// rehashes into a new table published the same way. A reader sees every
// key either before or after a change, never a torn bucket.
//
// The zero value is not usable; call newRCUMap. load and rangeAll are safe
// for concurrent use with everything; store and remove must be serialized
// by the caller (the backend calls them under Backend.mu). Values are
// shared with readers: the caller never changes a value once stored
// (slices are replaced, not modified).
type rcuMap[K comparable, V any] struct {
	hash func(K) uint64
	cur  atomic.Pointer[rcuTable[K, V]]
	n    int // entries; the writer's
}

type rcuTable[K comparable, V any] struct {
	mask    uint64
	buckets []atomic.Pointer[[]rcuEntry[K, V]]
}

type rcuEntry[K comparable, V any] struct {
	k K
	v V
}

// rcuMinBuckets is the size of a new table; tables double when they hold
// more entries than buckets, and never shrink.
const rcuMinBuckets = 16

func newRCUMap[K comparable, V any](hash func(K) uint64) *rcuMap[K, V] {
	m := &rcuMap[K, V]{hash: hash}
	m.cur.Store(&rcuTable[K, V]{mask: rcuMinBuckets - 1, buckets: make([]atomic.Pointer[[]rcuEntry[K, V]], rcuMinBuckets)})
	return m
}

// load returns the value of k.
func (m *rcuMap[K, V]) load(k K) (v V, ok bool) {
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

// get returns the value of k, or the zero value.
func (m *rcuMap[K, V]) get(k K) V {
	v, _ := m.load(k)
	return v
}

// len returns the number of entries. The caller serializes it with the
// writers.
func (m *rcuMap[K, V]) len() int { return m.n }

// store sets k to v. The caller serializes writers.
func (m *rcuMap[K, V]) store(k K, v V) {
	t := m.cur.Load()
	slot := &t.buckets[m.hash(k)&t.mask]
	var old []rcuEntry[K, V]
	if b := slot.Load(); b != nil {
		old = *b
	}
	nb := make([]rcuEntry[K, V], 0, len(old)+1)
	replaced := false
	for _, e := range old {
		if e.k == k {
			e.v, replaced = v, true
		}
		nb = append(nb, e)
	}
	if !replaced {
		nb = append(nb, rcuEntry[K, V]{k, v})
		m.n++
	}
	slot.Store(&nb)
	if m.n > len(t.buckets) {
		m.grow(t)
	}
}

// remove deletes k. The caller serializes writers.
func (m *rcuMap[K, V]) remove(k K) {
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
	nb := make([]rcuEntry[K, V], 0, len(*b)-1)
	nb = append(nb, (*b)[:i]...)
	nb = append(nb, (*b)[i+1:]...)
	slot.Store(&nb)
}

// grow publishes a table twice the size of t with every entry rehashed.
// Buckets are shared with no one: readers of t keep seeing t.
func (m *rcuMap[K, V]) grow(t *rcuTable[K, V]) {
	size := 2 * len(t.buckets)
	nt := &rcuTable[K, V]{mask: uint64(size - 1), buckets: make([]atomic.Pointer[[]rcuEntry[K, V]], size)}
	lists := make([][]rcuEntry[K, V], size)
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

// rangeAll calls fn for every entry of one snapshot of the table until fn
// returns false. Entries changed meanwhile may be seen old or new.
func (m *rcuMap[K, V]) rangeAll(fn func(K, V) bool) {
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

// clearAll removes every entry. The caller serializes writers.
func (m *rcuMap[K, V]) clearAll() {
	m.cur.Store(&rcuTable[K, V]{mask: rcuMinBuckets - 1, buckets: make([]atomic.Pointer[[]rcuEntry[K, V]], rcuMinBuckets)})
	m.n = 0
}

// mix64 is the splitmix64 finalizer: a fast hash of a 64-bit word whose
// low bits depend on every input bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func hashSPIKey(k spiKey) uint64 { return mix64(uint64(k.spi)<<8 | uint64(k.proto)) }

func hashSAID(id datapath.SAID) uint64 { return mix64(id.Context<<2 ^ uint64(id.Direction)) }

func hashAddr(h uint64, a netip.Addr) uint64 {
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	if a.Is4() {
		lo ^= 1 << 63 // keep 192.0.2.1 and ::c000:201 apart
	}
	return mix64(h ^ mix64(hi) ^ lo)
}
