package conformance

import (
	"testing"

	"github.com/sadb-dev/sadb/wfp"
)

func keyOf(n int, seed byte) wfp.Key {
	if n == 0 {
		return nil
	}
	return TestKey(n, seed)
}

// saAuth returns an AH, ESP_AUTH or ESP_AUTH_FW SA with transform id and a
// key of keyLen bytes.
func saAuth(spi uint32, typ wfp.TransformType, id wfp.IPsecAuthTransformID0, keyLen int) wfp.IPsecSA0 {
	info := &wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: id}, AuthKey: keyOf(keyLen, 0x11)}
	sa := wfp.IPsecSA0{SPI: spi, SATransformType: typ}
	switch typ {
	case wfp.TransformAH:
		sa.AHInformation = info
	case wfp.TransformESPAuthFW:
		sa.ESPAuthFWInformation = info
	default:
		sa.ESPAuthInformation = info
	}
	return sa
}

// saCipher returns an ESP_CIPHER SA.
func saCipher(spi uint32, id wfp.IPsecCipherTransformID0, keyLen int) wfp.IPsecSA0 {
	return wfp.IPsecSA0{SPI: spi, SATransformType: wfp.TransformESPCipher,
		ESPCipherInformation: &wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: id}, CipherKey: keyOf(keyLen, 0x22)}}
}

// saAuthCipher returns an ESP_AUTH_AND_CIPHER SA.
func saAuthCipher(spi uint32, cid wfp.IPsecCipherTransformID0, cKey int, aid wfp.IPsecAuthTransformID0, aKey int) wfp.IPsecSA0 {
	return wfp.IPsecSA0{SPI: spi, SATransformType: wfp.TransformESPAuthAndCipher,
		ESPAuthAndCipherInformation: &wfp.IPsecSAAuthAndCipherInformation0{
			SACipherInformation: wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: cid}, CipherKey: keyOf(cKey, 0x33)},
			SAAuthInformation:   wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: aid}, AuthKey: keyOf(aKey, 0x44)},
		}}
}

// validTransforms are SA lists sadb accepts (without the transforms a data
// path may refuse: DES, 3DES, HMAC-MD5).
var validTransforms = []struct {
	name string
	sas  func(spi uint32) []wfp.IPsecSA0
}{
	{"ESP/GCM128", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuthCipher(s, wfp.CipherTransformIDGCMAES128, 20, wfp.AuthTransformIDGCMAES128, 0)}
	}},
	{"ESP/GCM192", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuthCipher(s, wfp.CipherTransformIDGCMAES192, 28, wfp.AuthTransformIDGCMAES192, 0)}
	}},
	{"ESP/GCM256", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuthCipher(s, wfp.CipherTransformIDGCMAES256, 36, wfp.AuthTransformIDGCMAES256, 0)}
	}},
	{"ESP/CBC128-SHA1", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuthCipher(s, wfp.CipherTransformIDAES128, 16, wfp.AuthTransformIDHMACSHA196, 20)}
	}},
	{"ESP/CBC192-SHA256", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuthCipher(s, wfp.CipherTransformIDAES192, 24, wfp.AuthTransformIDHMACSHA256128, 32)}
	}},
	{"ESP/CBC256-SHA256", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuthCipher(s, wfp.CipherTransformIDAES256, 32, wfp.AuthTransformIDHMACSHA256128, 32)}
	}},
	{"ESPAuth/SHA1", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuth(s, wfp.TransformESPAuth, wfp.AuthTransformIDHMACSHA196, 20)}
	}},
	{"ESPAuth/SHA256", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuth(s, wfp.TransformESPAuth, wfp.AuthTransformIDHMACSHA256128, 32)}
	}},
	{"ESPAuth/GMAC128", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuth(s, wfp.TransformESPAuth, wfp.AuthTransformIDGCMAES128, 20)}
	}},
	{"ESPAuth/GMAC256", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuth(s, wfp.TransformESPAuth, wfp.AuthTransformIDGCMAES256, 36)}
	}},
	{"ESPAuthFW/SHA256", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuth(s, wfp.TransformESPAuthFW, wfp.AuthTransformIDHMACSHA256128, 32)}
	}},
	{"ESPCipher/CBC256", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saCipher(s, wfp.CipherTransformIDAES256, 32)}
	}},
	{"AH/SHA256", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuth(s, wfp.TransformAH, wfp.AuthTransformIDHMACSHA256128, 32)}
	}},
	{"AH/GMAC192", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuth(s, wfp.TransformAH, wfp.AuthTransformIDGCMAES192, 28)}
	}},
	{"AHAndESP/GCM256-SHA1", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuthCipher(s, wfp.CipherTransformIDGCMAES256, 36, wfp.AuthTransformIDGCMAES256, 0),
			saAuth(s, wfp.TransformAH, wfp.AuthTransformIDHMACSHA196, 20)}
	}},
	{"AHAndESP/CBC128-SHA256", func(s uint32) []wfp.IPsecSA0 {
		return []wfp.IPsecSA0{saAuthCipher(s, wfp.CipherTransformIDAES128, 16, wfp.AuthTransformIDHMACSHA256128, 32),
			saAuth(s, wfp.TransformAH, wfp.AuthTransformIDHMACSHA256128, 32)}
	}},
}

