package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sadb-dev/sadb/wfp"
)

// bundleFlag is one IPSEC_SA_BUNDLE_FLAG_* bit with its symbolic name
// (without the prefix).
type bundleFlag struct {
	sym string
	v   uint32
}

// bundleFlags lists the IPSEC_SA_BUNDLE_FLAG_* bits.
func bundleFlags() []bundleFlag {
	return []bundleFlag{
		{"ND_SECURE", wfp.SABundleFlagNDSecure},
		{"ND_BOUNDARY", wfp.SABundleFlagNDBoundary},
		{"ND_PEER_NAT_BOUNDARY", wfp.SABundleFlagNDPeerNATBoundary},
		{"GUARANTEE_ENCRYPTION", wfp.SABundleFlagGuaranteeEncryption},
		{"NLB", wfp.SABundleFlagNLB},
		{"NO_MACHINE_LUID_VERIFY", wfp.SABundleFlagNoMachineLUIDVerify},
		{"NO_IMPERSONATION_LUID_VERIFY", wfp.SABundleFlagNoImpersonationLUIDVerify},
		{"NO_EXPLICIT_CRED_MATCH", wfp.SABundleFlagNoExplicitCredMatch},
		{"ALLOW_NULL_TARGET_NAME_MATCH", wfp.SABundleFlagAllowNullTargetNameMatch},
		{"CLEAR_DF_ON_TUNNEL", wfp.SABundleFlagClearDFOnTunnel},
		{"ASSUME_UDP_CONTEXT_OUTBOUND", wfp.SABundleFlagAssumeUDPContextOutbound},
		{"ND_PEER_BOUNDARY", wfp.SABundleFlagNDPeerBoundary},
		{"SUPPRESS_DUPLICATE_DELETION", wfp.SABundleFlagSuppressDuplicateDeletion},
		{"PEER_SUPPORTS_GUARANTEE_ENCRYPTION", wfp.SABundleFlagPeerSupportsGuaranteeEncrypt},
		{"FORCE_INBOUND_CONNECTIONS", wfp.SABundleFlagForceInboundConnections},
		{"FORCE_OUTBOUND_CONNECTIONS", wfp.SABundleFlagForceOutboundConnections},
		{"FORWARD_PATH_INITIATOR", wfp.SABundleFlagForwardPathInitiator},
		{"ENABLE_OPTIONAL_ASYMMETRIC_IDLE", wfp.SABundleFlagEnableOptionalAsymmetricIdle},
		{"USING_DICTATED_KEYS", wfp.SABundleFlagUsingDictatedKeys},
		{"LOCALLY_DICTATED_KEYS", wfp.SABundleFlagLocallyDictatedKeys},
		{"SA_OFFLOADED", wfp.SABundleFlagSAOffloaded},
		{"IP_IN_IP_PKT", wfp.SABundleFlagIPInIPPkt},
		{"LOW_POWER_MODE_SUPPORT", wfp.SABundleFlagLowPowerModeSupport},
		{"TUNNEL_BANDWIDTH1", wfp.SABundleFlagTunnelBandwidth1},
		{"TUNNEL_BANDWIDTH2", wfp.SABundleFlagTunnelBandwidth2},
		{"TUNNEL_BANDWIDTH3", wfp.SABundleFlagTunnelBandwidth3},
		{"TUNNEL_BANDWIDTH4", wfp.SABundleFlagTunnelBandwidth4},
	}
}

const bundleFlagPrefix = "IPSEC_SA_BUNDLE_FLAG_"

// parseBundleFlags parses a comma-separated list of flag names (friendly
// "guarantee-encryption" or symbolic IPSEC_SA_BUNDLE_FLAG_...) and numbers.
func parseBundleFlags(s string) (uint32, error) {
	var out uint32
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' || r == ' ' }) {
		sym := strings.TrimPrefix(symbolic(p), bundleFlagPrefix)
		found := false
		for _, f := range bundleFlags() {
			if f.sym == sym {
				out |= f.v
				found = true
				break
			}
		}
		if found {
			continue
		}
		n, err := strconv.ParseUint(p, 0, 32)
		if err != nil {
			var names []string
			for _, f := range bundleFlags() {
				names = append(names, friendly(f.sym))
			}
			return 0, usagef("--flags: unknown flag %q (known: %s, or a number)", p, strings.Join(names, ", "))
		}
		out |= uint32(n)
	}
	return out, nil
}

