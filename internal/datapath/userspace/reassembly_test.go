package userspace

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/sadb-dev/sadb/internal/esp"
)

// udpDatagram returns an IPv4 or IPv6 UDP datagram with n bytes of
// payload (IPv6 with a Hop-by-Hop header when hbh is set).
func udpDatagram(v6, hbh bool, n int, seed uint64) []byte {
	rnd := rand.New(rand.NewPCG(seed, 1))
	udp := make([]byte, 8+n)
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 5201)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	for i := 8; i < len(udp); i++ {
		udp[i] = byte(rnd.Uint32())
	}
	if !v6 {
		pkt := make([]byte, esp.IPv4MinimumSize, esp.IPv4MinimumSize+len(udp))
		pkt[0], pkt[8], pkt[9] = 0x45, 64, protoUDP
		binary.BigEndian.PutUint16(pkt[2:], uint16(cap(pkt)))
		binary.BigEndian.PutUint16(pkt[4:], uint16(seed))
		copy(pkt[12:], netip.MustParseAddr("192.0.2.1").AsSlice())
		copy(pkt[16:], netip.MustParseAddr("192.0.2.2").AsSlice())
		esp.IPv4(pkt).UpdateChecksum()
		return append(pkt, udp...)
	}
	pkt := make([]byte, esp.IPv6FixedHeaderSize)
	pkt[0], pkt[6], pkt[7] = 0x60, protoUDP, 64
	copy(pkt[8:], netip.MustParseAddr("2001:db8::1").AsSlice())
	copy(pkt[24:], netip.MustParseAddr("2001:db8::2").AsSlice())
	if hbh {
		pkt[6] = esp.ProtoHopByHop
		pkt = append(pkt, protoUDP, 0, 1, 4, 0, 0, 0, 0) // PadN
	}
	pkt = append(pkt, udp...)
	esp.IPv6(pkt).SetPayloadLength(uint16(len(pkt) - esp.IPv6FixedHeaderSize))
	return pkt
}

// fragmentIP cuts the datagram pkt as a sending host does: fragments of
// at most step bytes of data (a multiple of 8), the IPv6 Fragment header
// after the unfragmentable part of hl bytes.
func fragmentIP(pkt []byte, hl, step int, id uint32) [][]byte {
	var out [][]byte
	data := pkt[hl:]
	for off := 0; off < len(data); off += step {
		end := min(off+step, len(data))
		more := end < len(data)
		var f []byte
		if pkt[0]>>4 == 4 {
			f = append(append([]byte{}, pkt[:hl]...), data[off:end]...)
			ff := uint16(off / 8)
			if more {
				ff |= 0x2000
			}
			binary.BigEndian.PutUint16(f[6:], ff)
			esp.IPv4(f).SetTotalLength(uint16(len(f)))
			esp.IPv4(f).UpdateChecksum()
		} else {
			f = append([]byte{}, pkt[:hl]...)
			nextAt := 6
			for at := esp.IPv6FixedHeaderSize; at < hl; at += (int(f[at+1]) + 1) * 8 {
				nextAt = at
			}
			fh := []byte{f[nextAt], 0, 0, 0, 0, 0, 0, 0}
			f[nextAt] = esp.ProtoFragment
			of := uint16(off)
			if more {
				of |= 1
			}
			binary.BigEndian.PutUint16(fh[2:], of)
			binary.BigEndian.PutUint32(fh[4:], id)
			f = append(append(f, fh...), data[off:end]...)
			esp.IPv6(f).SetPayloadLength(uint16(len(f) - esp.IPv6FixedHeaderSize))
		}
		out = append(out, f)
	}
	return out
}

// feed gives the fragments to r in order at now and returns the last
// result, the datagram if one completed (copied), and the fragments
// dropped.
func feed(t *testing.T, r *reassembler, frags [][]byte, now int64) (whole []byte, res reasmResult, dropped int) {
	t.Helper()
	for _, f := range frags {
		h, err := esp.ParseIPHeaders(f)
		if err != nil || !h.Fragment {
			t.Fatalf("test fragment: %v (fragment %v)", err, h.Fragment)
		}
		w, rs, d := r.add(f, h, now)
		dropped += d
		res = rs
		if rs == reasmDone {
			whole = append([]byte{}, w...)
		}
	}
	return whole, res, dropped
}