// bundleCase turns a valid bundle (with the right SPI) into an invalid one.
type bundleCase struct {
	name string
	v    wfp.IPVersion
	mod  func(b *wfp.IPsecSABundle1, spi uint32)
	want wfp.Error
}

func oneSA(sa func(spi uint32) wfp.IPsecSA0) func(b *wfp.IPsecSABundle1, spi uint32) {
	return func(b *wfp.IPsecSABundle1, spi uint32) { b.SAList = []wfp.IPsecSA0{sa(spi)} }
}

var bundleCases = []bundleCase{
	{"ZeroSAs", 0, func(b *wfp.IPsecSABundle1, _ uint32) { b.SAList = nil }, wfp.ErrZeroLengthArray},
	{"ThreeSAs", 0, func(b *wfp.IPsecSABundle1, _ uint32) { b.SAList = append(b.SAList, b.SAList[0], b.SAList[0]) }, wfp.ErrOutOfBounds},
	{"AHThenESP", 0, func(b *wfp.IPsecSABundle1, s uint32) {
		b.SAList = []wfp.IPsecSA0{saAuth(s, wfp.TransformAH, wfp.AuthTransformIDHMACSHA256128, 32), GCMSA(s, TestKey(20, 1))}
	}, wfp.ErrInvalidParameter},
	{"TwoESP", 0, func(b *wfp.IPsecSABundle1, s uint32) {
		b.SAList = []wfp.IPsecSA0{GCMSA(s, TestKey(20, 1)), GCMSA(s, TestKey(20, 2))}
	}, wfp.ErrInvalidParameter},
	{"TwoAH", 0, func(b *wfp.IPsecSABundle1, s uint32) {
		b.SAList = []wfp.IPsecSA0{saAuth(s, wfp.TransformAH, wfp.AuthTransformIDHMACSHA256128, 32), saAuth(s, wfp.TransformAH, wfp.AuthTransformIDHMACSHA196, 20)}
	}, wfp.ErrInvalidParameter},
	{"Flag0x100", 0, func(b *wfp.IPsecSABundle1, _ uint32) { b.Flags = 0x100 }, wfp.ErrInvalidFlags},
	{"Flag0x02000000", 0, func(b *wfp.IPsecSABundle1, _ uint32) { b.Flags = wfp.SABundleFlagNDSecure | 0x02000000 }, wfp.ErrInvalidFlags},
	{"IPVersionMismatch", 0, func(b *wfp.IPsecSABundle1, _ uint32) { b.IPVersion = wfp.IPVersionV6 }, wfp.ErrTrafficMismatch},
	{"IPVersionNone", 0, func(b *wfp.IPsecSABundle1, _ uint32) { b.IPVersion = wfp.IPVersionNone }, wfp.ErrInvalidParameter},
	{"IPVersionMax", 0, func(b *wfp.IPsecSABundle1, _ uint32) { b.IPVersion = wfp.IPVersionMax }, wfp.ErrInvalidEnumerator},
	{"PeerV4PrivateAddressOnV6", wfp.IPVersionV6, func(b *wfp.IPsecSABundle1, _ uint32) { b.PeerV4PrivateAddress = wfp.MustV4("10.0.0.1") }, wfp.ErrInvalidParameter},
	{"PFSGroupMax", 0, func(b *wfp.IPsecSABundle1, _ uint32) { b.PFSGroup = wfp.PFSMax }, wfp.ErrInvalidEnumerator},
	{"TokenTypeMax", 0, func(b *wfp.IPsecSABundle1, _ uint32) {
		b.IPsecID = &wfp.IPsecID0{Tokens: []wfp.IPsecToken0{{Type: wfp.TokenTypeMax}}}
	}, wfp.ErrInvalidEnumerator},
	{"TokenPrincipalMax", 0, func(b *wfp.IPsecSABundle1, _ uint32) {
		b.IPsecID = &wfp.IPsecID0{Tokens: []wfp.IPsecToken0{{Principal: wfp.TokenPrincipalMax}}}
	}, wfp.ErrInvalidEnumerator},
	{"TokenModeMax", 0, func(b *wfp.IPsecSABundle1, _ uint32) {
		b.IPsecID = &wfp.IPsecID0{Tokens: []wfp.IPsecToken0{{Mode: wfp.TokenModeMax}}}
	}, wfp.ErrInvalidEnumerator},
	{"IdleLongerThanLifetime", 0, func(b *wfp.IPsecSABundle1, _ uint32) {
		b.Lifetime.LifetimeSeconds = 60
		b.IdleTimeoutSeconds = 61
	}, wfp.ErrInvalidInterval},
	{"TransformTypeZero", 0, func(b *wfp.IPsecSABundle1, _ uint32) { b.SAList[0].SATransformType = 0 }, wfp.ErrInvalidEnumerator},
	{"TransformTypeMax", 0, func(b *wfp.IPsecSABundle1, _ uint32) { b.SAList[0].SATransformType = wfp.TransformTypeMax }, wfp.ErrInvalidEnumerator},
	{"MissingInformation", 0, func(b *wfp.IPsecSABundle1, _ uint32) { b.SAList[0].ESPAuthAndCipherInformation = nil }, wfp.ErrNullPointer},
	{"ExtraInformation", 0, func(b *wfp.IPsecSABundle1, s uint32) {
		b.SAList[0].AHInformation = saAuth(s, wfp.TransformAH, wfp.AuthTransformIDHMACSHA256128, 32).AHInformation
	}, wfp.ErrInvalidParameter},
	{"AuthPair/SHA1TypeMD5Config", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuth(s, wfp.TransformESPAuth, wfp.IPsecAuthTransformID0{AuthType: wfp.AuthSHA1, AuthConfig: wfp.AuthConfigHMACMD596}, 20)
	}), wfp.ErrInvalidAuthTransform},
	{"AuthPair/UnknownType", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuth(s, wfp.TransformESPAuth, wfp.IPsecAuthTransformID0{AuthType: wfp.AuthMax, AuthConfig: wfp.AuthConfigHMACSHA196}, 20)
	}), wfp.ErrInvalidAuthTransform},
	{"AuthPair/UnknownConfig", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuth(s, wfp.TransformAH, wfp.IPsecAuthTransformID0{AuthType: wfp.AuthSHA256, AuthConfig: wfp.AuthConfigMax}, 32)
	}), wfp.ErrInvalidAuthTransform},
	{"AuthPair/AESTypeHMACConfig", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuth(s, wfp.TransformESPAuth, wfp.IPsecAuthTransformID0{AuthType: wfp.AuthAES128, AuthConfig: wfp.AuthConfigHMACSHA196}, 20)
	}), wfp.ErrInvalidAuthTransform},
	{"CipherPair/AES128TypeDESConfig", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saCipher(s, wfp.IPsecCipherTransformID0{CipherType: wfp.CipherAES128, CipherConfig: wfp.CipherConfigCBCDES}, 16)
	}), wfp.ErrInvalidCipherTransform},
	{"CipherPair/Zero", 0, oneSA(func(s uint32) wfp.IPsecSA0 { return saCipher(s, wfp.IPsecCipherTransformID0{}, 16) }), wfp.ErrInvalidCipherTransform},
	{"CipherPair/UnknownType", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saCipher(s, wfp.IPsecCipherTransformID0{CipherType: wfp.CipherMax, CipherConfig: wfp.CipherConfigCBCAES128}, 16)
	}), wfp.ErrInvalidCipherTransform},
	{"CipherPair/DESTypeGCMConfig", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuthCipher(s, wfp.IPsecCipherTransformID0{CipherType: wfp.CipherDES, CipherConfig: wfp.CipherConfigGCMAES128}, 20, wfp.AuthTransformIDGCMAES128, 0)
	}), wfp.ErrInvalidCipherTransform},
	{"ESPCipherWithGCM", 0, oneSA(func(s uint32) wfp.IPsecSA0 { return saCipher(s, wfp.CipherTransformIDGCMAES128, 20) }), wfp.ErrInvalidCipherTransform},
	{"GCMWithHMAC", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuthCipher(s, wfp.CipherTransformIDGCMAES128, 20, wfp.AuthTransformIDHMACSHA256128, 32)
	}), wfp.ErrInvalidCipherTransform},
	{"CBCWithGMAC", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuthCipher(s, wfp.CipherTransformIDAES128, 16, wfp.AuthTransformIDGCMAES128, 20)
	}), wfp.ErrInvalidCipherTransform},
	{"KeyLength/HMACSHA1Key19", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuth(s, wfp.TransformESPAuth, wfp.AuthTransformIDHMACSHA196, 19)
	}), wfp.ErrInvalidAuthTransform},
	{"KeyLength/HMACSHA256Key20", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuth(s, wfp.TransformAH, wfp.AuthTransformIDHMACSHA256128, 20)
	}), wfp.ErrInvalidAuthTransform},
	{"KeyLength/HMACMD5Key20", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuth(s, wfp.TransformESPAuth, wfp.AuthTransformIDHMACMD596, 20)
	}), wfp.ErrInvalidAuthTransform},
	{"KeyLength/HMACEmptyKey", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuth(s, wfp.TransformESPAuthFW, wfp.AuthTransformIDHMACSHA256128, 0)
	}), wfp.ErrInvalidAuthTransform},
	{"KeyLength/GMACWithoutSalt", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuth(s, wfp.TransformESPAuth, wfp.AuthTransformIDGCMAES128, 16)
	}), wfp.ErrInvalidAuthTransform},
	{"KeyLength/AHGMAC256Key32", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuth(s, wfp.TransformAH, wfp.AuthTransformIDGCMAES256, 32)
	}), wfp.ErrInvalidAuthTransform},
	{"KeyLength/CBC128Key15", 0, oneSA(func(s uint32) wfp.IPsecSA0 { return saCipher(s, wfp.CipherTransformIDAES128, 15) }), wfp.ErrInvalidCipherTransform},
	{"KeyLength/CBC256Key24", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuthCipher(s, wfp.CipherTransformIDAES256, 24, wfp.AuthTransformIDHMACSHA256128, 32)
	}), wfp.ErrInvalidCipherTransform},
	{"KeyLength/DESKey7", 0, oneSA(func(s uint32) wfp.IPsecSA0 { return saCipher(s, wfp.CipherTransformIDCBCDES, 7) }), wfp.ErrInvalidCipherTransform},
	{"KeyLength/3DESKey16", 0, oneSA(func(s uint32) wfp.IPsecSA0 { return saCipher(s, wfp.CipherTransformIDCBC3DES, 16) }), wfp.ErrInvalidCipherTransform},
	{"KeyLength/GCM128WithoutSalt", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuthCipher(s, wfp.CipherTransformIDGCMAES128, 16, wfp.AuthTransformIDGCMAES128, 0)
	}), wfp.ErrInvalidCipherTransform},
	{"KeyLength/GCM256Key20", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuthCipher(s, wfp.CipherTransformIDGCMAES256, 20, wfp.AuthTransformIDGCMAES256, 0)
	}), wfp.ErrInvalidCipherTransform},
	{"KeyLength/GCMWithAuthKey", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuthCipher(s, wfp.CipherTransformIDGCMAES128, 20, wfp.AuthTransformIDGCMAES128, 20)
	}), wfp.ErrInvalidAuthTransform},
	{"KeyLength/CBCWithShortHMACKey", 0, oneSA(func(s uint32) wfp.IPsecSA0 {
		return saAuthCipher(s, wfp.CipherTransformIDAES128, 16, wfp.AuthTransformIDHMACSHA256128, 16)
	}), wfp.ErrInvalidAuthTransform},
}

