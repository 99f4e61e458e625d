package main

import (
	"cmp"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sadb-dev/sadb/wfp"
)

// ipsecCallout is one of the built-in IPsec transport or tunnel callouts
// with the transport layer it is used at.
type ipsecCallout struct {
	dir     wfp.Direction
	tunnel  bool
	v6      bool
	layer   wfp.LayerID
	callout wfp.CalloutID
}

// ipsecCallouts lists the IPsec transport and tunnel callouts.
func ipsecCallouts() []ipsecCallout {
	out, in := wfp.DirectionOutbound, wfp.DirectionInbound
	return []ipsecCallout{
		{out, false, false, wfp.LayerOutboundTransportV4, wfp.CalloutIPsecOutboundTransportV4},
		{out, false, true, wfp.LayerOutboundTransportV6, wfp.CalloutIPsecOutboundTransportV6},
		{in, false, false, wfp.LayerInboundTransportV4, wfp.CalloutIPsecInboundTransportV4},
		{in, false, true, wfp.LayerInboundTransportV6, wfp.CalloutIPsecInboundTransportV6},
		{out, true, false, wfp.LayerOutboundTransportV4, wfp.CalloutIPsecOutboundTunnelV4},
		{out, true, true, wfp.LayerOutboundTransportV6, wfp.CalloutIPsecOutboundTunnelV6},
		{in, true, false, wfp.LayerInboundTransportV4, wfp.CalloutIPsecInboundTunnelV4},
		{in, true, true, wfp.LayerInboundTransportV6, wfp.CalloutIPsecInboundTunnelV6},
	}
}

// findIPsecCallout returns the IPsec callout of a direction, kind and IP
// version.
func findIPsecCallout(dir wfp.Direction, tunnel, v6 bool) ipsecCallout {
	for _, c := range ipsecCallouts() {
		if c.dir == dir && c.tunnel == tunnel && c.v6 == v6 {
			return c
		}
	}
	panic("unreachable: every combination is listed")
}

// ipsecCalloutOf looks up an IPsec callout.
func ipsecCalloutOf(id wfp.CalloutID) (ipsecCallout, bool) {
	for _, c := range ipsecCallouts() {
		if c.callout == id {
			return c, true
		}
	}
	return ipsecCallout{}, false
}

// counterpart is the callout of the other direction, same kind and version.
func (c ipsecCallout) counterpart() ipsecCallout {
	dir := wfp.DirectionInbound
	if c.dir == wfp.DirectionInbound {
		dir = wfp.DirectionOutbound
	}
	return findIPsecCallout(dir, c.tunnel, c.v6)
}

// layerInfo says what sadb knows of a transport layer: its direction and
// IP version. ok is false for other layers.
func layerInfo(l wfp.LayerID) (dir wfp.Direction, v6, ok bool) {
	for _, c := range ipsecCallouts() {
		if c.layer == l {
			return c.dir, c.v6, true
		}
	}
	return 0, false, false
}

// parseLayer resolves a layer name: "outbound-transport-v4",
// "FWPM_LAYER_OUTBOUND_TRANSPORT_V4" or a GUID.
func parseLayer(s string) (wfp.LayerID, error) {
	g, ok := lookupNamed(s, "FWPM_LAYER_")
	if !ok {
		return wfp.LayerID{}, usagef("--layer %q: unknown layer (e.g. outbound-transport-v4, inbound-transport-v6, FWPM_LAYER_IPFORWARD_V4 or a GUID)", s)
	}
	return wfp.LayerID(g), nil
}

// actionNames maps --action names onto action types.
func actionNames() map[string]wfp.ActionType {
	return map[string]wfp.ActionType{
		"permit": wfp.ActionPermit, "block": wfp.ActionBlock,
		"callout-terminating": wfp.ActionCalloutTerminating, "callout-inspection": wfp.ActionCalloutInspection,
		"callout-unknown": wfp.ActionCalloutUnknown,
	}
}

// actionText names an action as --action would: "callout-terminating".
func actionText(t wfp.ActionType) string { return friendly(trimEnum(t.String(), "FWP_ACTION_")) }

// filterSpec is what filter add and add-pair have in common: conditions,
// weight, name.
type filterSpec struct {
	// Flags.
	local, remote     string
	protocol          string
	localPort         string
	remotePort        string
	weight            uint64
	weightRange       int
	name, description string
	persistent        bool

	// Set by parse.
	localPfx, remotePfx netip.Prefix
	conditions          []wfp.FwpmFilterCondition0
	weightValue         wfp.FwpValue0
}

