package userspace

import (
	"encoding/binary"
	"net/netip"

	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/internal/rcu"
)

// The hashes of the data path's table keys, for rcu.Map.

func hashSPIKey(k spiKey) uint64 { return rcu.Mix64(uint64(k.spi)<<8 | uint64(k.proto)) }

func hashSAID(id datapath.SAID) uint64 { return rcu.Mix64(id.Context<<2 ^ uint64(id.Direction)) }

func hashAddr(h uint64, a netip.Addr) uint64 {
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	if a.Is4() {
		lo ^= 1 << 63 // keep 192.0.2.1 and ::c000:201 apart
	}
	return rcu.Mix64(h ^ rcu.Mix64(hi) ^ lo)
}
