package main

import (
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sadb-dev/sadb/wfp"
)

// enumPage is how many entries each enumeration call asks for.
const enumPage = 100

// newCtxCmd builds "sadb ctx" and its subcommands.
func newCtxCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ctx",
		Short: "IPsec SA contexts: create, plumb, update, expire, delete, show, list",
		Long: `An SA context holds the inbound and outbound SA bundles of one IPsec
connection. It is plumbed in order: create, getspi or setspi, add-inbound,
add-outbound.`,
		Example: `  sadb ctx create --local 192.0.2.1 --remote 192.0.2.2 --filter 1
  sadb ctx getspi 1
  sadb ctx add-inbound 1 --transform esp-gcm-256 --key-file in.keys
  sadb ctx add-outbound 1 --transform esp-gcm-256 --spi 0x2000 --key-file out.keys
  sadb ctx show 1`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(
		newCtxCreateCmd(a),
		newCtxSPICmd(a, false),
		newCtxSPICmd(a, true),
		newCtxAddCmd(a, false),
		newCtxAddCmd(a, true),
		newCtxUpdateCmd(a),
		newCtxExpireCmd(a),
		newCtxDeleteCmd(a),
		newCtxShowCmd(a),
		newCtxListCmd(a),
	)
	return cmd
}

// exactArgs requires n positional arguments, named by names in messages.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == len(names):
		case len(names) == 0:
			return usagef("%s takes no arguments; got %q", cmd.CommandPath(), strings.Join(args, " "))
		default:
			return usagef("%s needs %s; got %d argument(s)", cmd.CommandPath(), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// minArgs requires at least one positional argument.
func minArgs(name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usagef("%s needs at least one %s", cmd.CommandPath(), name)
		}
		return nil
	}
}

// trafficOptions are the flags that describe IPSEC_TRAFFIC1.
type trafficOptions struct {
	local, remote string
	filter        uint64
	tunnelPolicy  uint64
	protocol      string
	localPort     uint16
	remotePort    uint16
}

// register adds the traffic flags to cmd.
func (o *trafficOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.local, "local", "", "local address (tunnel mode: the local tunnel endpoint)")
	f.StringVar(&o.remote, "remote", "", "remote address (tunnel mode: the remote tunnel endpoint)")
	f.Uint64Var(&o.filter, "filter", 0, "transport mode: id of the outbound IPsec transport filter")
	f.Uint64Var(&o.tunnelPolicy, "tunnel-policy", 0, "tunnel mode: id of the outbound IPsec tunnel filter")
	f.StringVar(&o.protocol, "protocol", "", "IP protocol narrowing the filter: tcp, udp, icmp, ... or a number")
	f.Uint16Var(&o.localPort, "local-port", 0, "local port narrowing the filter")
	f.Uint16Var(&o.remotePort, "remote-port", 0, "remote port narrowing the filter")
}

// traffic builds the IPSEC_TRAFFIC1 of the options.
func (o *trafficOptions) traffic() (wfp.IPsecTraffic1, error) {
	var t wfp.IPsecTraffic1
	if o.local == "" || o.remote == "" {
		return t, usagef("--local and --remote are required")
	}
	local, err := parseAddr("local", o.local)
	if err != nil {
		return t, err
	}
	remote, err := parseAddr("remote", o.remote)
	if err != nil {
		return t, err
	}
	if local.Is4() != remote.Is4() {
		return t, usagef("--local %s and --remote %s are of different IP versions", local, remote)
	}
	setAddrs(&t, local, remote)
	switch {
	case o.filter != 0 && o.tunnelPolicy != 0:
		return t, usagef("give --filter (transport mode) or --tunnel-policy (tunnel mode), not both")
	case o.filter != 0:
		t.TrafficType, t.IPsecFilterID = wfp.TrafficTypeTransport, o.filter
	case o.tunnelPolicy != 0:
		t.TrafficType, t.TunnelPolicyID = wfp.TrafficTypeTunnel, o.tunnelPolicy
	default:
		return t, usagef("give --filter ID (transport mode) or --tunnel-policy ID (tunnel mode)")
	}
	if o.protocol != "" {
		if t.IPProtocol, err = parseProtocol(o.protocol); err != nil {
			return t, err
		}
	}
	t.LocalPort, t.RemotePort = o.localPort, o.remotePort
	return t, nil
}

