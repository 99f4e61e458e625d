package userspace

// writeBatch coalesces runs of one flow among the packets bt delivered
// and writes the result to the TUN device with w (of the receiving
// goroutine; the device takes concurrent writes).
func (b *Backend) writeBatch(w *tunWriter, bt *ibatch) {
	uso := b.dev.uso
	var g groFlow
	var head []byte // the open run, bt.arena[hs:...]
	hs := 0
	flush := func() {
		if head == nil {
			return
		}
		groFinish(&g, head, bt.arena[hs-vnetHdrLen:hs])
		if err := w.write(bt.arena[hs-vnetHdrLen : hs+len(head)]); err != nil && !errClosed(err) {
			b.stats.inTUNErrors.Add(uint64(max(g.segments, 1)))
			b.logSendError(err)
		}
		head = nil
	}
	for _, p := range bt.pkts {
		pkt := bt.arena[p.start:p.end]
		if head != nil {
			var ok bool
			if head, ok = groAppend(&g, head, pkt); ok {
				continue
			}
		}
		flush()
		hs = p.start
		head = bt.arena[p.start:p.end:p.limit]
		var ok bool
		if g, ok = groCandidate(head, uso); !ok {
			g = groFlow{closed: true}
		}
	}
	flush()
}