// bundleFlagSymbols lists the symbolic names of the bits of v; unknown bits
// appear as one hex number.
func bundleFlagSymbols(v uint32) []string {
	out := []string{}
	rest := v
	for _, f := range bundleFlags() {
		if v&f.v != 0 {
			out = append(out, bundleFlagPrefix+f.sym)
			rest &^= f.v
		}
	}
	if rest != 0 {
		out = append(out, fmt.Sprintf("0x%x", rest))
	}
	return out
}

// bundleFlagNames lists the friendly names of the bits of v.
func bundleFlagNames(v uint32) []string {
	syms := bundleFlagSymbols(v)
	for i, s := range syms {
		syms[i] = friendly(strings.TrimPrefix(s, bundleFlagPrefix))
	}
	return syms
}

// pfsGroups maps --pfs names onto IPSEC_PFS_GROUP values.
func pfsGroups() []struct {
	name string
	g    wfp.PFSGroup
} {
	return []struct {
		name string
		g    wfp.PFSGroup
	}{
		{"none", wfp.PFSNone}, {"1", wfp.PFS1}, {"2", wfp.PFS2}, {"2048", wfp.PFS2048}, {"14", wfp.PFS14},
		{"ecp256", wfp.PFSECP256}, {"ecp384", wfp.PFSECP384}, {"mm", wfp.PFSMM}, {"24", wfp.PFS24},
	}
}

// parsePFS parses a --pfs group name.
func parsePFS(s string) (wfp.PFSGroup, error) {
	n := strings.ToLower(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "IPSEC_PFS_"))
	n = strings.ReplaceAll(n, "_", "")
	for _, p := range pfsGroups() {
		if p.name == n {
			return p.g, nil
		}
	}
	return 0, usagef("--pfs %q: want none, 1, 2, 2048, 14, ecp256, ecp384, mm or 24", s)
}

// pfsText names a PFS group as --pfs would.
func pfsText(g wfp.PFSGroup) string {
	for _, p := range pfsGroups() {
		if p.g == g {
			return p.name
		}
	}
	return g.String()
}

// bundleOptions are the flags of add-inbound and add-outbound.
type bundleOptions struct {
	transform   string
	spi         string
	lifetime    time.Duration
	kilobytes   uint32
	packets     uint32
	idle        time.Duration
	qmSAID      uint32
	mmSAID      uint64
	flags       string
	pfs         string
	peerPrivate string
	keyFile     string
	keyStdin    bool
}

// register adds the bundle flags to cmd; outbound makes --spi the peer's SPI.
func (o *bundleOptions) register(cmd *cobra.Command, outbound bool) {
	f := cmd.Flags()
	f.StringVar(&o.transform, "transform", "", "transform name, e.g. esp-gcm-256, esp-aes-256-sha256, ah-sha256, esp-aes-128-sha1+ah-sha1 (required)")
	if outbound {
		f.StringVar(&o.spi, "spi", "", "the peer's inbound SPI, decimal or 0x hex (required)")
	} else {
		f.StringVar(&o.spi, "spi", "", "the SPI, decimal or 0x hex (default: the context's inbound SPI)")
	}
	f.DurationVar(&o.lifetime, "lifetime", 0, "lifetime, e.g. 1h (0: no time limit)")
	f.Uint32Var(&o.kilobytes, "kilobytes", 0, "lifetime in kilobytes (0: no limit)")
	f.Uint32Var(&o.packets, "packets", 0, "lifetime in packets (0: no limit)")
	f.DurationVar(&o.idle, "idle", 0, "idle timeout, e.g. 5m (0: none)")
	f.Uint32Var(&o.qmSAID, "qm-sa-id", 0, "quick-mode SA id (the same on both bundles of a context)")
	f.Uint64Var(&o.mmSAID, "mm-sa-id", 0, "main-mode SA id")
	f.StringVar(&o.flags, "flags", "", "bundle flags by name, comma-separated, e.g. guarantee-encryption,nlb")
	f.StringVar(&o.pfs, "pfs", "none", "PFS group: none, 1, 2, 2048, 14, ecp256, ecp384, mm, 24")
	f.StringVar(&o.peerPrivate, "peer-private-address", "", "the peer's private IPv4 address behind a NAT")
	f.StringVar(&o.keyFile, "key-file", "", "read keys from this file (NAME=HEX lines)")
	f.BoolVar(&o.keyStdin, "key-stdin", false, "read keys from standard input (NAME=HEX lines)")
	_ = cmd.RegisterFlagCompletionFunc("transform", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return transformNames(), cobra.ShellCompDirectiveNoFileComp
	})
}