// setAddrs sets the IP version and addresses of t.
func setAddrs(t *wfp.IPsecTraffic1, local, remote netip.Addr) {
	if local.Is4() {
		t.IPVersion = wfp.IPVersionV4
		t.LocalV4Address, _ = wfp.V4AddrFrom(local)
		t.RemoteV4Address, _ = wfp.V4AddrFrom(remote)
		t.LocalV6Address, t.RemoteV6Address = wfp.V6Addr{}, wfp.V6Addr{}
		return
	}
	t.IPVersion = wfp.IPVersionV6
	t.LocalV6Address, _ = wfp.V6AddrFrom(local)
	t.RemoteV6Address, _ = wfp.V6AddrFrom(remote)
	t.LocalV4Address, t.RemoteV4Address = 0, 0
}

// createdView is what ctx create prints.
type createdView struct {
	SAContextID     uint64 `json:"sa_context_id"`
	InboundFilterID uint64 `json:"inbound_filter_id"`
}

// newCtxCreateCmd builds "sadb ctx create".
func newCtxCreateCmd(a *app) *cobra.Command {
	var o trafficOptions
	cmd := &cobra.Command{
		Use:   "create --local ADDR --remote ADDR (--filter ID | --tunnel-policy ID)",
		Short: "Create an SA context for outbound traffic (IPsecSaContextCreate1)",
		Long: `Create an SA context for the outbound traffic between --local and --remote,
through the outbound IPsec filter --filter (transport mode) or the outbound
tunnel filter --tunnel-policy (tunnel mode; the addresses are the tunnel
endpoints). Prints the context id and the inbound filter sadbd found to pair
with the outbound one (0: none; give it to getspi with --filter).

Not allowed inside a transaction (FWP_E_TXN_IN_PROGRESS).`,
		Example: `  sadb ctx create --local 192.0.2.1 --remote 192.0.2.2 --filter 1
  sadb ctx create --local 2001:db8::1 --remote 2001:db8::2 --filter 3 --protocol tcp --remote-port 443
  sadb ctx create --local 198.51.100.1 --remote 203.0.113.1 --tunnel-policy 5`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := o.traffic()
			if err != nil {
				return err
			}
			return a.withSession(false, func(api wfp.API) error {
				id, in, err := api.IPsecSaContextCreate1(&t, nil)
				if err != nil {
					return err
				}
				v := createdView{SAContextID: id, InboundFilterID: in}
				return a.emit(v, func(w io.Writer) {
					b := &block{}
					b.add("sa context id", fmt.Sprint(id))
					b.add("inbound filter id", fmt.Sprint(in))
					b.write(w)
				})
			})
		},
	}
	o.register(cmd)
	return cmd
}

// spiView is what getspi and setspi print.
type spiView struct {
	SAContextID uint64 `json:"sa_context_id"`
	SPI         uint32 `json:"spi"`
	SPIHex      string `json:"spi_hex"`
}