func (s *suite) bundleErrors(t *testing.T) {
	for _, dir := range []wfp.Direction{wfp.DirectionInbound, wfp.DirectionOutbound} {
		state := wfp.SAContextSPISet
		name := "AddInbound1Errors/"
		add := func(api wfp.API, c *sactx, b *wfp.IPsecSABundle1) error {
			return api.IPsecSaContextAddInbound1(c.id, b)
		}
		base := func(c *sactx) (*wfp.IPsecSABundle1, uint32) { return c.inboundBundle(), c.spi }
		if dir == wfp.DirectionOutbound {
			state = wfp.SAContextInboundAdded
			name = "AddOutbound1Errors/"
			add = func(api wfp.API, c *sactx, b *wfp.IPsecSABundle1) error {
				return api.IPsecSaContextAddOutbound1(c.id, b)
			}
			base = func(c *sactx) (*wfp.IPsecSABundle1, uint32) { return c.outbound.Clone(), c.outbound.SAList[0].SPI }
		}
		cases := []ctxCase{{name: "Nil", state: state, v: wfp.IPVersionV4, want: wfp.ErrNullPointer,
			call: func(_ *testing.T, fx *fixture, c *sactx) error { return add(fx.api, c, nil) }}}
		for _, bc := range bundleCases {
			v := bc.v
			if v == 0 {
				v = wfp.IPVersionV4
			}
			cases = append(cases, ctxCase{name: bc.name, state: state, v: v, want: bc.want,
				call: func(_ *testing.T, fx *fixture, c *sactx) error {
					b, spi := base(c)
					bc.mod(b, spi)
					return add(fx.api, c, b)
				}})
		}
		if dir == wfp.DirectionInbound {
			cases = append(cases,
				ctxCase{name: "WrongSPI", state: state, v: wfp.IPVersionV4, want: wfp.ErrInvalidParameter,
					call: func(_ *testing.T, fx *fixture, c *sactx) error {
						b := c.inboundBundle()
						b.SAList[0].SPI = c.spi ^ 0x00010000
						return add(fx.api, c, b)
					}},
				ctxCase{name: "AHAndESPSecondWrongSPI", state: state, v: wfp.IPVersionV6, want: wfp.ErrInvalidParameter,
					call: func(_ *testing.T, fx *fixture, c *sactx) error {
						b := AHESPBundle(wfp.IPVersionV6, c.spi, TestKey(20, 1), TestKey(32, 2))
						b.SAList[1].SPI = c.spi ^ 0x00010000
						return add(fx.api, c, b)
					}},
			)
		} else {
			for _, spi := range []uint32{0, 1, 255} {
				cases = append(cases, ctxCase{name: "SPIOutOfBounds/" + hexName(spi), state: state, v: wfp.IPVersionV4, want: wfp.ErrOutOfBounds,
					call: func(_ *testing.T, fx *fixture, c *sactx) error {
						b := c.outbound.Clone()
						b.SAList[0].SPI = spi
						return add(fx.api, c, b)
					}})
			}
			cases = append(cases, ctxCase{name: "QMSAIDDiffers", state: state, v: wfp.IPVersionV4, want: wfp.ErrInvalidParameter,
				call: func(_ *testing.T, fx *fixture, c *sactx) error {
					b := c.outbound.Clone()
					b.QMSAID = c.inbound.QMSAID + 1
					return add(fx.api, c, b)
				}})
		}
		s.runCtxCases(t, name, cases)
	}

	// The version 0 functions validate the same way.
	s.runCtxCases(t, "AddBundle0Errors/", []ctxCase{
		{name: "Inbound/Nil", state: wfp.SAContextSPISet, v: wfp.IPVersionV4, want: wfp.ErrNullPointer,
			call: func(_ *testing.T, fx *fixture, c *sactx) error { return fx.api.IPsecSaContextAddInbound0(c.id, nil) }},
		{name: "Inbound/ZeroSAs", state: wfp.SAContextSPISet, v: wfp.IPVersionV4, want: wfp.ErrZeroLengthArray,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				return fx.api.IPsecSaContextAddInbound0(c.id, &wfp.IPsecSABundle0{IPVersion: wfp.IPVersionV4})
			}},
		{name: "Inbound/WrongSPI", state: wfp.SAContextSPISet, v: wfp.IPVersionV4, want: wfp.ErrInvalidParameter,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				b := GCMBundle(wfp.IPVersionV4, c.spi+1, TestKey(20, 1)).ToBundle0()
				return fx.api.IPsecSaContextAddInbound0(c.id, &b)
			}},
		{name: "Outbound/Nil", state: wfp.SAContextInboundAdded, v: wfp.IPVersionV4, want: wfp.ErrNullPointer,
			call: func(_ *testing.T, fx *fixture, c *sactx) error { return fx.api.IPsecSaContextAddOutbound0(c.id, nil) }},
		{name: "Outbound/SPI255", state: wfp.SAContextInboundAdded, v: wfp.IPVersionV4, want: wfp.ErrOutOfBounds,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				b := c.outbound.ToBundle0()
				b.SAList = []wfp.IPsecSA0{GCMSA(255, TestKey(20, 3))}
				return fx.api.IPsecSaContextAddOutbound0(c.id, &b)
			}},
		{name: "Outbound/KeyLength", state: wfp.SAContextInboundAdded, v: wfp.IPVersionV4, want: wfp.ErrInvalidCipherTransform,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				b := c.outbound.ToBundle0()
				b.SAList = []wfp.IPsecSA0{GCMSA(0x1000, TestKey(17, 3))}
				return fx.api.IPsecSaContextAddOutbound0(c.id, &b)
			}},
	})
}

