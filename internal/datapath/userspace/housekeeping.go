package userspace

import (
	"net/netip"
	"time"

	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/internal/esp"
)

// housekeeping is the backend's one timer goroutine: it reports the SA
// events the packet goroutines raise (at once when kicked) and the replay
// and ICV failures (with their count, at most once a second per SA unless
// an event comes too), sends NAT keepalives and logs outbound drops. Its
// work grows with the SAs that have something to report and the SAs in
// UDP, not with every installed SA.
func (b *Backend) housekeeping() {
	defer b.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	h := &keeper{b: b, m: newMmsgs(16)}
	for {
		select {
		case <-b.done:
			return
		case <-b.kick:
			h.report()
		case now := <-tick.C:
			h.report()
			h.keepalives(now)
			h.logDrops()
		}
	}
}

// keeper is the housekeeping goroutine's state.
type keeper struct {
	b      *Backend
	m      *mmsgs
	events []datapath.Event
	spare  []*saState // the notice queue's other buffer
	buf    [64]byte
	// Outbound drop counts already logged.
	loggedNoSA, loggedBlocked, loggedSelector uint64
}

// report delivers the events and failure counts of the SAs queued in
// b.notices, of those SAs that are still installed.
func (h *keeper) report() {
	b := h.b
	h.events = h.events[:0]
	queued := b.notices.take(h.spare)
	for _, st := range queued {
		st.queued.Store(false) // before the reads: what comes after queues st again
		if d := b.tab.all.Get(st.id); d == nil || d.st != st {
			continue // deleted
		}
		id := st.id
		if ev := st.pending.Swap(0); ev != 0 {
			if ev&evSoft != 0 {
				h.events = append(h.events, datapath.Event{Kind: datapath.SoftLifetime, SA: id})
			}
			if ev&evHard != 0 {
				h.events = append(h.events, datapath.Event{Kind: datapath.HardLifetime, SA: id})
			}
			if ev&evSeq != 0 {
				h.events = append(h.events, datapath.Event{Kind: datapath.SequenceExhausted, SA: id})
			}
		}
		if n := st.replayPending.Swap(0); n != 0 {
			h.events = append(h.events, datapath.Event{Kind: datapath.ReplayFailures, SA: id, Count: n})
		}
		if n := st.authPending.Swap(0); n != 0 {
			h.events = append(h.events, datapath.Event{Kind: datapath.AuthFailures, SA: id, Count: n})
		}
	}
	clear(queued)
	h.spare = queued[:0]
	for _, ev := range h.events {
		if ev.Kind == datapath.HardLifetime || ev.Kind == datapath.SequenceExhausted {
			b.log.Info("SA spent", "context", ev.SA.Context, "direction", ev.SA.Direction, "event", ev.Kind)
		}
		b.emit(ev)
	}
}

// keepalives sends a NAT-keepalive (RFC 3948 §2.3) for every outbound
// UDP-encapsulated SA that has sent nothing for the keepalive interval.
func (h *keeper) keepalives(now time.Time) {
	b := h.b
	iv := b.cfg.KeepaliveInterval
	if iv < 0 {
		return
	}
	h.buf[0] = esp.NATKeepalive
	var last *sock
	b.tab.udpOut.Range(func(_ datapath.SAID, d *bundle) bool {
		if d.st.dead.Load() {
			return true
		}
		if now.UnixNano()-d.st.lastSend.Load() < int64(iv) {
			return true
		}
		s := d.usock
		if s == nil || s.closed.Load() {
			return true
		}
		if last != nil && s != last {
			h.flush(last)
		}
		last = s
		if !h.m.add(h.buf[:1], netip.AddrPortFrom(d.remote, d.udp.remotePort), d.local) {
			h.flush(s)
			h.m.add(h.buf[:1], netip.AddrPortFrom(d.remote, d.udp.remotePort), d.local)
		}
		d.st.lastSend.Store(now.UnixNano())
		return true
	})
	if last != nil {
		h.flush(last)
	}
}

func (h *keeper) flush(s *sock) {
	if failed, err := h.m.flush(s); failed > 0 {
		h.b.stats.outSendErrors.Add(uint64(failed))
		h.b.logSendError(err)
	}
}

// logDrops logs the outbound packets dropped since the last call for want
// of an SA or by a BLOCK filter, and inbound selector mismatches: events
// an administrator should see, at most once a second.
func (h *keeper) logDrops() {
	b := h.b
	if n := b.stats.outNoSA.Load(); n != h.loggedNoSA {
		b.log.Warn("outbound packets dropped: they match an IPsec filter but no SA", "count", n-h.loggedNoSA, "total", n)
		h.loggedNoSA = n
	}
	if n := b.stats.outBlocked.Load(); n != h.loggedBlocked {
		b.log.Info("outbound packets dropped by BLOCK filters", "count", n-h.loggedBlocked, "total", n)
		h.loggedBlocked = n
	}
	if n := b.stats.inSelector.Load(); n != h.loggedSelector {
		b.log.Warn("inbound packets dropped: the inner packet does not match its SA's selectors", "count", n-h.loggedSelector, "total", n)
		h.loggedSelector = n
	}
}