// newCtxSPICmd builds "sadb ctx getspi", or "sadb ctx setspi" when set.
func newCtxSPICmd(a *app, set bool) *cobra.Command {
	var filter, policy uint64
	var udp string
	cmd := &cobra.Command{
		Use:   "getspi ID",
		Short: "Have sadbd choose the inbound SPI of an SA context (IPsecSaContextGetSpi1)",
		Long: `Have sadbd choose the inbound SPI of SA context ID and print it; give it
to the peer, which uses it as its outbound SPI.

The inbound traffic is the context's own (its addresses and mode, read with
IPsecSaContextGetById1) through the inbound filter: --filter ID (transport)
or --tunnel-policy ID (tunnel), by default the inbound IPsec filter whose
conditions equal those of the context's outbound filter (the one
'ctx create' reports). --udp-encap gives the ESP-in-UDP ports (IPv4).`,
		Example: `  sadb ctx getspi 1
  sadb ctx getspi 1 --filter 2 --udp-encap 4500:4500`,
		Args: exactArgs("ID"),
	}
	if set {
		cmd.Use = "setspi ID SPI"
		cmd.Short = "Set the inbound SPI of an SA context (IPsecSaContextSetSpi0)"
		cmd.Long = `Set the inbound SPI of SA context ID to SPI (decimal or 0x hex; at least
256 and not in use) and print it; give it to the peer, which uses it as its
outbound SPI.` + cmd.Long[strings.Index(cmd.Long, "\n\n"):]
		cmd.Example = "  sadb ctx setspi 1 4096\n  sadb ctx setspi 1 0x1000 --filter 2"
		cmd.Args = exactArgs("ID", "SPI")
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := parseID("SA context id", args[0])
		if err != nil {
			return err
		}
		var spi uint32
		if set {
			if spi, err = parseSPI(args[1]); err != nil {
				return err
			}
		}
		if filter != 0 && policy != 0 {
			return usagef("give --filter or --tunnel-policy, not both")
		}
		var encap *wfp.IPsecV4UDPEncapsulation0
		if udp != "" {
			if encap, err = parseUDPEncap("udp-encap", udp); err != nil {
				return err
			}
		}
		return a.withSession(false, func(api wfp.API) error {
			sc, err := api.IPsecSaContextGetById1(id)
			if err != nil {
				return err
			}
			in := sc.Traffic
			switch {
			case filter != 0:
				in.TrafficType, in.IPsecFilterID, in.TunnelPolicyID = wfp.TrafficTypeTransport, filter, 0
			case policy != 0:
				in.TrafficType, in.IPsecFilterID, in.TunnelPolicyID = wfp.TrafficTypeTunnel, 0, policy
			default:
				fid, err := pairedInboundFilter(api, &sc.Traffic)
				if err != nil {
					return err
				}
				if in.TrafficType == wfp.TrafficTypeTunnel {
					in.TunnelPolicyID = fid
				} else {
					in.IPsecFilterID = fid
				}
			}
			g := &wfp.IPsecGetSPI1{InboundIPsecTraffic: in, IPVersion: in.IPVersion, InboundUDPEncapsulation: encap}
			if set {
				err = api.IPsecSaContextSetSpi0(id, g, spi)
			} else {
				spi, err = api.IPsecSaContextGetSpi1(id, g)
			}
			if err != nil {
				return err
			}
			return a.emit(spiView{SAContextID: id, SPI: spi, SPIHex: spiHex(spi)}, func(w io.Writer) {
				b := &block{}
				b.add("sa context id", fmt.Sprint(id))
				b.add("spi", spiText(spi))
				b.write(w)
			})
		})
	}
	f := cmd.Flags()
	f.Uint64Var(&filter, "filter", 0, "transport mode: id of the inbound IPsec filter")
	f.Uint64Var(&policy, "tunnel-policy", 0, "tunnel mode: id of the inbound tunnel filter")
	f.StringVar(&udp, "udp-encap", "", "ESP-in-UDP ports LOCAL:REMOTE (IPv4 only), e.g. 4500:4500")
	return cmd
}

// parseUDPEncap parses LOCAL:REMOTE UDP ports.
func parseUDPEncap(flag, s string) (*wfp.IPsecV4UDPEncapsulation0, error) {
	l, r, ok := strings.Cut(s, ":")
	lp, err1 := strconv.ParseUint(l, 10, 16)
	rp, err2 := strconv.ParseUint(r, 10, 16)
	if !ok || err1 != nil || err2 != nil {
		return nil, usagef("--%s %q: want LOCAL:REMOTE ports, e.g. 4500:4500", flag, s)
	}
	return &wfp.IPsecV4UDPEncapsulation0{LocalUDPEncapPort: uint16(lp), RemoteUDPEncapPort: uint16(rp)}, nil
}

// pairedInboundFilter finds the inbound IPsec filter that pairs with the
// outbound filter of traffic t: the lowest-id filter with the inbound
// callout of the same kind and IP version whose conditions equal the
// outbound filter's (what IPsecSaContextCreate1 reports as its cached
// inbound filter).
func pairedInboundFilter(api wfp.API, t *wfp.IPsecTraffic1) (uint64, error) {
	outID, flag := t.IPsecFilterID, "--filter"
	if t.TrafficType == wfp.TrafficTypeTunnel {
		outID, flag = t.TunnelPolicyID, "--tunnel-policy"
	}
	out, err := api.FwpmFilterGetById0(outID)
	if err != nil {
		return 0, err
	}
	c, ok := ipsecCalloutOf(out.Action.CalloutKey)
	if !ok {
		return 0, fmt.Errorf("filter %d is not an outbound IPsec filter; give the inbound filter with %s ID", outID, flag)
	}
	in := c.counterpart()
	callout := in.callout
	fs, err := enumFilters(api, &wfp.FwpmFilterEnumTemplate0{LayerKey: in.layer, ActionMask: uint32(wfp.ActionFlagCallout), CalloutKey: &callout})
	if err != nil {
		return 0, err
	}
	var best *wfp.FwpmFilter0
	for _, f := range fs {
		if f.Action.CalloutKey == in.callout && reflect.DeepEqual(f.FilterCondition, out.FilterCondition) && (best == nil || f.FilterID < best.FilterID) {
			best = f
		}
	}
	if best == nil {
		return 0, fmt.Errorf("no inbound IPsec filter pairs with filter %d; give the inbound filter with %s ID", outID, flag)
	}
	return best.FilterID, nil
}