func (s *suite) transforms(t *testing.T) {
	for _, tr := range validTransforms {
		s.run(t, "Transforms/"+tr.name, func(t *testing.T) {
			fx := s.fixture(t)
			c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)
			c.inbound = Bundle(wfp.IPVersionV4, 9, tr.sas(c.spi)...)
			c.outbound = Bundle(wfp.IPVersionV4, 9, tr.sas(0x3000)...)
			c.addInbound(t, fx.api)
			c.addOutbound(t, fx.api)
			if d := diffCtx(fx.wantContext(t, c, wfp.SAContextOutboundAdded), get(t, fx.api, c.id)); d != "" {
				t.Errorf("GetById1 (-want +got):\n%s", d)
			}
		})
	}

	s.run(t, "BundleMembersRoundTrip", func(t *testing.T) {
		fx := s.fixture(t)
		for _, v := range []wfp.IPVersion{wfp.IPVersionV4, wfp.IPVersionV6} {
			c := fx.ctxAt(t, fx.api, v, wfp.SAContextSPISet)
			fill := func(b *wfp.IPsecSABundle1, seed uint32) {
				b.Flags = wfp.SABundleFlagNDSecure | wfp.SABundleFlagClearDFOnTunnel | wfp.SABundleFlagTunnelBandwidth4
				b.Lifetime = wfp.IPsecSALifetime0{LifetimeSeconds: 3600, LifetimeKilobytes: 100000, LifetimePackets: 1 << 30}
				b.IdleTimeoutSeconds = 300
				b.NDAllowClearTimeoutSeconds = 10
				b.IPsecID = &wfp.IPsecID0{MMTargetName: "mm", EMTargetName: "em",
					Tokens:              []wfp.IPsecToken0{{Type: wfp.TokenTypeImpersonation, Principal: wfp.TokenPrincipalPeer, Mode: wfp.TokenModeExtended, Token: 42}},
					ExplicitCredentials: 7, LogonID: 8}
				b.NAPContext = seed
				b.KeyModuleState = &wfp.IPsecKeyModuleState0{KeyModuleKey: wfp.GUID(wfp.KeyingModuleIKEv2), StateBlob: []byte("state")}
				b.MMSAID = uint64(seed) << 32
				b.PFSGroup = wfp.PFS24
				b.SALookupContext = wfp.NewGUID()
				b.QMFilterID = 77
				if v == wfp.IPVersionV4 {
					b.PeerV4PrivateAddress = wfp.MustV4("10.9.8.7")
				}
			}
			fill(c.inbound, 1)
			fill(c.outbound, 2)
			c.addInbound(t, fx.api)
			c.addOutbound(t, fx.api)
			if d := diffCtx(fx.wantContext(t, c, wfp.SAContextOutboundAdded), get(t, fx.api, c.id)); d != "" {
				t.Errorf("%v: GetById1 (-want +got):\n%s", v, d)
			}
		}
		// Zero lifetimes mean no limit and an idle timeout needs no lifetime.
		c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, wfp.SAContextSPISet)
		c.inbound.IdleTimeoutSeconds = 100000
		c.addInbound(t, fx.api)
	})
}

