package userspace

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Capture by routing: the backend owns routing table cfg.Table, which
// holds a route into the TUN device for every destination an outbound
// IPsec filter (or SA) protects, and two rules ("not fwmark Mark lookup
// Table", IPv4 and IPv6) that send every unmarked packet through it. The
// backend's own sockets carry the mark, so ESP and packets let out in
// clear skip the table and take the normal routes.

// routeRef is one installed route and how many filters and SAs want it.
type routeRef struct {
	route *netlink.Route
	refs  int
}

// setupLink brings the TUN device up without IPv6 address autoconfiguration
// (no link-local address, so no router or neighbour solicitations into the
// tunnel).
func (b *Backend) setupLink() error {
	link, err := b.nl.LinkByName(b.tunName)
	if err != nil {
		return fmt.Errorf("userspace: finding %s: %w", b.tunName, err)
	}
	b.tunIndex = link.Attrs().Index
	if err := b.nl.LinkSetIP6AddrGenMode(link, nl.IN6_ADDR_GEN_MODE_NONE); err != nil {
		b.log.Debug("could not turn off IPv6 address generation", "link", b.tunName, "err", err)
	}
	if err := b.nl.LinkSetMTU(link, b.cfg.MTU); err != nil {
		return fmt.Errorf("userspace: setting the MTU of %s: %w", b.tunName, err)
	}
	if err := b.nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("userspace: bringing %s up: %w", b.tunName, err)
	}
	return nil
}

// rules returns the backend's two routing rules.
func (b *Backend) rules() []*netlink.Rule {
	var out []*netlink.Rule
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		r := netlink.NewRule()
		r.Family = fam
		r.Priority = b.cfg.RulePriority
		r.Table = b.cfg.Table
		r.Mark = b.cfg.Mark
		mask := uint32(0xffffffff)
		r.Mask = &mask
		r.Invert = true
		out = append(out, r)
	}
	return out
}

// addRules installs the rules, replacing leftovers of an earlier run that
// did not close (same priority, table and mark).
func (b *Backend) addRules() error {
	b.delRules()
	for _, r := range b.rules() {
		if err := b.nl.RuleAdd(r); err != nil {
			b.delRules()
			return fmt.Errorf("userspace: adding the routing rule (family %d): %w", r.Family, err)
		}
	}
	return nil
}

// delRules removes the backend's rules, ignoring ones that are not there.
func (b *Backend) delRules() {
	for _, r := range b.rules() {
		for b.nl.RuleDel(r) == nil {
		}
	}
}

// flushTable removes every route left in the backend's table (by an
// earlier run that did not close, for a device of another name).
func (b *Backend) flushTable() {
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		routes, err := b.nl.RouteListFiltered(fam, &netlink.Route{Table: b.cfg.Table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			continue
		}
		for i := range routes {
			_ = b.nl.RouteDel(&routes[i])
		}
	}
}

// refRoutesLocked takes one reference on a route to each prefix, with
// source src where it is a local address (else the kernel chooses).
// The caller must hold b.mu.
func (b *Backend) refRoutesLocked(prefixes []netip.Prefix, src netip.Addr) error {
	var added []netip.Prefix
	for _, p := range prefixes {
		if r := b.routes[p]; r != nil {
			r.refs++
			added = append(added, p)
			continue
		}
		route := &netlink.Route{
			LinkIndex: b.tunIndex,
			Table:     b.cfg.Table,
			Dst:       prefixIPNet(p),
			Scope:     netlink.SCOPE_LINK,
		}
		if src.IsValid() && src.Is4() == p.Addr().Is4() && b.isLocal(src) {
			route.Src = net.IP(src.AsSlice())
		}
		err := b.nl.RouteAdd(route)
		if errors.Is(err, unix.EINVAL) && route.Src != nil {
			// The source is not usable yet (a tentative IPv6 address):
			// let the kernel choose.
			b.log.Debug("route source refused; adding the route without it", "dst", p, "src", src, "err", err)
			route.Src = nil
			err = b.nl.RouteAdd(route)
		}
		if errors.Is(err, unix.EEXIST) {
			err = b.nl.RouteReplace(route)
		}
		if err != nil {
			b.unrefRoutesLocked(added)
			return fmt.Errorf("userspace: adding the route to %v: %w", p, err)
		}
		b.routes[p] = &routeRef{route: route, refs: 1}
		added = append(added, p)
	}
	return nil
}