// addedView is what add-inbound and add-outbound print.
type addedView struct {
	SAContextID uint64 `json:"sa_context_id"`
	Direction   string `json:"direction"`
	Transform   string `json:"transform"`
	SPI         uint32 `json:"spi"`
	SPIHex      string `json:"spi_hex"`
}

// newCtxAddCmd builds "sadb ctx add-inbound", or "sadb ctx add-outbound" when
// outbound.
func newCtxAddCmd(a *app, outbound bool) *cobra.Command {
	var o bundleOptions
	cmd := &cobra.Command{
		Use:   "add-inbound ID --transform NAME (--key-file FILE | --key-stdin)",
		Short: "Add the inbound SA bundle of an SA context (IPsecSaContextAddInbound1)",
		Long: `Add the inbound SA bundle to SA context ID, after getspi or setspi. The SPI
is the context's inbound SPI unless --spi says otherwise.

` + transformHelp + `

` + keyHelp,
		Example: `  sadb ctx add-inbound 1 --transform esp-gcm-256 --key-file in.keys
  sadb ctx add-inbound 1 --transform esp-aes-256-sha256 --lifetime 1h --kilobytes 1000000 --key-stdin < in.keys
  sadb ctx add-inbound 1 --transform esp-aes-128-sha1+ah-sha1 --qm-sa-id 7 --key-file in.keys`,
		Args: exactArgs("ID"),
	}
	if outbound {
		cmd.Use = "add-outbound ID --transform NAME --spi SPI (--key-file FILE | --key-stdin)"
		cmd.Short = "Add the outbound SA bundle of an SA context (IPsecSaContextAddOutbound1)"
		cmd.Long = `Add the outbound SA bundle to SA context ID, after add-inbound. --spi is
the peer's inbound SPI; the keys are the peer's inbound keys.

` + transformHelp + `

` + keyHelp
		cmd.Example = `  sadb ctx add-outbound 1 --transform esp-gcm-256 --spi 0x2000 --key-file out.keys
  sadb ctx add-outbound 1 --transform ah-sha256 --spi 8192 --lifetime 1h --idle 5m --key-file out.keys`
	}
	o.register(cmd, outbound)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := parseID("SA context id", args[0])
		if err != nil {
			return err
		}
		p, err := o.prepare(a, outbound)
		if err != nil {
			return err
		}
		defer p.keys.zero()
		return a.withSession(false, func(api wfp.API) error {
			sc, err := api.IPsecSaContextGetById1(id)
			if err != nil {
				return err
			}
			b := p.forContext(sc)
			dir := wfp.DirectionInbound
			if outbound {
				dir = wfp.DirectionOutbound
				err = api.IPsecSaContextAddOutbound1(id, b)
			} else {
				err = api.IPsecSaContextAddInbound1(id, b)
			}
			if err != nil {
				return err
			}
			spi := b.SAList[0].SPI
			v := addedView{SAContextID: id, Direction: dir.String(), Transform: bundleName(b.SAList), SPI: spi, SPIHex: spiHex(spi)}
			return a.emit(v, func(w io.Writer) {
				bl := &block{}
				bl.add("sa context id", fmt.Sprint(id))
				bl.add("direction", directionText(dir))
				bl.add("transform", v.Transform)
				bl.add("spi", bundleSPIText(b.SAList))
				bl.write(w)
			})
		})
	}
	return cmd
}

// directionText is "inbound" or "outbound".
func directionText(d wfp.Direction) string {
	return strings.ToLower(trimEnum(d.String(), "FWP_DIRECTION_"))
}