// register adds the condition, weight and name flags to cmd.
func (s *filterSpec) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.local, "local", "", "local address or subnet (IP_LOCAL_ADDRESS)")
	f.StringVar(&s.remote, "remote", "", "remote address or subnet (IP_REMOTE_ADDRESS)")
	f.StringVar(&s.protocol, "protocol", "", "IP protocol: tcp, udp, icmp, ... or a number (IP_PROTOCOL)")
	f.StringVar(&s.localPort, "local-port", "", "local port or range LOW-HIGH (IP_LOCAL_PORT)")
	f.StringVar(&s.remotePort, "remote-port", "", "remote port or range LOW-HIGH (IP_REMOTE_PORT)")
	f.Uint64Var(&s.weight, "weight", 0, "filter weight as a 64-bit number (default: automatic)")
	f.IntVar(&s.weightRange, "weight-range", -1, "weight range 0-15; the engine fills in the low 60 bits")
	f.StringVar(&s.name, "name", "", "display name (default: describes the filter)")
	f.StringVar(&s.description, "description", "", "display description")
	f.BoolVar(&s.persistent, "persistent", false, "set FWPM_FILTER_FLAG_PERSISTENT")
}

// parse checks the flags and builds the conditions and weight.
func (s *filterSpec) parse(cmd *cobra.Command) error {
	var err error
	if s.local != "" {
		if s.localPfx, err = parsePrefix("local", s.local); err != nil {
			return err
		}
		s.conditions = append(s.conditions, wfp.Condition(wfp.ConditionIPLocalAddress, wfp.MatchEqual, subnetValue(s.localPfx)))
	}
	if s.remote != "" {
		if s.remotePfx, err = parsePrefix("remote", s.remote); err != nil {
			return err
		}
		s.conditions = append(s.conditions, wfp.Condition(wfp.ConditionIPRemoteAddress, wfp.MatchEqual, subnetValue(s.remotePfx)))
	}
	if s.localPfx.IsValid() && s.remotePfx.IsValid() && s.localPfx.Addr().Is4() != s.remotePfx.Addr().Is4() {
		return usagef("--local %s and --remote %s are of different IP versions", s.localPfx, s.remotePfx)
	}
	if s.protocol != "" {
		p, err := parseProtocol(s.protocol)
		if err != nil {
			return err
		}
		s.conditions = append(s.conditions, wfp.ValueCondition(wfp.ConditionIPProtocol, wfp.MatchEqual, wfp.Uint8Value(p)))
	}
	for _, p := range []struct {
		flag, val string
		field     wfp.FieldID
	}{{"local-port", s.localPort, wfp.ConditionIPLocalPort}, {"remote-port", s.remotePort, wfp.ConditionIPRemotePort}} {
		if p.val == "" {
			continue
		}
		c, err := portCondition(p.flag, p.val, p.field)
		if err != nil {
			return err
		}
		s.conditions = append(s.conditions, c)
	}
	switch {
	case cmd.Flags().Changed("weight") && cmd.Flags().Changed("weight-range"):
		return usagef("give --weight or --weight-range, not both")
	case cmd.Flags().Changed("weight"):
		s.weightValue = wfp.Uint64Value(s.weight)
	case cmd.Flags().Changed("weight-range"):
		if s.weightRange < 0 || s.weightRange > 255 {
			return usagef("--weight-range %d: want 0-15", s.weightRange)
		}
		s.weightValue = wfp.Uint8Value(uint8(s.weightRange))
	}
	return nil
}

// v6 reports whether the addresses given are IPv6.
func (s *filterSpec) v6() (v6, known bool) {
	switch {
	case s.localPfx.IsValid():
		return !s.localPfx.Addr().Is4(), true
	case s.remotePfx.IsValid():
		return !s.remotePfx.Addr().Is4(), true
	}
	return false, false
}