// stateTable checks every state-dependent function in every state.
func (s *suite) stateTable(t *testing.T) {
	type fn struct {
		name string
		call func(fx *fixture, c *sactx) error
		// ok lists the states the call succeeds in; next is the state
		// after success (0: the context is gone; 255: unchanged).
		ok   map[wfp.SAContextState]wfp.SAContextState
		fail wfp.Error
	}
	const same = 255
	spiOr := func(c *sactx) uint32 {
		if c.spi == 0 {
			return 0x4242
		}
		return c.spi
	}
	fns := []fn{
		{"GetSpi1", func(fx *fixture, c *sactx) error {
			spi, err := fx.api.IPsecSaContextGetSpi1(c.id, c.getSpi)
			if err == nil && c.spi != 0 && spi != c.spi {
				return wfp.Errorf(wfp.ErrInternal, "repeated GetSpi returned %#x, not %#x", spi, c.spi)
			}
			return err
		}, map[wfp.SAContextState]wfp.SAContextState{wfp.SAContextCreated: wfp.SAContextSPISet, wfp.SAContextSPISet: same,
			wfp.SAContextInboundAdded: same, wfp.SAContextOutboundAdded: same}, wfp.ErrIncompatibleSAState},
		{"SetSpi0New", func(fx *fixture, c *sactx) error { return fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, 0x00DDDDDD) },
			map[wfp.SAContextState]wfp.SAContextState{wfp.SAContextCreated: wfp.SAContextSPISet}, wfp.ErrIncompatibleSAState},
		{"SetSpi0Same", func(fx *fixture, c *sactx) error { return fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, spiOr(c)) },
			map[wfp.SAContextState]wfp.SAContextState{wfp.SAContextCreated: wfp.SAContextSPISet, wfp.SAContextSPISet: same}, wfp.ErrIncompatibleSAState},
		{"AddInbound1", func(fx *fixture, c *sactx) error {
			b := c.inbound.Clone()
			b.SAList[0].SPI = spiOr(c)
			return fx.api.IPsecSaContextAddInbound1(c.id, b)
		}, map[wfp.SAContextState]wfp.SAContextState{wfp.SAContextSPISet: wfp.SAContextInboundAdded}, wfp.ErrIncompatibleSAState},
		{"AddOutbound1", func(fx *fixture, c *sactx) error { return fx.api.IPsecSaContextAddOutbound1(c.id, c.outbound.Clone()) },
			map[wfp.SAContextState]wfp.SAContextState{wfp.SAContextInboundAdded: wfp.SAContextOutboundAdded}, wfp.ErrIncompatibleSAState},
		{"Update0Inbound", func(fx *fixture, c *sactx) error {
			return fx.api.IPsecSaContextUpdate0(wfp.SABundleUpdateNAPContext, &wfp.IPsecSAContext1{SAContextID: c.id,
				InboundSA: &wfp.IPsecSADetails1{SABundle: wfp.IPsecSABundle1{NAPContext: 3}}})
		}, map[wfp.SAContextState]wfp.SAContextState{wfp.SAContextInboundAdded: same, wfp.SAContextOutboundAdded: same}, wfp.ErrIncompatibleSAState},
		{"Update0Outbound", func(fx *fixture, c *sactx) error {
			return fx.api.IPsecSaContextUpdate0(wfp.SABundleUpdateNAPContext, &wfp.IPsecSAContext1{SAContextID: c.id,
				OutboundSA: &wfp.IPsecSADetails1{SABundle: wfp.IPsecSABundle1{NAPContext: 3}}})
		}, map[wfp.SAContextState]wfp.SAContextState{wfp.SAContextOutboundAdded: same}, wfp.ErrIncompatibleSAState},
		{"Expire0", func(fx *fixture, c *sactx) error { return fx.api.IPsecSaContextExpire0(c.id) },
			map[wfp.SAContextState]wfp.SAContextState{wfp.SAContextCreated: 0, wfp.SAContextSPISet: 0,
				wfp.SAContextInboundAdded: wfp.SAContextExpired, wfp.SAContextOutboundAdded: wfp.SAContextExpired}, wfp.ErrIncompatibleSAState},
		{"DeleteById0", func(fx *fixture, c *sactx) error { return fx.api.IPsecSaContextDeleteById0(c.id) },
			map[wfp.SAContextState]wfp.SAContextState{wfp.SAContextCreated: 0, wfp.SAContextSPISet: 0,
				wfp.SAContextInboundAdded: 0, wfp.SAContextOutboundAdded: 0, wfp.SAContextExpired: 0}, 0},
		{"GetById0", func(fx *fixture, c *sactx) error { _, err := fx.api.IPsecSaContextGetById0(c.id); return err },
			map[wfp.SAContextState]wfp.SAContextState{wfp.SAContextCreated: same, wfp.SAContextSPISet: same,
				wfp.SAContextInboundAdded: same, wfp.SAContextOutboundAdded: same, wfp.SAContextExpired: same}, 0},
	}
	var failing []ctxCase
	for _, f := range fns {
		for _, st := range allStates {
			next, ok := f.ok[st]
			if !ok {
				failing = append(failing, ctxCase{name: f.name + "/" + st.String(), state: st, v: wfp.IPVersionV4, want: f.fail,
					call: func(_ *testing.T, fx *fixture, c *sactx) error { return f.call(fx, c) }})
				continue
			}
			s.run(t, "States/"+f.name+"/"+st.String(), func(t *testing.T) {
				fx := s.fixture(t)
				r, _ := subscribe(t, fx.api, nil)
				c := fx.ctxAt(t, fx.api, wfp.IPVersionV4, st)
				fx.sync1(t, r)
				mustOK(t, f.call(fx, c), "%s in %v", f.name, st)
				switch next {
				case 0:
					wantGone(t, fx.api, c.id)
					wantEvents(t, fx.sync1(t, r), []wfp.IPsecSAContextChange0{del(c.id)}, f.name)
				case same:
					wantState(t, fx.api, c.id, st)
					wantEvents(t, fx.sync1(t, r), nil, f.name)
				default:
					wantState(t, fx.api, c.id, next)
					wantEvents(t, fx.sync1(t, r), nil, f.name)
				}
			})
		}
	}
	s.runCtxCases(t, "States/", failing)
}