const transformHelp = `Transforms (--transform):
  esp-gcm-128|192|256                    ESP AES-GCM (cipher key: AES key + 4-byte salt)
  esp-aes-128|192|256-sha1|sha256|md5    ESP AES-CBC with HMAC
  esp-3des-…, esp-des-…                  ESP 3DES/DES-CBC with HMAC (legacy)
  esp-aes-…-null, esp-3des-null, …       ESP encryption without integrity
  esp-null-sha1|sha256|md5               ESP integrity only, HMAC
  esp-gmac-128|192|256                   ESP integrity only, AES-GMAC (key + 4-byte salt)
  esp-fw-…                               ESP_AUTH_FW variants of the two above
  ah-sha1|sha256|md5, ah-gmac-128|192|256
  ESP+AH, e.g. esp-aes-256-sha256+ah-sha256: a bundle of two`

const keyHelp = `Keys come only from --key-file FILE or --key-stdin, never from the command
line: lines NAME=HEX, blank lines and # comments. A one-SA transform takes
cipher= and/or auth=; an ESP+AH bundle esp.cipher=, esp.auth= and ah.auth=.`

// updatedView is what ctx update prints.
type updatedView struct {
	SAContextID uint64   `json:"sa_context_id"`
	Updated     []string `json:"updated"`
}