func TestReassembly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v6     bool
		hbh    bool
		n, hl  int
		step   int
		order  string
		result reasmResult
	}{
		{name: "v4 in order", n: 3000, hl: 20, step: 1480, order: "in order"},
		{name: "v4 reversed", n: 4000, hl: 20, step: 1000, order: "reversed"},
		{name: "v4 shuffled 64KiB", n: 60000, hl: 20, step: 1400, order: "shuffled"},
		{name: "v6 in order", v6: true, n: 1380, hl: 40, step: 1368, order: "in order"},
		{name: "v6 hop-by-hop reversed", v6: true, hbh: true, n: 5000, hl: 48, step: 1232, order: "reversed"},
		{name: "v6 shuffled", v6: true, n: 20000, hl: 40, step: 1232, order: "shuffled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := udpDatagram(tc.v6, tc.hbh, tc.n, 7)
			frags := fragmentIP(want, tc.hl, tc.step, 99)
			switch tc.order {
			case "reversed":
				for i, j := 0, len(frags)-1; i < j; i, j = i+1, j-1 {
					frags[i], frags[j] = frags[j], frags[i]
				}
			case "shuffled":
				rand.New(rand.NewPCG(1, 2)).Shuffle(len(frags), func(i, j int) { frags[i], frags[j] = frags[j], frags[i] })
			}
			var r reassembler
			got, res, dropped := feed(t, &r, frags[:len(frags)-1], 0)
			if res != reasmHeld || got != nil || dropped != 0 {
				t.Fatalf("before the last fragment: %v, %d bytes, %d dropped", res, len(got), dropped)
			}
			got, res, dropped = feed(t, &r, frags[len(frags)-1:], 1e9)
			if res != reasmDone || dropped != 0 {
				t.Fatalf("after the last fragment: %v, %d dropped", res, dropped)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("reassembled %d bytes differ from the %d sent:\n got %x\nwant %x", len(got), len(want), got[:min(64, len(got))], want[:64])
			}
			if len(r.ents) != 0 || len(r.free) != 1 {
				t.Errorf("%d datagrams left, %d buffers kept", len(r.ents), len(r.free))
			}
		})
	}
}

// TestReassemblyInterleaved reassembles datagrams whose fragments arrive
// mixed, told apart by identification (and protocol, for IPv4).
func TestReassemblyInterleaved(t *testing.T) {
	var r reassembler
	a, b := udpDatagram(false, false, 3000, 1), udpDatagram(false, false, 3000, 2)
	fa, fb := fragmentIP(a, 20, 1000, 0), fragmentIP(b, 20, 1000, 0)
	c6 := udpDatagram(true, false, 3000, 3)
	fc := fragmentIP(c6, 40, 1000, 1) // IPv6 id 1 as IPv4 id 1 of a: different datagrams
	var mixed [][]byte
	for i := range fa {
		mixed = append(mixed, fa[i], fb[i], fc[i])
	}
	done := 0
	for _, f := range mixed {
		h, _ := esp.ParseIPHeaders(f)
		w, res, dropped := r.add(f, h, 0)
		if dropped != 0 {
			t.Fatalf("%d dropped", dropped)
		}
		if res == reasmDone {
			if !bytes.Equal(w, a) && !bytes.Equal(w, b) && !bytes.Equal(w, c6) {
				t.Fatalf("reassembled a datagram that was not sent: %x", w[:40])
			}
			done++
		}
	}
	if done != 3 {
		t.Errorf("%d of 3 datagrams reassembled", done)
	}
}