// notFound calls every function that takes a context id with ids that
// name no context.
func (s *suite) notFound(t *testing.T) {
	var cases []ctxCase
	for _, id := range []uint64{0, 424242} {
		calls := []apiCall{
			{"GetSpi0", nil}, {"GetSpi1", nil}, {"SetSpi0", nil}, {"AddInbound0", nil}, {"AddInbound1", nil},
			{"AddOutbound0", nil}, {"AddOutbound1", nil}, {"Update0", nil}, {"Expire0", nil}, {"DeleteById0", nil},
			{"GetById0", nil}, {"GetById1", nil},
		}
		for _, call := range calls {
			name := call.name
			cases = append(cases, ctxCase{name: name + "/" + hexName(uint32(id)), state: wfp.SAContextOutboundAdded, v: wfp.IPVersionV4, want: wfp.ErrNotFound,
				call: func(_ *testing.T, fx *fixture, c *sactx) error {
					in := GCMBundle(wfp.IPVersionV4, 0x5555, TestKey(20, 1))
					in0 := in.ToBundle0()
					gs0 := &wfp.IPsecGetSPI0{InboundIPsecTraffic: c.getSpi.InboundIPsecTraffic.ToTraffic0(), IPVersion: wfp.IPVersionV4}
					switch name {
					case "GetSpi0":
						_, err := fx.api.IPsecSaContextGetSpi0(id, gs0)
						return err
					case "GetSpi1":
						_, err := fx.api.IPsecSaContextGetSpi1(id, c.getSpi)
						return err
					case "SetSpi0":
						return fx.api.IPsecSaContextSetSpi0(id, c.getSpi, 0x5555)
					case "AddInbound0":
						return fx.api.IPsecSaContextAddInbound0(id, &in0)
					case "AddInbound1":
						return fx.api.IPsecSaContextAddInbound1(id, in)
					case "AddOutbound0":
						return fx.api.IPsecSaContextAddOutbound0(id, &in0)
					case "AddOutbound1":
						return fx.api.IPsecSaContextAddOutbound1(id, in)
					case "Update0":
						return fx.api.IPsecSaContextUpdate0(wfp.SABundleUpdateNAPContext, &wfp.IPsecSAContext1{SAContextID: id,
							InboundSA: &wfp.IPsecSADetails1{SABundle: wfp.IPsecSABundle1{NAPContext: 3}}})
					case "Expire0":
						return fx.api.IPsecSaContextExpire0(id)
					case "DeleteById0":
						return fx.api.IPsecSaContextDeleteById0(id)
					case "GetById0":
						_, err := fx.api.IPsecSaContextGetById0(id)
						return err
					default:
						_, err := fx.api.IPsecSaContextGetById1(id)
						return err
					}
				}})
		}
	}
	s.runCtxCases(t, "NotFound/", cases)
}