// seconds converts a duration flag to whole seconds.
func seconds(flag string, d time.Duration) (uint32, error) {
	if d < 0 || d%time.Second != 0 || d/time.Second > 0xFFFFFFFF {
		return 0, usagef("--%s %v: want a whole number of seconds up to 2^32-1", flag, d)
	}
	return uint32(d / time.Second), nil
}

// preparedBundle is a bundle whose flags have been checked and whose keys
// have been read, waiting for the context it is for.
type preparedBundle struct {
	t      *transform
	spi    uint32 // 0: the context's inbound SPI
	bundle wfp.IPsecSABundle1
	keys   *keySet
}

// prepare checks the flags and reads the keys, before any call to sadbd.
// The caller zeroes the keys (preparedBundle.keys.zero) when done.
func (o *bundleOptions) prepare(a *app, outbound bool) (*preparedBundle, error) {
	if o.transform == "" {
		return nil, usagef("--transform is required")
	}
	t, err := parseTransform(o.transform)
	if err != nil {
		return nil, err
	}
	p := &preparedBundle{t: t}
	switch {
	case o.spi != "":
		if p.spi, err = parseSPI(o.spi); err != nil {
			return nil, err
		}
	case outbound:
		return nil, usagef("--spi is required: the peer's inbound SPI")
	}
	b := &p.bundle
	b.QMSAID, b.MMSAID = o.qmSAID, o.mmSAID
	if b.Lifetime.LifetimeSeconds, err = seconds("lifetime", o.lifetime); err != nil {
		return nil, err
	}
	if b.IdleTimeoutSeconds, err = seconds("idle", o.idle); err != nil {
		return nil, err
	}
	b.Lifetime.LifetimeKilobytes, b.Lifetime.LifetimePackets = o.kilobytes, o.packets
	if b.Flags, err = parseBundleFlags(o.flags); err != nil {
		return nil, err
	}
	if b.PFSGroup, err = parsePFS(o.pfs); err != nil {
		return nil, err
	}
	if o.peerPrivate != "" {
		addr, err := parseAddr("peer-private-address", o.peerPrivate)
		if err != nil {
			return nil, err
		}
		v4, ok := wfp.V4AddrFrom(addr)
		if !ok {
			return nil, usagef("--peer-private-address %q: not an IPv4 address", o.peerPrivate)
		}
		b.PeerV4PrivateAddress = v4
	}
	if p.keys, err = o.keys(a, t); err != nil {
		return nil, err
	}
	// Build once now, so that a key of the wrong length is reported before
	// any call; the SPI is set for the context later.
	if b.SAList, err = t.build(p.spi, p.keys); err != nil {
		p.keys.zero()
		return nil, err
	}
	return p, nil
}

// forContext returns the bundle for context sc: its IP version and, unless
// --spi was given, its inbound SPI. The bundle shares key memory with
// p.keys.
func (p *preparedBundle) forContext(sc *wfp.IPsecSAContext1) *wfp.IPsecSABundle1 {
	b := p.bundle
	b.IPVersion = sc.Traffic.IPVersion
	b.SAList = append([]wfp.IPsecSA0(nil), p.bundle.SAList...)
	if p.spi == 0 {
		for i := range b.SAList {
			b.SAList[i].SPI = sc.InboundSPI
		}
	}
	return &b
}

// keys reads the key set from --key-file or --key-stdin. A transform that
// takes keys needs one of them.
func (o *bundleOptions) keys(a *app, t *transform) (*keySet, error) {
	switch {
	case o.keyFile != "" && o.keyStdin:
		return nil, usagef("give --key-file or --key-stdin, not both")
	case o.keyFile != "":
		return a.readKeys(o.keyFile)
	case o.keyStdin:
		return a.readKeys("-")
	}
	if names := t.keyNames(); len(names) > 0 {
		return nil, usagef("%s takes keys (%s): give --key-file FILE or --key-stdin; keys are never taken from the command line",
			t.name, strings.Join(names, ", "))
	}
	return &keySet{source: "none", keys: nil, used: map[string]bool{}}, nil
}
