package userspace

import "sort"

// saList is the outbound SAs filed under one outKey, newest first (by
// install order), as the packet goroutines read it: immutable chunks of
// at most 2*saChunk bundles behind an immutable index. Changing it copies
// one chunk and the index, so that even 100,000 SAs of one traffic (a
// keying daemon's many contexts on one filter) cost O(n/saChunk) per
// change rather than O(n). The zero value (and nil) is the empty list.
type saList struct {
	chunks [][]*bundle
	n      int
}

const saChunk = 128

// first returns the newest bundle of l for which ok holds, or nil. It
// stops at bundles older than floor.
func (l *saList) first(floor uint64, ok func(*bundle) bool) *bundle {
	if l == nil {
		return nil
	}
	for _, c := range l.chunks {
		for _, d := range c {
			if d.order < floor {
				return nil
			}
			if ok(d) {
				return d
			}
		}
	}
	return nil
}

// find returns the chunk where a bundle of the given order is, or goes.
func (l *saList) find(order uint64) int {
	// Chunks are newest first: the first chunk whose last bundle is not
	// newer than order.
	i := sort.Search(len(l.chunks), func(i int) bool {
		c := l.chunks[i]
		return c[len(c)-1].order <= order
	})
	return min(i, max(len(l.chunks)-1, 0))
}

// with returns l with d in its place by order, replacing the bundle with
// d's id (which has d's order: UpdateSA keeps it).
func (l *saList) with(d *bundle) *saList {
	if l == nil || l.n == 0 {
		return &saList{chunks: [][]*bundle{{d}}, n: 1}
	}
	i := l.find(d.order)
	c := l.chunks[i]
	nc := make([]*bundle, 0, len(c)+1)
	placed, replaced := false, false
	for _, o := range c {
		if o.id == d.id {
			replaced = true
			continue
		}
		if !placed && d.order >= o.order {
			nc = append(nc, d)
			placed = true
		}
		nc = append(nc, o)
	}
	if !placed {
		nc = append(nc, d)
	}
	n := l.n + 1
	if replaced {
		n--
	}
	idx := make([][]*bundle, 0, len(l.chunks)+1)
	idx = append(idx, l.chunks[:i]...)
	if len(nc) > 2*saChunk {
		idx = append(idx, nc[:saChunk:saChunk], nc[saChunk:])
	} else {
		idx = append(idx, nc)
	}
	idx = append(idx, l.chunks[i+1:]...)
	return &saList{chunks: idx, n: n}
}

// without returns l without d (nil when that leaves it empty).
func (l *saList) without(d *bundle) *saList {
	if l == nil {
		return nil
	}
	i := l.find(d.order)
	c := l.chunks[i]
	nc := make([]*bundle, 0, len(c))
	for _, o := range c {
		if o != d {
			nc = append(nc, o)
		}
	}
	if len(nc) == len(c) {
		return l // not there
	}
	if l.n == 1 {
		return nil
	}
	idx := make([][]*bundle, 0, len(l.chunks))
	idx = append(idx, l.chunks[:i]...)
	if len(nc) > 0 {
		idx = append(idx, nc)
	}
	idx = append(idx, l.chunks[i+1:]...)
	return &saList{chunks: idx, n: l.n - 1}
}