// portCondition parses a port or a LOW-HIGH range.
func portCondition(flag, s string, field wfp.FieldID) (wfp.FwpmFilterCondition0, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	l, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	h, err2 := l, error(nil)
	if isRange {
		h, err2 = strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	}
	if err1 != nil || err2 != nil {
		return wfp.FwpmFilterCondition0{}, usagef("--%s %q: want a port or a range LOW-HIGH", flag, s)
	}
	if !isRange {
		return wfp.ValueCondition(field, wfp.MatchEqual, wfp.Uint16Value(uint16(l))), nil
	}
	return wfp.FwpmFilterCondition0{FieldKey: field, MatchType: wfp.MatchRange, ConditionValue: wfp.FwpConditionValue0{
		FwpValue0:  wfp.FwpValue0{Type: wfp.DataTypeRange},
		RangeValue: &wfp.FwpRange0{ValueLow: wfp.Uint16Value(uint16(l)), ValueHigh: wfp.Uint16Value(uint16(h))},
	}}, nil
}

// filter builds an FWPM_FILTER0 at layer with action and callout.
func (s *filterSpec) filter(layer wfp.LayerID, action wfp.ActionType, callout wfp.CalloutID, name string) *wfp.FwpmFilter0 {
	f := &wfp.FwpmFilter0{
		DisplayData:     wfp.FwpmDisplayData0{Name: name, Description: s.description},
		LayerKey:        layer,
		Weight:          s.weightValue,
		FilterCondition: append([]wfp.FwpmFilterCondition0(nil), s.conditions...),
		Action:          wfp.FwpmAction0{Type: action, CalloutKey: callout},
	}
	if s.persistent {
		f.Flags |= wfp.FilterFlagPersistent
	}
	return f
}

// describe is a default display name: "sadb ipsec outbound transport
// 192.0.2.1 -> 192.0.2.2".
func (s *filterSpec) describe(what string) string {
	l, r := "any", "any"
	if s.localPfx.IsValid() {
		l = prefixText(s.localPfx)
	}
	if s.remotePfx.IsValid() {
		r = prefixText(s.remotePfx)
	}
	return fmt.Sprintf("sadb %s %s -> %s", what, l, r)
}

// prefixText is an address, or a subnet in CIDR form.
func prefixText(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// newFilterCmd builds "sadb filter" and its subcommands.
func newFilterCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "filter",
		Short: "IPsec filters: add, add-pair, delete, show, list",
		Long: `Filters select the traffic SA contexts protect. An SA context refers to an
outbound IPsec filter; its inbound SA to the inbound one.`,
		Example: `  sadb filter add-pair --local 192.0.2.1 --remote 192.0.2.2
  sadb filter add --ipsec outbound --local 192.0.2.1 --remote 192.0.2.0/24 --protocol tcp
  sadb filter list --layer outbound-transport-v4
  sadb filter show 1`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(newFilterAddCmd(a), newFilterAddPairCmd(a), newFilterDeleteCmd(a), newFilterShowCmd(a), newFilterListCmd(a))
	return cmd
}

// filterAddedView is what filter add prints.
type filterAddedView struct {
	FilterID uint64 `json:"filter_id"`
}