// checkOrder checks the order of checks of docs/semantics.md section 1
// where one call has two problems.
func (s *suite) checkOrder(t *testing.T) {
	s.runCtxCases(t, "CheckOrder/", []ctxCase{
		{name: "ArgumentsBeforeObjects/GetSpi", state: wfp.SAContextCreated, v: wfp.IPVersionV4, want: wfp.ErrNullPointer,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				_, err := fx.api.IPsecSaContextGetSpi1(c.id+1000, nil)
				return err
			}},
		{name: "ArgumentsBeforeObjects/AddInbound", state: wfp.SAContextCreated, v: wfp.IPVersionV4, want: wfp.ErrZeroLengthArray,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				return fx.api.IPsecSaContextAddInbound1(c.id+1000, &wfp.IPsecSABundle1{IPVersion: wfp.IPVersionV4})
			}},
		{name: "ArgumentsBeforeObjects/Filter", state: wfp.SAContextCreated, v: wfp.IPVersionV4, want: wfp.ErrInvalidParameter,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				g := *c.getSpi
				g.InboundIPsecTraffic.IPsecFilterID = 0xDEAD
				g.InboundIPsecTraffic.RemoteV4Address = wfp.MustV4("224.1.1.1")
				_, err := fx.api.IPsecSaContextGetSpi1(c.id, &g)
				return err
			}},
		{name: "ArgumentsBeforeState/SetSpi", state: wfp.SAContextInboundAdded, v: wfp.IPVersionV4, want: wfp.ErrOutOfBounds,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				return fx.api.IPsecSaContextSetSpi0(c.id, c.getSpi, 5)
			}},
		{name: "ArgumentsBeforeState/AddInbound", state: wfp.SAContextCreated, v: wfp.IPVersionV4, want: wfp.ErrInvalidEnumerator,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				b := GCMBundle(wfp.IPVersionV4, 0x4242, TestKey(20, 1))
				b.SAList[0].SATransformType = 0
				return fx.api.IPsecSaContextAddInbound1(c.id, b)
			}},
		{name: "ArgumentsBeforeState/AddOutbound", state: wfp.SAContextOutboundAdded, v: wfp.IPVersionV4, want: wfp.ErrOutOfBounds,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				return fx.api.IPsecSaContextAddOutbound1(c.id, GCMBundle(wfp.IPVersionV4, 17, TestKey(20, 1)))
			}},
		{name: "ObjectsBeforeState/GetSpiUnknownFilterOnExpired", state: wfp.SAContextExpired, v: wfp.IPVersionV4, want: wfp.ErrFilterNotFound,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				g := *c.getSpi
				g.InboundIPsecTraffic.IPsecFilterID = 0xDEAD
				_, err := fx.api.IPsecSaContextGetSpi1(c.id, &g)
				return err
			}},
		{name: "StateBeforeConsistency/GetSpiMismatchOnExpired", state: wfp.SAContextExpired, v: wfp.IPVersionV4, want: wfp.ErrIncompatibleSAState,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				g := *c.getSpi
				g.InboundIPsecTraffic = TransportTraffic(PeerA4, netip4("192.0.2.3"), fx.f4.in)
				_, err := fx.api.IPsecSaContextGetSpi1(c.id, &g)
				return err
			}},
		{name: "StateBeforeConsistency/AddInboundWrongSPIOnCreated", state: wfp.SAContextCreated, v: wfp.IPVersionV4, want: wfp.ErrIncompatibleSAState,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				return fx.api.IPsecSaContextAddInbound1(c.id, GCMBundle(wfp.IPVersionV4, 0x4242, TestKey(20, 1)))
			}},
		{name: "StateBeforeConsistency/AddOutboundQMSAIDOnSPISet", state: wfp.SAContextSPISet, v: wfp.IPVersionV4, want: wfp.ErrIncompatibleSAState,
			call: func(_ *testing.T, fx *fixture, c *sactx) error {
				b := c.outbound.Clone()
				b.QMSAID = 999
				return fx.api.IPsecSaContextAddOutbound1(c.id, b)
			}},
	})
}
