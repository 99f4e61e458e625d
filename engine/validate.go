package engine

import (
	"net/netip"
	"strconv"

	"github.com/sadb-dev/sadb/wfp"
)

// The validators check arguments on their own, before any object is looked
// up (docs/semantics.md, section 1). They never change anything.

const minSPI = 256 // SPIs 1-255 are reserved by IANA, 0 for local use (RFC 4303 §2.1)

// validateIPVersion checks an FWP_IP_VERSION; what and field name it in the
// error (kept apart so that the success path builds no string).
func validateIPVersion(v wfp.IPVersion, what, field string) error {
	switch {
	case v == wfp.IPVersionV4 || v == wfp.IPVersionV6:
		return nil
	case v == wfp.IPVersionNone:
		return wfp.Errorf(wfp.ErrInvalidParameter, "%s%s is FWP_IP_VERSION_NONE", what, field)
	default:
		return wfp.Errorf(wfp.ErrInvalidEnumerator, "%s%s %d is out of range", what, field, uint32(v))
	}
}

func unicast(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// validateTraffic checks an IPSEC_TRAFFIC1 on its own.
func validateTraffic(t *wfp.IPsecTraffic1, what string) error {
	if err := validateIPVersion(t.IPVersion, what, ".ipVersion"); err != nil {
		return err
	}
	if t.TrafficType >= wfp.TrafficTypeMax {
		return wfp.Errorf(wfp.ErrInvalidEnumerator, "%s.trafficType %d is out of range", what, uint32(t.TrafficType))
	}
	if t.IPVersion == wfp.IPVersionV4 {
		if !t.LocalV6Address.IsZero() || !t.RemoteV6Address.IsZero() {
			return wfp.Errorf(wfp.ErrInvalidParameter, "%s is IPv4 but has IPv6 addresses", what)
		}
	} else if t.LocalV4Address != 0 || t.RemoteV4Address != 0 {
		return wfp.Errorf(wfp.ErrInvalidParameter, "%s is IPv6 but has IPv4 addresses", what)
	}
	if !unicast(t.LocalAddr()) {
		return wfp.Errorf(wfp.ErrInvalidParameter, "%s local address %s is not a unicast address", what, t.LocalAddr())
	}
	if !unicast(t.RemoteAddr()) {
		return wfp.Errorf(wfp.ErrInvalidParameter, "%s remote address %s is not a unicast address", what, t.RemoteAddr())
	}
	if t.TrafficType == wfp.TrafficTypeTransport && t.TunnelPolicyID != 0 {
		return wfp.Errorf(wfp.ErrInvalidParameter, "%s is transport traffic but has tunnelPolicyId %d", what, t.TunnelPolicyID)
	}
	if t.TrafficType == wfp.TrafficTypeTunnel && t.IPsecFilterID != 0 {
		return wfp.Errorf(wfp.ErrInvalidParameter, "%s is tunnel traffic but has ipsecFilterId %d", what, t.IPsecFilterID)
	}
	return nil
}

// validateGetSPI checks an IPSEC_GETSPI1 on its own.
func validateGetSPI(g *wfp.IPsecGetSPI1) error {
	if err := validateIPVersion(g.IPVersion, "getSpi", ".ipVersion"); err != nil {
		return err
	}
	if err := validateTraffic(&g.InboundIPsecTraffic, "inboundIpsecTraffic"); err != nil {
		return err
	}
	if g.IPVersion != g.InboundIPsecTraffic.IPVersion {
		return wfp.Errorf(wfp.ErrInvalidParameter, "getSpi.ipVersion %v differs from inboundIpsecTraffic.ipVersion %v", g.IPVersion, g.InboundIPsecTraffic.IPVersion)
	}
	if u := g.InboundUDPEncapsulation; u != nil {
		if err := validateUDPEncap(u, g.IPVersion); err != nil {
			return err
		}
	}
	return nil
}

func validateUDPEncap(u *wfp.IPsecV4UDPEncapsulation0, v wfp.IPVersion) error {
	if v != wfp.IPVersionV4 {
		return wfp.Errorf(wfp.ErrInvalidParameter, "UDP encapsulation is defined for IPv4 only")
	}
	if u.LocalUDPEncapPort == 0 || u.RemoteUDPEncapPort == 0 {
		return wfp.Errorf(wfp.ErrInvalidParameter, "UDP encapsulation ports must be nonzero (local %d, remote %d)", u.LocalUDPEncapPort, u.RemoteUDPEncapPort)
	}
	return nil
}

// validateBundle checks an IPSEC_SA_BUNDLE1 on its own; what is "inboundBundle"
// or "outboundBundle".
func validateBundle(b *wfp.IPsecSABundle1, what string) error {
	if b.Flags&^wfp.SABundleFlagsValid != 0 {
		return wfp.Errorf(wfp.ErrInvalidFlags, "%s.flags 0x%X has undefined bits", what, b.Flags&^wfp.SABundleFlagsValid)
	}
	if err := validateIPVersion(b.IPVersion, what, ".ipVersion"); err != nil {
		return err
	}
	if b.PFSGroup >= wfp.PFSMax {
		return wfp.Errorf(wfp.ErrInvalidEnumerator, "%s.pfsGroup %d is out of range", what, uint32(b.PFSGroup))
	}
	if b.IPVersion == wfp.IPVersionV6 && b.PeerV4PrivateAddress != 0 {
		return wfp.Errorf(wfp.ErrInvalidParameter, "%s is IPv6 but has peerV4PrivateAddress", what)
	}
	if b.Lifetime.LifetimeSeconds != 0 && b.IdleTimeoutSeconds > b.Lifetime.LifetimeSeconds {
		return wfp.Errorf(wfp.ErrInvalidInterval, "%s.idleTimeoutSeconds %d exceeds lifetimeSeconds %d", what, b.IdleTimeoutSeconds, b.Lifetime.LifetimeSeconds)
	}
	if id := b.IPsecID; id != nil {
		if err := validateIPsecID(id, what); err != nil {
			return err
		}
	}
	switch n := len(b.SAList); {
	case n == 0:
		return wfp.Errorf(wfp.ErrZeroLengthArray, "%s.saList is empty", what)
	case n > 2:
		return wfp.Errorf(wfp.ErrOutOfBounds, "%s.saList has %d SAs; a bundle holds 1 or 2", what, n)
	case n == 2:
		if !b.SAList[0].SATransformType.IsESP() || b.SAList[1].SATransformType != wfp.TransformAH {
			return wfp.Errorf(wfp.ErrInvalidParameter, "%s: a bundle of two SAs must be ESP (index 0) and AH (index 1), got %v and %v", what, b.SAList[0].SATransformType, b.SAList[1].SATransformType)
		}
	}
	for i := range b.SAList {
		if err := validateSA(&b.SAList[i], what, i); err != nil {
			return err
		}
	}
	return nil
}

const maxIDTokens = 64
const maxNameLen = 1024

func validateIPsecID(id *wfp.IPsecID0, what string) error {
	if len(id.Tokens) > maxIDTokens {
		return wfp.Errorf(wfp.ErrOutOfBounds, "%s.ipsecId has %d tokens; at most %d", what, len(id.Tokens), maxIDTokens)
	}
	if len(id.MMTargetName) > maxNameLen || len(id.EMTargetName) > maxNameLen {
		return wfp.Errorf(wfp.ErrOutOfBounds, "%s.ipsecId target names are limited to %d bytes", what, maxNameLen)
	}
	for i, t := range id.Tokens {
		if t.Type >= wfp.TokenTypeMax || t.Principal >= wfp.TokenPrincipalMax || t.Mode >= wfp.TokenModeMax {
			return wfp.Errorf(wfp.ErrInvalidEnumerator, "%s.ipsecId.tokens[%d] has an out-of-range enumerator", what, i)
		}
	}
	return nil
}

// validateSA checks one IPSEC_SA0: transform type, the information member
// that goes with it, transform ids and key lengths.
func validateSA(sa *wfp.IPsecSA0, what string, i int) error {
	where := func() string { return what + ".saList[" + strconv.Itoa(i) + "]" }
	t := sa.SATransformType
	if t == 0 || t >= wfp.TransformTypeMax {
		return wfp.Errorf(wfp.ErrInvalidEnumerator, "%s.saTransformType %d is out of range", where(), uint32(t))
	}
	set := [6]bool{
		wfp.TransformAH:               sa.AHInformation != nil,
		wfp.TransformESPAuth:          sa.ESPAuthInformation != nil,
		wfp.TransformESPCipher:        sa.ESPCipherInformation != nil,
		wfp.TransformESPAuthAndCipher: sa.ESPAuthAndCipherInformation != nil,
		wfp.TransformESPAuthFW:        sa.ESPAuthFWInformation != nil,
	}
	if !set[t] {
		return wfp.Errorf(wfp.ErrNullPointer, "%s is %v but its information member is nil", where(), t)
	}
	for k := wfp.TransformAH; k < wfp.TransformTypeMax; k++ {
		if k != t && set[k] {
			return wfp.Errorf(wfp.ErrInvalidParameter, "%s is %v but also has the %v information member", where(), t, k)
		}
	}
	switch t {
	case wfp.TransformAH:
		return validateAuth(&sa.AHInformation.AuthTransform.AuthTransformID, sa.AHInformation.AuthKey, where())
	case wfp.TransformESPAuth:
		return validateAuth(&sa.ESPAuthInformation.AuthTransform.AuthTransformID, sa.ESPAuthInformation.AuthKey, where())
	case wfp.TransformESPAuthFW:
		return validateAuth(&sa.ESPAuthFWInformation.AuthTransform.AuthTransformID, sa.ESPAuthFWInformation.AuthKey, where())
	case wfp.TransformESPCipher:
		ci := sa.ESPCipherInformation
		if isGCMCipher(ci.CipherTransform.CipherTransformID) {
			return wfp.Errorf(wfp.ErrInvalidCipherTransform, "%s: GCM needs IPSEC_TRANSFORM_ESP_AUTH_AND_CIPHER with the GCM authentication transform", where())
		}
		return validateCipher(&ci.CipherTransform.CipherTransformID, ci.CipherKey, where())
	case wfp.TransformESPAuthAndCipher:
		ac := sa.ESPAuthAndCipherInformation
		cid := ac.SACipherInformation.CipherTransform.CipherTransformID
		aid := ac.SAAuthInformation.AuthTransform.AuthTransformID
		if !validCipherID(cid) {
			return wfp.Errorf(wfp.ErrInvalidCipherTransform, "%s: cipher transform %v is not a defined IPSEC_CIPHER_TRANSFORM_ID", where(), cid)
		}
		if !validAuthID(aid) {
			return wfp.Errorf(wfp.ErrInvalidAuthTransform, "%s: auth transform %v is not a defined IPSEC_AUTH_TRANSFORM_ID", where(), aid)
		}
		if isGCMCipher(cid) {
			if !isGMAC(aid) || gcmBits(aid) != cipherBits(cid) {
				return wfp.Errorf(wfp.ErrInvalidCipherTransform, "%s: cipher %v must be paired with the GCM authentication transform of the same size, not %v", where(), cid, aid)
			}
			if len(ac.SAAuthInformation.AuthKey) != 0 {
				return wfp.Errorf(wfp.ErrInvalidAuthTransform, "%s: with AES-GCM the key is the cipher key (key and 4-byte salt); the auth key must be empty, got %d bytes", where(), len(ac.SAAuthInformation.AuthKey))
			}
			if want := cipherBits(cid)/8 + 4; len(ac.SACipherInformation.CipherKey) != want {
				return wfp.Errorf(wfp.ErrInvalidCipherTransform, "%s: %v takes a %d-byte cipher key (key and 4-byte salt), got %d", where(), cid, want, len(ac.SACipherInformation.CipherKey))
			}
			return nil
		}
		if isGMAC(aid) {
			return wfp.Errorf(wfp.ErrInvalidCipherTransform, "%s: CBC cipher %v cannot be combined with GMAC", where(), cid)
		}
		if err := validateCipher(&cid, ac.SACipherInformation.CipherKey, where()); err != nil {
			return err
		}
		return validateAuth(&aid, ac.SAAuthInformation.AuthKey, where())
	}
	return nil
}

func validAuthID(id wfp.IPsecAuthTransformID0) bool {
	switch id {
	case wfp.AuthTransformIDHMACMD596, wfp.AuthTransformIDHMACSHA196, wfp.AuthTransformIDHMACSHA256128,
		wfp.AuthTransformIDGCMAES128, wfp.AuthTransformIDGCMAES192, wfp.AuthTransformIDGCMAES256:
		return true
	}
	return false
}

func validCipherID(id wfp.IPsecCipherTransformID0) bool {
	switch id {
	case wfp.CipherTransformIDCBCDES, wfp.CipherTransformIDCBC3DES, wfp.CipherTransformIDAES128,
		wfp.CipherTransformIDAES192, wfp.CipherTransformIDAES256, wfp.CipherTransformIDGCMAES128,
		wfp.CipherTransformIDGCMAES192, wfp.CipherTransformIDGCMAES256:
		return true
	}
	return false
}

func isGMAC(id wfp.IPsecAuthTransformID0) bool {
	return id == wfp.AuthTransformIDGCMAES128 || id == wfp.AuthTransformIDGCMAES192 || id == wfp.AuthTransformIDGCMAES256
}

func isGCMCipher(id wfp.IPsecCipherTransformID0) bool {
	return id == wfp.CipherTransformIDGCMAES128 || id == wfp.CipherTransformIDGCMAES192 || id == wfp.CipherTransformIDGCMAES256
}

func gcmBits(id wfp.IPsecAuthTransformID0) int {
	switch id {
	case wfp.AuthTransformIDGCMAES128:
		return 128
	case wfp.AuthTransformIDGCMAES192:
		return 192
	case wfp.AuthTransformIDGCMAES256:
		return 256
	}
	return 0
}

func cipherBits(id wfp.IPsecCipherTransformID0) int {
	switch id.CipherType {
	case wfp.CipherAES128:
		return 128
	case wfp.CipherAES192:
		return 192
	case wfp.CipherAES256:
		return 256
	}
	return 0
}

// authKeyLen is the key length an authentication transform takes.
func authKeyLen(id wfp.IPsecAuthTransformID0) int {
	switch id {
	case wfp.AuthTransformIDHMACMD596:
		return 16
	case wfp.AuthTransformIDHMACSHA196:
		return 20
	case wfp.AuthTransformIDHMACSHA256128:
		return 32
	}
	return gcmBits(id)/8 + 4 // GMAC: key and 4-byte salt (RFC 4543)
}

func cipherKeyLen(id wfp.IPsecCipherTransformID0) int {
	switch id {
	case wfp.CipherTransformIDCBCDES:
		return 8
	case wfp.CipherTransformIDCBC3DES:
		return 24
	}
	return cipherBits(id) / 8
}

func validateAuth(id *wfp.IPsecAuthTransformID0, key wfp.Key, where string) error {
	if !validAuthID(*id) {
		return wfp.Errorf(wfp.ErrInvalidAuthTransform, "%s: auth transform %v is not a defined IPSEC_AUTH_TRANSFORM_ID", where, *id)
	}
	if want := authKeyLen(*id); len(key) != want {
		return wfp.Errorf(wfp.ErrInvalidAuthTransform, "%s: %v takes a %d-byte key, got %d", where, *id, want, len(key))
	}
	return nil
}

func validateCipher(id *wfp.IPsecCipherTransformID0, key wfp.Key, where string) error {
	if !validCipherID(*id) {
		return wfp.Errorf(wfp.ErrInvalidCipherTransform, "%s: cipher transform %v is not a defined IPSEC_CIPHER_TRANSFORM_ID", where, *id)
	}
	if want := cipherKeyLen(*id); len(key) != want {
		return wfp.Errorf(wfp.ErrInvalidCipherTransform, "%s: %v takes a %d-byte key, got %d", where, *id, want, len(key))
	}
	return nil
}

// subnet is a parsed enumeration-template address condition.
type subnet struct {
	any    bool
	prefix netip.Prefix
}

func (sn subnet) contains(a netip.Addr) bool { return sn.any || sn.prefix.Contains(a) }

// parseSubnet checks an IPSEC_SA_CONTEXT_ENUM_TEMPLATE0 member.
func parseSubnet(v *wfp.FwpConditionValue0, what string) (subnet, error) {
	switch v.Type {
	case wfp.DataTypeEmpty:
		return subnet{any: true}, nil
	case wfp.DataTypeUint32:
		return subnet{prefix: netip.PrefixFrom(wfp.V4Addr(v.Uint32).Addr(), 32)}, nil
	case wfp.DataTypeByteArray16:
		if v.ByteArray16 == nil {
			return subnet{}, wfp.Errorf(wfp.ErrNullPointer, "%s.byteArray16 is nil", what)
		}
		return subnet{prefix: netip.PrefixFrom(netip.AddrFrom16(*v.ByteArray16), 128)}, nil
	case wfp.DataTypeV4AddrMask:
		m := v.V4AddrMask
		if m == nil {
			return subnet{}, wfp.Errorf(wfp.ErrNullPointer, "%s.v4AddrMask is nil", what)
		}
		bits, ok := maskBits(m.Mask)
		if !ok {
			return subnet{}, wfp.Errorf(wfp.ErrInvalidNetMask, "%s mask 0x%08X is not contiguous", what, m.Mask)
		}
		return subnet{prefix: netip.PrefixFrom(m.Addr.Addr(), bits).Masked()}, nil
	case wfp.DataTypeV6AddrMask:
		m := v.V6AddrMask
		if m == nil {
			return subnet{}, wfp.Errorf(wfp.ErrNullPointer, "%s.v6AddrMask is nil", what)
		}
		if m.PrefixLength > 128 {
			return subnet{}, wfp.Errorf(wfp.ErrInvalidNetMask, "%s prefix length %d exceeds 128", what, m.PrefixLength)
		}
		return subnet{prefix: netip.PrefixFrom(m.Addr.Addr(), int(m.PrefixLength)).Masked()}, nil
	}
	return subnet{}, wfp.Errorf(wfp.ErrTypeMismatch, "%s has type %v; an address or subnet is required", what, v.Type)
}

// maskBits returns the prefix length of a contiguous IPv4 mask.
func maskBits(m uint32) (int, bool) {
	n := 0
	for n < 32 && m&(1<<(31-n)) != 0 {
		n++
	}
	if n < 32 && m<<n != 0 {
		return 0, false
	}
	return n, true
}