// newFilterAddCmd builds "sadb filter add".
func newFilterAddCmd(a *app) *cobra.Command {
	var s filterSpec
	var layerName, ipsecDir, calloutName, actionName, sublayerName, key string
	var tunnel bool
	cmd := &cobra.Command{
		Use:   "add [--layer NAME] (--ipsec outbound|inbound [--tunnel] | --callout NAME | --action ACTION) [conditions]",
		Short: "Add a filter (FwpmFilterAdd0)",
		Long: `Add a filter and print its id.

--ipsec outbound|inbound makes it an IPsec filter: action
callout-terminating with the IPsec transport callout of the layer (--tunnel:
the tunnel callout, whose conditions are the inner selectors). Without
--layer the layer is the transport layer of that direction and of the
addresses' IP version. --callout and --action name any callout or action.

Layers, callouts and sublayers are named like outbound-transport-v4,
ipsec-inbound-tunnel-v6 and ipsec-tunnel, or by their FWPM_ names, or by GUID.`,
		Example: `  sadb filter add --ipsec outbound --local 192.0.2.1 --remote 192.0.2.2
  sadb filter add --layer inbound-transport-v6 --ipsec inbound --local 2001:db8::1 --remote 2001:db8::/64
  sadb filter add --ipsec outbound --tunnel --local 10.1.0.0/16 --remote 10.2.0.0/16
  sadb filter add --layer outbound-transport-v4 --action permit --protocol icmp --weight-range 12 --name "ICMP exemption"`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := s.parse(cmd); err != nil {
				return err
			}
			v6, _ := s.v6()
			var layer wfp.LayerID
			var err error
			dir, dirKnown := wfp.Direction(0), false
			switch ipsecDir {
			case "":
			case "outbound":
				dir, dirKnown = wfp.DirectionOutbound, true
			case "inbound":
				dir, dirKnown = wfp.DirectionInbound, true
			default:
				return usagef("--ipsec %q: want outbound or inbound", ipsecDir)
			}
			switch {
			case layerName != "":
				if layer, err = parseLayer(layerName); err != nil {
					return err
				}
				if ld, lv6, ok := layerInfo(layer); ok {
					v6 = lv6
					if !dirKnown && tunnel {
						dir, dirKnown = ld, true
					}
				}
			case dirKnown:
				layer = findIPsecCallout(dir, false, v6).layer
			default:
				return usagef("give --layer, or --ipsec outbound|inbound to choose the transport layer")
			}
			var callout wfp.CalloutID
			var what string
			switch {
			case (dirKnown || tunnel) && calloutName != "":
				return usagef("give --ipsec/--tunnel or --callout, not both")
			case tunnel && !dirKnown:
				return usagef("--tunnel needs --ipsec outbound|inbound, or a transport --layer")
			case dirKnown:
				c := findIPsecCallout(dir, tunnel, v6)
				callout = c.callout
				what = "ipsec " + directionText(dir) + " transport"
				if tunnel {
					what = "ipsec " + directionText(dir) + " tunnel"
				}
			case calloutName != "":
				g, ok := lookupNamed(calloutName, "FWPM_CALLOUT_")
				if !ok {
					return usagef("--callout %q: unknown callout (e.g. ipsec-outbound-transport-v4, or an FWPM_CALLOUT_ name or GUID)", calloutName)
				}
				callout = wfp.CalloutID(g)
				what = shortGUIDName(g, "FWPM_CALLOUT_")
			}
			var action wfp.ActionType
			switch {
			case actionName != "":
				var ok bool
				if action, ok = actionNames()[strings.ToLower(actionName)]; !ok {
					return usagef("--action %q: want permit, block, callout-terminating, callout-inspection or callout-unknown", actionName)
				}
			case !callout.IsZero():
				action = wfp.ActionCalloutTerminating
			default:
				return usagef("give --ipsec outbound|inbound, --callout NAME or --action ACTION")
			}
			if what == "" {
				what = actionText(action)
			}
			name := s.name
			if name == "" {
				name = s.describe(what)
			}
			f := s.filter(layer, action, callout, name)
			if sublayerName != "" {
				g, ok := lookupNamed(sublayerName, "FWPM_SUBLAYER_")
				if !ok {
					return usagef("--sublayer %q: unknown sublayer", sublayerName)
				}
				f.SubLayerKey = wfp.SublayerID(g)
			}
			if key != "" {
				if f.FilterKey, err = wfp.ParseGUID(key); err != nil {
					return usagef("--key %q: not a GUID", key)
				}
			}
			return a.withSession(false, func(api wfp.API) error {
				id, err := api.FwpmFilterAdd0(f, nil)
				if err != nil {
					return err
				}
				return a.emit(filterAddedView{FilterID: id}, func(w io.Writer) {
					b := &block{}
					b.add("filter id", fmt.Sprint(id))
					b.write(w)
				})
			})
		},
	}
	s.register(cmd)
	f := cmd.Flags()
	f.StringVar(&layerName, "layer", "", "layer, e.g. outbound-transport-v4 or FWPM_LAYER_INBOUND_TRANSPORT_V6")
	f.StringVar(&ipsecDir, "ipsec", "", "make an IPsec filter for this direction: outbound or inbound")
	f.BoolVar(&tunnel, "tunnel", false, "use the IPsec tunnel callout instead of the transport one")
	f.StringVar(&calloutName, "callout", "", "callout, e.g. ipsec-outbound-transport-v4")
	f.StringVar(&actionName, "action", "", "action: permit, block, callout-terminating, callout-inspection, callout-unknown")
	f.StringVar(&sublayerName, "sublayer", "", "sublayer, e.g. ipsec-tunnel (default: the default sublayer)")
	f.StringVar(&key, "key", "", "filter key GUID (default: generated)")
	_ = cmd.RegisterFlagCompletionFunc("layer", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var names []string
		for _, c := range ipsecCallouts()[:4] {
			names = append(names, shortGUIDName(wfp.GUID(c.layer), "FWPM_LAYER_"))
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("ipsec", cobra.FixedCompletions([]string{"outbound", "inbound"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// pairView is what filter add-pair prints.
type pairView struct {
	OutboundFilterID uint64 `json:"outbound_filter_id"`
	InboundFilterID  uint64 `json:"inbound_filter_id"`
}

// newFilterAddPairCmd builds "sadb filter add-pair".
func newFilterAddPairCmd(a *app) *cobra.Command {
	var s filterSpec
	var tunnel bool
	cmd := &cobra.Command{
		Use:   "add-pair --local A --remote B [--tunnel] [conditions]",
		Short: "Add matching outbound and inbound IPsec filters in one transaction",
		Long: `Add the outbound and the inbound IPsec filter for the traffic between
--local and --remote, with the same conditions, in one transaction, and print
both ids. The filters are at the transport layers of the addresses' IP
version, with the IPsec transport callouts (--tunnel: the tunnel callouts;
the addresses are then the inner subnets and the outbound filter's id is the
tunnel policy of 'ctx create --tunnel-policy').`,
		Example: `  sadb filter add-pair --local 192.0.2.1 --remote 192.0.2.2
  sadb filter add-pair --local 2001:db8::1 --remote 2001:db8::2 --protocol tcp --remote-port 443
  sadb filter add-pair --tunnel --local 10.1.0.0/16 --remote 10.2.0.0/16`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if s.local == "" || s.remote == "" {
				return usagef("--local and --remote are required")
			}
			if err := s.parse(cmd); err != nil {
				return err
			}
			v6, _ := s.v6()
			kind := "transport"
			if tunnel {
				kind = "tunnel"
			}
			var filters [2]*wfp.FwpmFilter0
			for i, dir := range []wfp.Direction{wfp.DirectionOutbound, wfp.DirectionInbound} {
				c := findIPsecCallout(dir, tunnel, v6)
				name := s.describe("ipsec " + directionText(dir) + " " + kind)
				if s.name != "" {
					name = s.name + " (" + directionText(dir) + ")"
				}
				filters[i] = s.filter(c.layer, wfp.ActionCalloutTerminating, c.callout, name)
			}
			return a.withSession(false, func(api wfp.API) error {
				var ids [2]uint64
				err := a.inTxn(api, func() error {
					for i, f := range filters {
						id, err := api.FwpmFilterAdd0(f, nil)
						if err != nil {
							return err
						}
						ids[i] = id
					}
					return nil
				})
				if err != nil {
					return err
				}
				return a.emit(pairView{OutboundFilterID: ids[0], InboundFilterID: ids[1]}, func(w io.Writer) {
					b := &block{}
					b.add("outbound filter id", fmt.Sprint(ids[0]))
					b.add("inbound filter id", fmt.Sprint(ids[1]))
					b.write(w)
				})
			})
		},
	}
	s.register(cmd)
	cmd.Flags().BoolVar(&tunnel, "tunnel", false, "tunnel mode: the IPsec tunnel callouts, addresses are the inner subnets")
	return cmd
}

// inTxn runs fn in an explicit transaction, committing if it succeeds and
// aborting otherwise. Inside a txn script fn runs in the script's
// transaction.
func (a *app) inTxn(api wfp.API, fn func() error) error {
	if a.shared != nil {
		return fn()
	}
	if err := api.FwpmTransactionBegin0(0); err != nil {
		return err
	}
	if err := fn(); err != nil {
		_ = api.FwpmTransactionAbort0()
		return err
	}
	return api.FwpmTransactionCommit0()
}

// newFilterDeleteCmd builds "sadb filter delete".
func newFilterDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID...",
		Short:   "Delete filters (FwpmFilterDeleteById0)",
		Long:    "Delete filters by id. A filter an SA context refers to cannot be deleted (FWP_E_IN_USE).",
		Example: "  sadb filter delete 1\n  sadb filter delete 1 2",
		Args:    minArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.forEachID(args, "filter", func(api wfp.API, id uint64) (resultView, error) {
				return resultView{FilterID: id, Result: "deleted"}, api.FwpmFilterDeleteById0(id)
			})
		},
	}
}

// newFilterShowCmd builds "sadb filter show".
func newFilterShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "show ID",
		Short:   "Show a filter (FwpmFilterGetById0)",
		Example: "  sadb filter show 1\n  sadb -o json filter show 1",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("filter id", args[0])
			if err != nil {
				return err
			}
			return a.withSession(false, func(api wfp.API) error {
				f, err := api.FwpmFilterGetById0(id)
				if err != nil {
					return err
				}
				return a.emit(newFilterView(f), func(w io.Writer) { filterBlock(f).write(w) })
			})
		},
	}
}