func TestReassemblyRefuses(t *testing.T) {
	v4 := udpDatagram(false, false, 3000, 5)
	frags := fragmentIP(v4, 20, 1000, 0) // 3 fragments: 1000, 1000, 1008
	clone := func(i int) []byte { return append([]byte{}, frags[i]...) }
	t.Run("overlap drops the datagram", func(t *testing.T) {
		var r reassembler
		o := clone(1)
		binary.BigEndian.PutUint16(o[6:], 0x2000|uint16(992/8)) // starts 8 bytes into the first
		esp.IPv4(o).UpdateChecksum()
		_, res, dropped := feed(t, &r, [][]byte{frags[0], o}, 0)
		if res != reasmMalformed || dropped != 2 || len(r.ents) != 0 {
			t.Fatalf("%v, %d dropped, %d left", res, dropped, len(r.ents))
		}
		// The rest cannot complete it.
		if _, res, _ = feed(t, &r, frags[1:], 0); res != reasmHeld {
			t.Errorf("after the overlap: %v", res)
		}
	})
	t.Run("a non-last fragment not a multiple of 8", func(t *testing.T) {
		var r reassembler
		o := clone(0)[:20+999]
		esp.IPv4(o).SetTotalLength(uint16(len(o)))
		esp.IPv4(o).UpdateChecksum()
		if _, res, dropped := feed(t, &r, [][]byte{o}, 0); res != reasmMalformed || dropped != 1 {
			t.Errorf("%v, %d dropped", res, dropped)
		}
	})
	t.Run("a second last fragment", func(t *testing.T) {
		var r reassembler
		o := clone(1)
		binary.BigEndian.PutUint16(o[6:], uint16(1000/8)) // MF clear: ends at 2000
		esp.IPv4(o).UpdateChecksum()
		if _, res, dropped := feed(t, &r, [][]byte{frags[2], o}, 0); res != reasmMalformed || dropped != 2 {
			t.Errorf("%v, %d dropped", res, dropped)
		}
	})
	t.Run("past 64 KiB", func(t *testing.T) {
		var r reassembler
		o := clone(1)
		binary.BigEndian.PutUint16(o[6:], 0x1fff) // offset 65528, last
		esp.IPv4(o).UpdateChecksum()
		if _, res, dropped := feed(t, &r, [][]byte{o}, 0); res != reasmMalformed || dropped != 1 {
			t.Errorf("%v, %d dropped", res, dropped)
		}
	})
	t.Run("too large to protect", func(t *testing.T) {
		var r reassembler
		big := udpDatagram(false, false, maxMTU, 9) // over maxMTU with its headers
		_, res, dropped := feed(t, &r, fragmentIP(big, 20, 1480, 0), 0)
		if res != reasmMalformed || dropped != len(fragmentIP(big, 20, 1480, 0)) || len(r.ents) != 0 {
			t.Errorf("%v, %d dropped, %d left", res, dropped, len(r.ents))
		}
	})
	t.Run("timeout", func(t *testing.T) {
		var r reassembler
		feed(t, &r, frags[:2], 0)
		_, res, dropped := feed(t, &r, frags[2:], reasmTimeout4)
		if res != reasmHeld || dropped != 2 {
			t.Errorf("after 30 s: %v, %d dropped", res, dropped)
		}
		var r6 reassembler
		f6 := fragmentIP(udpDatagram(true, false, 3000, 5), 40, 1000, 5)
		feed(t, &r6, f6[:2], 0)
		if w, res, dropped := feed(t, &r6, f6[2:], reasmTimeout4); res != reasmDone || dropped != 0 || w == nil {
			t.Errorf("IPv6 after 30 s: %v, %d dropped", res, dropped)
		}
	})
	t.Run("eviction", func(t *testing.T) {
		var r reassembler
		for i := range maxReasm + 1 {
			f := fragmentIP(udpDatagram(false, false, 3000, uint64(i)), 20, 1000, 0)
			_, _, dropped := feed(t, &r, f[:1], int64(i))
			if want := min(1, i/maxReasm); dropped != want {
				t.Fatalf("datagram %d: %d dropped, want %d", i, dropped, want)
			}
		}
		if len(r.ents) != maxReasm {
			t.Errorf("%d datagrams held, want %d", len(r.ents), maxReasm)
		}
	})
	t.Run("atomic fragment", func(t *testing.T) {
		var r reassembler
		want := udpDatagram(true, true, 100, 3)
		f := fragmentIP(want, 48, 1232, 7)
		got, res, _ := feed(t, &r, f, 0)
		if res != reasmDone || !bytes.Equal(got, want) || len(r.ents) != 0 {
			t.Errorf("%v, %x, want %x", res, got, want)
		}
	})
}

// FuzzReassembly feeds fragments cut from one datagram, altered by the
// fuzzer, in the fuzzer's order: nothing panics, and whatever completes is
// a well-formed IP packet no larger than maxMTU.
func FuzzReassembly(f *testing.F) {
	f.Add(false, uint16(1000), []byte{0, 1, 2}, []byte{})
	f.Add(true, uint16(1232), []byte{2, 1, 0}, []byte{7, 0x21})
	f.Add(true, uint16(8), []byte{0, 0, 1}, []byte{46, 0xff, 47, 0x01})
	f.Fuzz(func(t *testing.T, v6 bool, step uint16, order []byte, edits []byte) {
		hl := 20
		if v6 {
			hl = 40
		}
		st := max(8, int(step)&^7)
		frags := fragmentIP(udpDatagram(v6, false, 3000, 1), hl, st, 3)
		var r reassembler
		for i, o := range order {
			fr := append([]byte{}, frags[int(o)%len(frags)]...)
			// Each pair of edits bytes overwrites one byte of one
			// fragment's headers.
			for j := 0; j+1 < len(edits); j += 2 {
				if int(edits[j])%len(order) == i {
					fr[int(edits[j])%min(len(fr), hl+16)] = edits[j+1]
				}
			}
			h, err := esp.ParseIPHeaders(fr)
			if err != nil || !h.Fragment || h.PacketLen > len(fr) {
				continue
			}
			w, res, _ := r.add(fr, h, int64(i))
			if res != reasmDone {
				continue
			}
			wh, err := esp.ParseIPHeaders(w)
			if err != nil || wh.Fragment || wh.PacketLen != len(w) || len(w) > maxMTU {
				t.Fatalf("reassembled a bad datagram (%v, fragment %v, %d of %d bytes): %x", err, wh.Fragment, wh.PacketLen, len(w), w[:min(len(w), 64)])
			}
		}
		if len(r.ents) > maxReasm {
			t.Fatalf("%d datagrams held", len(r.ents))
		}
	})
}