// newCtxUpdateCmd builds "sadb ctx update".
func newCtxUpdateCmd(a *app) *cobra.Command {
	var direction, trafficLocal, trafficRemote, udp, flags, keyModule, peerPrivate string
	var nap uint32
	var mmSAID uint64
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Update fields of an SA context's bundles (IPsecSaContextUpdate0)",
		Long: `Update SA context ID. Each flag sets one IPSEC_SA_*_UPDATE_* bit and its
new value, for each direction the context has (or --direction):

  --traffic-local, --traffic-remote   IPSEC_SA_DETAILS_UPDATE_TRAFFIC (new addresses)
  --udp-encapsulation L:R|none        IPSEC_SA_DETAILS_UPDATE_UDP_ENCAPSULATION
  --flags NAMES                       IPSEC_SA_BUNDLE_UPDATE_FLAGS
  --nap-context N                     IPSEC_SA_BUNDLE_UPDATE_NAP_CONTEXT
  --key-module-state MODULE=HEX|none  IPSEC_SA_BUNDLE_UPDATE_KEY_MODULE_STATE
  --peer-v4-private-address ADDR      IPSEC_SA_BUNDLE_UPDATE_PEER_V4_PRIVATE_ADDRESS
  --mm-sa-id N                        IPSEC_SA_BUNDLE_UPDATE_MM_SA_ID

Keys and SPIs cannot be updated.`,
		Example: `  sadb ctx update 1 --traffic-remote 203.0.113.9 --udp-encapsulation 4500:4501
  sadb ctx update 1 --flags guarantee-encryption --mm-sa-id 42
  sadb ctx update 1 --direction outbound --key-module-state ikev2=0a0b0c`,
		Args: exactArgs("ID"),
	}
	f := cmd.Flags()
	f.StringVar(&direction, "direction", "both", "which bundles to update: inbound, outbound or both")
	f.StringVar(&trafficLocal, "traffic-local", "", "new local address")
	f.StringVar(&trafficRemote, "traffic-remote", "", "new remote address")
	f.StringVar(&udp, "udp-encapsulation", "", "ESP-in-UDP ports LOCAL:REMOTE, or none to remove")
	f.StringVar(&flags, "flags", "", "bundle flags by name, comma-separated (empty clears)")
	f.Uint32Var(&nap, "nap-context", 0, "NAP context")
	f.StringVar(&keyModule, "key-module-state", "", "key module state MODULE=HEX (MODULE: ike, authip, ikev2 or a GUID), or none")
	f.StringVar(&peerPrivate, "peer-v4-private-address", "", "the peer's private IPv4 address (0.0.0.0 clears)")
	f.Uint64Var(&mmSAID, "mm-sa-id", 0, "main-mode SA id")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := parseID("SA context id", args[0])
		if err != nil {
			return err
		}
		var mask uint64
		var local, remote netip.Addr
		if trafficLocal != "" {
			if local, err = parseAddr("traffic-local", trafficLocal); err != nil {
				return err
			}
			mask |= wfp.SADetailsUpdateTraffic
		}
		if trafficRemote != "" {
			if remote, err = parseAddr("traffic-remote", trafficRemote); err != nil {
				return err
			}
			mask |= wfp.SADetailsUpdateTraffic
		}
		var encap *wfp.IPsecV4UDPEncapsulation0
		if cmd.Flags().Changed("udp-encapsulation") {
			if udp != "none" {
				if encap, err = parseUDPEncap("udp-encapsulation", udp); err != nil {
					return err
				}
			}
			mask |= wfp.SADetailsUpdateUDPEncapsulation
		}
		var bflags uint32
		if cmd.Flags().Changed("flags") {
			if bflags, err = parseBundleFlags(flags); err != nil {
				return err
			}
			mask |= wfp.SABundleUpdateFlags
		}
		if cmd.Flags().Changed("nap-context") {
			mask |= wfp.SABundleUpdateNAPContext
		}
		var kms *wfp.IPsecKeyModuleState0
		if cmd.Flags().Changed("key-module-state") {
			if keyModule != "none" {
				if kms, err = parseKeyModuleState(keyModule); err != nil {
					return err
				}
			}
			mask |= wfp.SABundleUpdateKeyModuleState
		}
		var private wfp.V4Addr
		if cmd.Flags().Changed("peer-v4-private-address") {
			addr, err := parseAddr("peer-v4-private-address", peerPrivate)
			if err != nil {
				return err
			}
			var ok bool
			if private, ok = wfp.V4AddrFrom(addr); !ok {
				return usagef("--peer-v4-private-address %q: not an IPv4 address", peerPrivate)
			}
			mask |= wfp.SABundleUpdatePeerV4PrivateAddress
		}
		if cmd.Flags().Changed("mm-sa-id") {
			mask |= wfp.SABundleUpdateMMSAID
		}
		if mask == 0 {
			return usagef("nothing to update: give at least one of --traffic-local, --traffic-remote, --udp-encapsulation, --flags, --nap-context, --key-module-state, --peer-v4-private-address, --mm-sa-id")
		}
		switch direction {
		case "inbound", "outbound", "both":
		default:
			return usagef("--direction %q: want inbound, outbound or both", direction)
		}
		return a.withSession(false, func(api wfp.API) error {
			sc, err := api.IPsecSaContextGetById1(id)
			if err != nil {
				return err
			}
			nv := &wfp.IPsecSAContext1{SAContextID: id}
			apply := func(d *wfp.IPsecSADetails1) *wfp.IPsecSADetails1 {
				if d == nil {
					return nil
				}
				c := *d
				l, r := c.Traffic.LocalAddr(), c.Traffic.RemoteAddr()
				if local.IsValid() {
					l = local
				}
				if remote.IsValid() {
					r = remote
				}
				setAddrs(&c.Traffic, l, r)
				c.UDPEncapsulation = encap
				c.SABundle.Flags = bflags
				c.SABundle.NAPContext = nap
				c.SABundle.KeyModuleState = kms
				c.SABundle.PeerV4PrivateAddress = private
				c.SABundle.MMSAID = mmSAID
				return &c
			}
			if direction != "outbound" {
				nv.InboundSA = apply(sc.InboundSA)
			}
			if direction != "inbound" {
				nv.OutboundSA = apply(sc.OutboundSA)
			}
			if err := api.IPsecSaContextUpdate0(mask, nv); err != nil {
				return err
			}
			v := updatedView{SAContextID: id, Updated: updateFlagNames(mask)}
			return a.emit(v, func(w io.Writer) {
				b := &block{}
				b.add("sa context id", fmt.Sprint(id))
				b.add("updated", strings.Join(v.Updated, ","))
				b.write(w)
			})
		})
	}
	return cmd
}