// newFilterListCmd builds "sadb filter list".
func newFilterListCmd(a *app) *cobra.Command {
	var layerName string
	cmd := &cobra.Command{
		Use:     "list [--layer NAME]",
		Short:   "List filters (FwpmFilterEnum0)",
		Long:    "List the filters, or those at --layer, in id order.",
		Example: "  sadb filter list\n  sadb filter list --layer inbound-transport-v4",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			tmpl := &wfp.FwpmFilterEnumTemplate0{ActionMask: 0xFFFFFFFF}
			if layerName != "" {
				l, err := parseLayer(layerName)
				if err != nil {
					return err
				}
				tmpl.LayerKey = l
			}
			return a.withSession(false, func(api wfp.API) error {
				fs, err := enumFilters(api, tmpl)
				if err != nil {
					return err
				}
				views := make([]filterView, len(fs))
				t := newTable("ID", "LAYER", "ACTION", "CALLOUT", "WEIGHT", "NAME", "CONDITIONS")
				for i, f := range fs {
					views[i] = newFilterView(f)
					var conds []string
					for _, c := range f.FilterCondition {
						conds = append(conds, conditionText(&c, false))
					}
					t.add(fmt.Sprint(f.FilterID), shortGUIDName(wfp.GUID(f.LayerKey), "FWPM_LAYER_"), actionText(f.Action.Type),
						calloutText(f), weightText(f.EffectiveWeight), f.DisplayData.Name, strings.Join(conds, " "))
				}
				return a.emit(views, t.write)
			})
		},
	}
	cmd.Flags().StringVar(&layerName, "layer", "", "only filters at this layer")
	return cmd
}

