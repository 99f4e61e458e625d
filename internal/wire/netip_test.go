package wire

import "net/netip"

func netipMust(s string) netip.Prefix { return netip.MustParsePrefix(s) }