// updateFlagNames lists the IPSEC_SA_*_UPDATE_* names of the bits of m.
func updateFlagNames(m uint64) []string {
	names := []struct {
		bit  uint64
		name string
	}{
		{wfp.SADetailsUpdateTraffic, "IPSEC_SA_DETAILS_UPDATE_TRAFFIC"},
		{wfp.SADetailsUpdateUDPEncapsulation, "IPSEC_SA_DETAILS_UPDATE_UDP_ENCAPSULATION"},
		{wfp.SABundleUpdateFlags, "IPSEC_SA_BUNDLE_UPDATE_FLAGS"},
		{wfp.SABundleUpdateNAPContext, "IPSEC_SA_BUNDLE_UPDATE_NAP_CONTEXT"},
		{wfp.SABundleUpdateKeyModuleState, "IPSEC_SA_BUNDLE_UPDATE_KEY_MODULE_STATE"},
		{wfp.SABundleUpdatePeerV4PrivateAddress, "IPSEC_SA_BUNDLE_UPDATE_PEER_V4_PRIVATE_ADDRESS"},
		{wfp.SABundleUpdateMMSAID, "IPSEC_SA_BUNDLE_UPDATE_MM_SA_ID"},
	}
	var out []string
	for _, n := range names {
		if m&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// parseKeyModuleState parses MODULE=HEX.
func parseKeyModuleState(s string) (*wfp.IPsecKeyModuleState0, error) {
	mod, val, ok := strings.Cut(s, "=")
	if !ok {
		return nil, usagef("--key-module-state %q: want MODULE=HEX", s)
	}
	g, found := lookupNamed(mod, "FWPM_KEYING_MODULE_")
	if !found {
		return nil, usagef("--key-module-state: unknown key module %q (ike, authip, ikev2 or a GUID)", mod)
	}
	blob, err := decodeHex(val)
	if err != nil {
		return nil, usagef("--key-module-state: state is not hexadecimal")
	}
	return &wfp.IPsecKeyModuleState0{KeyModuleKey: g, StateBlob: blob}, nil
}

// resultView is what commands that only act print: the object and what
// happened to it.
type resultView struct {
	SAContextID uint64 `json:"sa_context_id,omitempty"`
	FilterID    uint64 `json:"filter_id,omitempty"`
	Result      string `json:"result"`
}

// forEachID runs fn on each id argument in one session, printing a result
// line for each; it stops at the first failure.
func (a *app) forEachID(args []string, what string, fn func(api wfp.API, id uint64) (resultView, error)) error {
	ids := make([]uint64, len(args))
	for i, s := range args {
		id, err := parseID(what, s)
		if err != nil {
			return err
		}
		ids[i] = id
	}
	return a.withSession(false, func(api wfp.API) error {
		for _, id := range ids {
			v, err := fn(api, id)
			if err != nil {
				return err
			}
			err = a.emit(v, func(w io.Writer) { fmt.Fprintf(w, "%s %d %s\n", what, id, v.Result) })
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// newCtxExpireCmd builds "sadb ctx expire".
func newCtxExpireCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "expire ID...",
		Short: "Expire SA contexts (IPsecSaContextExpire0)",
		Long: `Expire SA contexts: the outbound bundle goes at once; the inbound bundle
keeps decrypting for the linger time (60 s) before the context is deleted.
A context without an inbound bundle is deleted at once.`,
		Example: "  sadb ctx expire 1\n  sadb ctx expire 1 2 3",
		Args:    minArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.forEachID(args, "SA context", func(api wfp.API, id uint64) (resultView, error) {
				return resultView{SAContextID: id, Result: "expired"}, api.IPsecSaContextExpire0(id)
			})
		},
	}
}

// newCtxDeleteCmd builds "sadb ctx delete".
func newCtxDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID...",
		Short: "Delete SA contexts (IPsecSaContextDeleteById0)",
		Long: `Delete SA contexts at once, in any state; their keys are zeroed and their
SPIs released. Not allowed inside a transaction (FWP_E_TXN_IN_PROGRESS).`,
		Example: "  sadb ctx delete 1\n  sadb ctx delete 1 2 3",
		Args:    minArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.forEachID(args, "SA context", func(api wfp.API, id uint64) (resultView, error) {
				return resultView{SAContextID: id, Result: "deleted"}, api.IPsecSaContextDeleteById0(id)
			})
		},
	}
}

// newCtxShowCmd builds "sadb ctx show".
func newCtxShowCmd(a *app) *cobra.Command {
	var showKeys bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show an SA context (IPsecSaContextGetById1)",
		Long: `Show SA context ID: its state, traffic, inbound SPI and both bundles. Keys
are shown only with --show-keys (the caller needs READ_KEYS on the SA
database).`,
		Example: "  sadb ctx show 1\n  sadb ctx show 1 --show-keys -o json",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("SA context id", args[0])
			if err != nil {
				return err
			}
			return a.withSession(showKeys, func(api wfp.API) error {
				sc, err := api.IPsecSaContextGetById1(id)
				if err != nil {
					return err
				}
				return a.emit(newContextView(sc, showKeys), func(w io.Writer) { contextBlock(sc, showKeys).write(w) })
			})
		},
	}
	cmd.Flags().BoolVar(&showKeys, "show-keys", false, "show key material")
	return cmd
}