// enumFilters pages through every filter matching tmpl, sorted by id.
func enumFilters(api wfp.API, tmpl *wfp.FwpmFilterEnumTemplate0) ([]*wfp.FwpmFilter0, error) {
	h, err := api.FwpmFilterCreateEnumHandle0(tmpl)
	if err != nil {
		return nil, err
	}
	defer api.FwpmFilterDestroyEnumHandle0(h)
	var out []*wfp.FwpmFilter0
	for {
		page, err := api.FwpmFilterEnum0(h, enumPage)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < enumPage {
			break
		}
	}
	sortFilters(out)
	return out, nil
}

// sortFilters sorts filters by id.
func sortFilters(fs []*wfp.FwpmFilter0) {
	slices.SortFunc(fs, func(a, b *wfp.FwpmFilter0) int { return cmp.Compare(a.FilterID, b.FilterID) })
}

// filterView is an FWPM_FILTER0.
type filterView struct {
	FilterID        uint64          `json:"filter_id"`
	FilterKey       string          `json:"filter_key"`
	Name            string          `json:"name"`
	Description     string          `json:"description,omitempty"`
	Layer           string          `json:"layer"`
	Sublayer        string          `json:"sublayer,omitempty"`
	Provider        string          `json:"provider,omitempty"`
	Action          string          `json:"action"`
	Callout         string          `json:"callout,omitempty"`
	Conditions      []conditionView `json:"conditions"`
	Weight          string          `json:"weight"`
	EffectiveWeight uint64          `json:"effective_weight"`
	Flags           []string        `json:"flags"`
}

// conditionView is an FWPM_FILTER_CONDITION0.
type conditionView struct {
	Field string `json:"field"`
	Match string `json:"match"`
	Value string `json:"value"`
}

// newFilterView is the JSON view of a filter.
func newFilterView(f *wfp.FwpmFilter0) filterView {
	v := filterView{
		FilterID: f.FilterID, FilterKey: f.FilterKey.String(), Name: f.DisplayData.Name, Description: f.DisplayData.Description,
		Layer: guidName(wfp.GUID(f.LayerKey)), Action: f.Action.Type.String(), Conditions: []conditionView{},
		Weight: weightText(f.Weight), EffectiveWeight: f.EffectiveWeight.Uint64, Flags: filterFlagNames(f.Flags),
	}
	if !f.SubLayerKey.IsZero() {
		v.Sublayer = guidName(wfp.GUID(f.SubLayerKey))
	}
	if f.ProviderKey != nil {
		v.Provider = guidName(wfp.GUID(*f.ProviderKey))
	}
	if f.Action.Type.IsCallout() {
		v.Callout = guidName(wfp.GUID(f.Action.CalloutKey))
	}
	for _, c := range f.FilterCondition {
		v.Conditions = append(v.Conditions, conditionView{
			Field: guidName(wfp.GUID(c.FieldKey)), Match: c.MatchType.String(), Value: conditionValueText(c.FieldKey, &c.ConditionValue),
		})
	}
	return v
}