// unrefRoutesLocked drops one reference on each prefix's route and
// removes the routes no one wants any more. The caller must hold b.mu.
func (b *Backend) unrefRoutesLocked(prefixes []netip.Prefix) {
	for _, p := range prefixes {
		r := b.routes[p]
		if r == nil {
			continue
		}
		if r.refs--; r.refs > 0 {
			continue
		}
		delete(b.routes, p)
		if err := b.nl.RouteDel(r.route); err != nil && !errors.Is(err, unix.ESRCH) {
			b.log.Warn("removing a route failed", "dst", p, "err", err)
		}
	}
}

// clampRoutesLocked lowers the MTU of the routes to prefixes to mtu where
// they allow more (never below IPv6's 1280, nor 576). The caller must hold
// b.mu.
func (b *Backend) clampRoutesLocked(prefixes []netip.Prefix, mtu int) {
	if mtu >= b.cfg.MTU {
		return
	}
	for _, p := range prefixes {
		r := b.routes[p]
		if r == nil {
			continue
		}
		m := max(mtu, minMTU)
		if p.Addr().Is6() {
			m = max(mtu, ipv6MinMTU)
		}
		if r.route.MTU != 0 && r.route.MTU <= m {
			continue
		}
		nr := *r.route
		nr.MTU = m
		if err := b.nl.RouteReplace(&nr); err != nil {
			b.log.Warn("lowering a route's MTU failed", "dst", p, "mtu", m, "err", err)
			continue
		}
		r.route = &nr
	}
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	bits := 128
	if p.Addr().Is4() {
		bits = 32
	}
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}

// isLocal reports whether a is an address of this network namespace.
func (b *Backend) isLocal(a netip.Addr) bool {
	fam := unix.AF_INET6
	if a.Is4() {
		fam = unix.AF_INET
	}
	addrs, err := b.nl.AddrList(nil, fam)
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if y, ok := netip.AddrFromSlice(x.IP); ok && y.Unmap() == a {
			return true
		}
	}
	return false
}

// localIn returns a local address inside ivs (of the given version), to be
// the source of routes to a tunnel's remote subnets; invalid if none.
func (b *Backend) localIn(ivs []ival, v4 bool) netip.Addr {
	fam := unix.AF_INET6
	if v4 {
		fam = unix.AF_INET
	}
	addrs, err := b.nl.AddrList(nil, fam)
	if err != nil {
		return netip.Addr{}
	}
	for _, x := range addrs {
		a, ok := netip.AddrFromSlice(x.IP)
		if !ok {
			continue
		}
		a = a.Unmap()
		if a.Is4() != v4 || a.IsLoopback() || a.IsLinkLocalUnicast() {
			continue
		}
		v := addrU128(a)
		for _, iv := range ivs {
			if iv.contains(v) {
				return a
			}
		}
	}
	return netip.Addr{}
}

// pathMTU returns the MTU of the route a marked packet to dst takes: the
// route's own MTU, else its device's; 1500 when it cannot tell.
func (b *Backend) pathMTU(dst netip.Addr) int {
	routes, err := b.nl.RouteGetWithOptions(net.IP(dst.AsSlice()), &netlink.RouteGetOptions{Mark: b.cfg.Mark})
	if err != nil || len(routes) == 0 {
		return 1500
	}
	if routes[0].MTU > 0 {
		return routes[0].MTU
	}
	link, err := b.nl.LinkByIndex(routes[0].LinkIndex)
	if err != nil || link.Attrs().MTU <= 0 {
		return 1500
	}
	return link.Attrs().MTU
}