// newCtxListCmd builds "sadb ctx list".
func newCtxListCmd(a *app) *cobra.Command {
	var local, remote string
	var showKeys bool
	cmd := &cobra.Command{
		Use:   "list [--local SUBNET] [--remote SUBNET]",
		Short: "List SA contexts (IPsecSaContextEnum1)",
		Long: `List the SA contexts whose outbound local and remote addresses lie in
--local and --remote (addresses or subnets; default: any), in id order. With
--show-keys each context is shown in full, keys included.`,
		Example: "  sadb ctx list\n  sadb ctx list --remote 192.0.2.0/24\n  sadb -o json ctx list --show-keys",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			tmpl, err := enumTemplate(local, remote)
			if err != nil {
				return err
			}
			return a.withSession(showKeys, func(api wfp.API) error {
				scs, err := enumContexts(api, tmpl)
				if err != nil {
					return err
				}
				views := make([]contextView, len(scs))
				for i, sc := range scs {
					views[i] = newContextView(sc, showKeys)
				}
				return a.emit(views, func(w io.Writer) {
					if showKeys {
						for i, sc := range scs {
							if i > 0 {
								fmt.Fprintln(w)
							}
							contextBlock(sc, true).write(w)
						}
						return
					}
					contextTable(scs).write(w)
				})
			})
		},
	}
	cmd.Flags().StringVar(&local, "local", "", "only contexts whose local address is in this subnet")
	cmd.Flags().StringVar(&remote, "remote", "", "only contexts whose remote address is in this subnet")
	cmd.Flags().BoolVar(&showKeys, "show-keys", false, "show key material")
	return cmd
}

// enumTemplate builds an SA-context template from subnet flags.
func enumTemplate(local, remote string) (*wfp.IPsecSAContextEnumTemplate0, error) {
	t := &wfp.IPsecSAContextEnumTemplate0{}
	if local != "" {
		p, err := parsePrefix("local", local)
		if err != nil {
			return nil, err
		}
		t.LocalSubNet = subnetValue(p)
	}
	if remote != "" {
		p, err := parsePrefix("remote", remote)
		if err != nil {
			return nil, err
		}
		t.RemoteSubNet = subnetValue(p)
	}
	return t, nil
}

// enumContexts pages through every SA context matching tmpl.
func enumContexts(api wfp.API, tmpl *wfp.IPsecSAContextEnumTemplate0) ([]*wfp.IPsecSAContext1, error) {
	h, err := api.IPsecSaContextCreateEnumHandle0(tmpl)
	if err != nil {
		return nil, err
	}
	defer api.IPsecSaContextDestroyEnumHandle0(h)
	var out []*wfp.IPsecSAContext1
	for {
		page, err := api.IPsecSaContextEnum1(h, enumPage)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < enumPage {
			return out, nil
		}
	}
}

// contextTable is the table ctx list prints.
func contextTable(scs []*wfp.IPsecSAContext1) *table {
	t := newTable("ID", "STATE", "MODE", "LOCAL", "REMOTE", "FILTER", "INBOUND SPI", "OUTBOUND SPI", "TRANSFORM")
	for _, sc := range scs {
		filter := fmt.Sprint(sc.Traffic.IPsecFilterID)
		if sc.Traffic.TrafficType == wfp.TrafficTypeTunnel {
			filter = fmt.Sprintf("policy %d", sc.Traffic.TunnelPolicyID)
		}
		inSPI, outSPI, transform := "", "", ""
		if sc.InboundSPI != 0 {
			inSPI = spiText(sc.InboundSPI)
		}
		if sc.InboundSA != nil {
			transform = bundleName(sc.InboundSA.SABundle.SAList)
		}
		if sc.OutboundSA != nil {
			outSPI = bundleSPIText(sc.OutboundSA.SABundle.SAList)
			if o := bundleName(sc.OutboundSA.SABundle.SAList); o != transform {
				transform = strings.TrimPrefix(transform+" / "+o, " / ")
			}
		}
		t.add(fmt.Sprint(sc.SAContextID), stateText(sc.State), modeText(sc.Traffic.TrafficType),
			sc.Traffic.LocalAddr().String(), sc.Traffic.RemoteAddr().String(), filter, inSPI, outSPI, transform)
	}
	return t
}