// filterBlock describes a filter as filter show prints it.
func filterBlock(f *wfp.FwpmFilter0) *block {
	b := &block{title: fmt.Sprintf("filter %d", f.FilterID)}
	b.add("name", f.DisplayData.Name)
	if f.DisplayData.Description != "" {
		b.add("description", f.DisplayData.Description)
	}
	b.add("key", f.FilterKey.String())
	b.add("layer", shortGUIDName(wfp.GUID(f.LayerKey), "FWPM_LAYER_"))
	if !f.SubLayerKey.IsZero() {
		b.add("sublayer", shortGUIDName(wfp.GUID(f.SubLayerKey), "FWPM_SUBLAYER_"))
	}
	if f.ProviderKey != nil {
		b.add("provider", shortGUIDName(wfp.GUID(*f.ProviderKey), "FWPM_PROVIDER_"))
	}
	b.add("action", actionText(f.Action.Type))
	if f.Action.Type.IsCallout() {
		b.add("callout", calloutText(f))
	}
	for _, c := range f.FilterCondition {
		b.add("condition", conditionText(&c, true))
	}
	b.add("weight", weightText(f.Weight))
	b.add("effective weight", fmt.Sprintf("0x%016x", f.EffectiveWeight.Uint64))
	if f.Flags != 0 {
		b.add("flags", strings.Join(filterFlagFriendly(f.Flags), ","))
	}
	return b
}

// calloutText names a filter's callout, or is empty for other actions.
func calloutText(f *wfp.FwpmFilter0) string {
	if !f.Action.Type.IsCallout() {
		return ""
	}
	return shortGUIDName(wfp.GUID(f.Action.CalloutKey), "FWPM_CALLOUT_")
}

// weightText describes a weight value: "auto", "range 12" or a number.
func weightText(w wfp.FwpValue0) string {
	switch w.Type {
	case wfp.DataTypeEmpty:
		return "auto"
	case wfp.DataTypeUint8:
		return fmt.Sprintf("range %d", w.Uint8)
	case wfp.DataTypeUint64:
		return fmt.Sprintf("0x%016x", w.Uint64)
	}
	return w.Type.String()
}

// filterFlagTable lists the FWPM_FILTER_FLAG_* bits by symbolic suffix.
func filterFlagTable() []bundleFlag {
	return []bundleFlag{
		{"PERSISTENT", wfp.FilterFlagPersistent}, {"BOOTTIME", wfp.FilterFlagBoottime},
		{"HAS_PROVIDER_CONTEXT", wfp.FilterFlagHasProviderContext}, {"CLEAR_ACTION_RIGHT", wfp.FilterFlagClearActionRight},
		{"PERMIT_IF_CALLOUT_UNREGISTERED", wfp.FilterFlagPermitIfCalloutUnregistered}, {"DISABLED", wfp.FilterFlagDisabled},
		{"INDEXED", wfp.FilterFlagIndexed}, {"HAS_SECURITY_REALM_PROVIDER_CONTEXT", wfp.FilterFlagHasSecurityRealmProviderCtx},
		{"SYSTEMOS_ONLY", wfp.FilterFlagSystemOSOnly}, {"GAMEOS_ONLY", wfp.FilterFlagGameOSOnly},
		{"SILENT_MODE", wfp.FilterFlagSilentMode}, {"IPSEC_NO_ACQUIRE_INITIATE", wfp.FilterFlagIPsecNoAcquireInitiate},
	}
}

// filterFlagNames lists the FWPM_FILTER_FLAG_* names of the bits of v.
func filterFlagNames(v uint32) []string {
	out := []string{}
	rest := v
	for _, f := range filterFlagTable() {
		if v&f.v != 0 {
			out = append(out, "FWPM_FILTER_FLAG_"+f.sym)
			rest &^= f.v
		}
	}
	if rest != 0 {
		out = append(out, fmt.Sprintf("0x%x", rest))
	}
	return out
}

// filterFlagFriendly lists the friendly names of the filter flags of v.
func filterFlagFriendly(v uint32) []string {
	names := filterFlagNames(v)
	for i, n := range names {
		names[i] = friendly(strings.TrimPrefix(n, "FWPM_FILTER_FLAG_"))
	}
	return names
}

