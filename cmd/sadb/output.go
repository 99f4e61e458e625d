package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/sadb-dev/sadb/wfp"
)

// emit prints v as indented JSON with -o json, and calls human otherwise.
func (a *app) emit(v any, human func(w io.Writer)) error {
	if a.jsonOut() {
		return writeJSON(a.stdout, v)
	}
	human(a.stdout)
	return nil
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows under a header with aligned columns.
type table struct {
	header []string
	rows   [][]string
}

// newTable returns an empty table with a header row.
func newTable(header ...string) *table { return &table{header: header} }

// add appends a row.
func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// write prints the table, empty cells as "-".
func (t *table) write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	line := func(cells []string) {
		for i, c := range cells {
			if c == "" {
				c = "-"
			}
			if i > 0 {
				io.WriteString(tw, "\t")
			}
			io.WriteString(tw, c)
		}
		io.WriteString(tw, "\n")
	}
	line(t.header)
	for _, r := range t.rows {
		line(r)
	}
	tw.Flush()
}

// block prints "key  value" lines, values aligned, optionally under a
// title, with nested blocks indented where they were added.
type block struct {
	title   string
	entries []blockEntry
}

// blockEntry is a key/value line or a nested block.
type blockEntry struct {
	key, value string
	sub        *block
}

// add appends a key/value line.
func (b *block) add(k, v string) { b.entries = append(b.entries, blockEntry{key: k, value: v}) }

// sub appends a nested block and returns it.
func (b *block) sub(title string) *block {
	s := &block{title: title}
	b.entries = append(b.entries, blockEntry{sub: s})
	return s
}

// write prints the block.
func (b *block) write(w io.Writer) { b.writeIndent(w, "") }

// writeIndent prints the block indented by indent, aligning the values of its
// lines.
func (b *block) writeIndent(w io.Writer, indent string) {
	inner := indent
	if b.title != "" {
		fmt.Fprintf(w, "%s%s\n", indent, b.title)
		inner = indent + "  "
	}
	width := 0
	for _, e := range b.entries {
		if e.sub == nil {
			width = max(width, len(e.key))
		}
	}
	for _, e := range b.entries {
		if e.sub != nil {
			e.sub.writeIndent(w, inner)
			continue
		}
		v := e.value
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(w, "%s%-*s  %s\n", inner, width, e.key, v)
	}
}

// spiText formats an SPI in decimal and hex: "4096 (0x00001000)".
func spiText(spi uint32) string { return fmt.Sprintf("%d (%s)", spi, spiHex(spi)) }

// spiHex formats an SPI as 0x and eight hex digits.
func spiHex(spi uint32) string { return fmt.Sprintf("0x%08x", spi) }

// guidName is the well-known name of g, or its registry form.
func guidName(g wfp.GUID) string {
	if n, ok := wfp.GUIDName(g); ok {
		return n
	}
	return g.String()
}

// shortGUIDName is the friendly form of a well-known name with its prefix
// ("FWPM_LAYER_OUTBOUND_TRANSPORT_V4" with "FWPM_LAYER_" is
// "outbound-transport-v4"), or the registry form of an unknown GUID.
func shortGUIDName(g wfp.GUID, prefix string) string {
	n, ok := wfp.GUIDName(g)
	if !ok || !strings.HasPrefix(n, prefix) {
		if g.IsZero() {
			return ""
		}
		return g.String()
	}
	return friendly(strings.TrimPrefix(n, prefix))
}

// friendly turns a symbolic name into the CLI's spelling:
// "OUTBOUND_TRANSPORT_V4" is "outbound-transport-v4".
func friendly(sym string) string {
	return strings.ToLower(strings.ReplaceAll(sym, "_", "-"))
}

// symbolic turns the CLI's spelling back: "outbound-transport-v4" is
// "OUTBOUND_TRANSPORT_V4".
func symbolic(name string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(name), "-", "_"))
}

// lookupNamed resolves a friendly or symbolic name of a well-known GUID
// with the given prefix ("FWPM_LAYER_"), or a GUID in registry form.
func lookupNamed(name, prefix string) (wfp.GUID, bool) {
	s := symbolic(name)
	if g, ok := wfp.LookupGUID(s); ok && strings.HasPrefix(s, prefix) {
		return g, true
	}
	if g, ok := wfp.LookupGUID(prefix + s); ok {
		return g, true
	}
	if g, err := wfp.ParseGUID(strings.TrimSpace(name)); err == nil {
		return g, true
	}
	return wfp.GUID{}, false
}

// trimEnum drops the prefix of an enum's String form:
// trimEnum("FWP_IP_VERSION_V4", "FWP_IP_VERSION_") is "V4".
func trimEnum(s, prefix string) string { return strings.TrimPrefix(s, prefix) }

// protocolNames are the IP protocols known by name.
func protocolNames() map[string]uint8 {
	return map[string]uint8{
		"icmp": wfp.IPProtoICMP, "tcp": wfp.IPProtoTCP, "udp": wfp.IPProtoUDP,
		"esp": wfp.IPProtoESP, "ah": wfp.IPProtoAH, "icmpv6": wfp.IPProtoICMPv6,
	}
}

// protocolText names an IP protocol number where it has a name.
func protocolText(p uint8) string {
	for n, v := range protocolNames() {
		if v == p {
			return n
		}
	}
	return strconv.Itoa(int(p))
}

// parseProtocol parses a protocol name or number (0-255).
func parseProtocol(s string) (uint8, error) {
	if v, ok := protocolNames()[strings.ToLower(s)]; ok {
		return v, nil
	}
	n, err := strconv.ParseUint(s, 0, 8)
	if err != nil {
		return 0, usagef("protocol %q: want tcp, udp, icmp, icmpv6, esp, ah or a number 0-255", s)
	}
	return uint8(n), nil
}

// parseAddr parses a unicast IP address.
func parseAddr(flag, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, usagef("--%s %q: not an IP address", flag, s)
	}
	return a.Unmap(), nil
}

// parsePrefix parses an address or a subnet; an address is a full-length
// prefix.
func parsePrefix(flag, s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, usagef("--%s %q: not an address or subnet", flag, s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := parseAddr(flag, s)
	if err != nil {
		return netip.Prefix{}, usagef("--%s %q: not an address or subnet", flag, s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// subnetValue is the condition value for a subnet: a single address when
// the prefix is full-length, else an address with mask.
func subnetValue(p netip.Prefix) wfp.FwpConditionValue0 {
	if p.IsSingleIP() {
		return wfp.AddrValue(p.Addr())
	}
	return wfp.PrefixValue(p)
}

// parseUint parses a decimal or 0x-prefixed unsigned number of bits bits.
func parseUint(flag, s string, bits int) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 0, bits)
	if err != nil {
		return 0, usagef("--%s %q: want a number of at most %d bits", flag, s, bits)
	}
	return n, nil
}

// parseID parses an object id argument.
func parseID(what, s string) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 0, 64)
	if err != nil || n == 0 {
		return 0, usagef("%s %q: want a positive number", what, s)
	}
	return n, nil
}

// parseSPI parses an SPI in decimal or 0x hex.
func parseSPI(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 0, 32)
	if err != nil {
		return 0, usagef("SPI %q: want a 32-bit number (decimal or 0x hex)", s)
	}
	return uint32(n), nil
}