// matchOp is the operator a match type reads as.
func matchOp(m wfp.MatchType) string {
	switch m {
	case wfp.MatchEqual:
		return "="
	case wfp.MatchNotEqual:
		return "!="
	case wfp.MatchGreater:
		return ">"
	case wfp.MatchLess:
		return "<"
	case wfp.MatchGreaterOrEqual:
		return ">="
	case wfp.MatchLessOrEqual:
		return "<="
	case wfp.MatchRange:
		return " in "
	}
	return " " + friendly(trimEnum(m.String(), "FWP_MATCH_")) + " "
}

// conditionText describes a condition: "ip-remote-address = 192.0.2.2"
// (spaced) or "remote-address=192.0.2.2".
func conditionText(c *wfp.FwpmFilterCondition0, spaced bool) string {
	field := shortGUIDName(wfp.GUID(c.FieldKey), "FWPM_CONDITION_")
	op := matchOp(c.MatchType)
	if spaced {
		op = " " + strings.TrimSpace(op) + " "
	} else {
		field = strings.TrimPrefix(field, "ip-")
	}
	return field + op + conditionValueText(c.FieldKey, &c.ConditionValue)
}

// conditionValueText formats a condition value the way the field reads:
// addresses as text, protocols by name.
func conditionValueText(field wfp.FieldID, v *wfp.FwpConditionValue0) string {
	name, _ := wfp.GUIDName(wfp.GUID(field))
	isAddr := strings.Contains(name, "ADDRESS") && !strings.HasSuffix(name, "_TYPE")
	switch v.Type {
	case wfp.DataTypeV4AddrMask:
		if m := v.V4AddrMask; m != nil {
			ones := bits.OnesCount32(m.Mask)
			if m.Mask == ^uint32(0)<<(32-ones) || ones == 0 {
				return fmt.Sprintf("%s/%d", m.Addr, ones)
			}
			return fmt.Sprintf("%s/%s", m.Addr, wfp.V4Addr(m.Mask))
		}
	case wfp.DataTypeV6AddrMask:
		if m := v.V6AddrMask; m != nil {
			return fmt.Sprintf("%s/%d", m.Addr, m.PrefixLength)
		}
	case wfp.DataTypeRange:
		if r := v.RangeValue; r != nil {
			return valueText(name, isAddr, &r.ValueLow) + "-" + valueText(name, isAddr, &r.ValueHigh)
		}
	}
	return valueText(name, isAddr, &v.FwpValue0)
}

// valueText formats one value of a condition on field (a symbolic name);
// isAddr says the field holds addresses.
func valueText(field string, isAddr bool, v *wfp.FwpValue0) string {
	switch v.Type {
	case wfp.DataTypeEmpty:
		return "empty"
	case wfp.DataTypeUint8:
		switch {
		case strings.HasSuffix(field, "IP_PROTOCOL"):
			return protocolText(v.Uint8)
		case strings.HasSuffix(field, "ADDRESS_TYPE"):
			return nlatText(wfp.NLAddressType(v.Uint8))
		}
		return fmt.Sprint(v.Uint8)
	case wfp.DataTypeUint16:
		return fmt.Sprint(v.Uint16)
	case wfp.DataTypeUint32:
		if isAddr {
			return wfp.V4Addr(v.Uint32).String()
		}
		return fmt.Sprint(v.Uint32)
	case wfp.DataTypeUint64:
		return fmt.Sprint(v.Uint64)
	case wfp.DataTypeByteArray16:
		if v.ByteArray16 != nil {
			if isAddr {
				return netip.AddrFrom16(*v.ByteArray16).String()
			}
			return fmt.Sprintf("%x", v.ByteArray16[:])
		}
	case wfp.DataTypeByteBlob:
		return fmt.Sprintf("%x", v.ByteBlob)
	case wfp.DataTypeUnicodeString:
		return strconv.Quote(v.UnicodeString)
	case wfp.DataTypeSID:
		return string(v.SID)
	}
	return v.Type.String()
}

// nlatText names an NL_ADDRESS_TYPE.
func nlatText(t wfp.NLAddressType) string {
	names := []string{"unspecified", "unicast", "anycast", "multicast", "broadcast", "invalid"}
	if int(t) < len(names) {
		return names[t]
	}
	return fmt.Sprint(uint8(t))
}
