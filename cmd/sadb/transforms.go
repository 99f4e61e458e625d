package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sadb-dev/sadb/wfp"
)

// Transform names map onto WFP transforms:
//
//	esp-gcm-128|192|256              ESP_AUTH_AND_CIPHER, AES-GCM (cipher key = AES key + 4-byte salt)
//	esp-CIPHER-HMAC                  ESP_AUTH_AND_CIPHER, CBC cipher + HMAC
//	esp-CIPHER-null                  ESP_CIPHER, CBC cipher without integrity
//	esp-null-HMAC, esp-gmac-N        ESP_AUTH, integrity only
//	esp-fw-HMAC, esp-fw-gmac-N       ESP_AUTH_FW
//	ah-HMAC, ah-gmac-N               AH
//	ESP+AH                           a bundle of two: index 0 ESP, index 1 AH
//
// where CIPHER is aes-128, aes-192, aes-256, 3des or des and HMAC is sha1,
// sha256 or md5. DES, 3DES and MD5 are WFP transforms the engine stores; a
// data path may refuse them (RFC 8221).

// saSpec is one SA of a transform: its WFP transform type and ids and the
// keys it takes.
type saSpec struct {
	name       string
	typ        wfp.TransformType
	cipher     wfp.IPsecCipherTransformID0 // used when cipherLen > 0 or gcm
	hasCipher  bool
	auth       wfp.IPsecAuthTransformID0
	hasAuth    bool
	cipherLen  int    // bytes of cipher key
	authLen    int    // bytes of auth key; 0: none (GCM)
	cipherNote string // what the cipher key is made of
	authNote   string // what the auth key is made of
}

// transform is what --transform names: one SA, or ESP and AH.
type transform struct {
	name string
	sas  []saSpec
}

// hmacAlg is an HMAC integrity algorithm.
type hmacAlg struct {
	name string
	id   wfp.IPsecAuthTransformID0
	n    int
	note string
}

// hmacAlgs lists the HMAC algorithms by name.
func hmacAlgs() []hmacAlg {
	return []hmacAlg{
		{"sha1", wfp.AuthTransformIDHMACSHA196, 20, "HMAC-SHA-1-96 key"},
		{"sha256", wfp.AuthTransformIDHMACSHA256128, 32, "HMAC-SHA-256-128 key"},
		{"md5", wfp.AuthTransformIDHMACMD596, 16, "HMAC-MD5-96 key"},
	}
}

// gcmSize is one AES key size of GCM and GMAC.
type gcmSize struct {
	bits   int
	cipher wfp.IPsecCipherTransformID0
	auth   wfp.IPsecAuthTransformID0
}

// gcmSizes lists the AES key sizes of GCM and GMAC.
func gcmSizes() []gcmSize {
	return []gcmSize{
		{128, wfp.CipherTransformIDGCMAES128, wfp.AuthTransformIDGCMAES128},
		{192, wfp.CipherTransformIDGCMAES192, wfp.AuthTransformIDGCMAES192},
		{256, wfp.CipherTransformIDGCMAES256, wfp.AuthTransformIDGCMAES256},
	}
}

// saSpecs lists every one-SA transform.
func saSpecs() []saSpec {
	var out []saSpec
	cbc := []struct {
		name string
		id   wfp.IPsecCipherTransformID0
		n    int
		note string
	}{
		{"aes-128", wfp.CipherTransformIDAES128, 16, "AES-128-CBC key"},
		{"aes-192", wfp.CipherTransformIDAES192, 24, "AES-192-CBC key"},
		{"aes-256", wfp.CipherTransformIDAES256, 32, "AES-256-CBC key"},
		{"3des", wfp.CipherTransformIDCBC3DES, 24, "3DES-CBC key"},
		{"des", wfp.CipherTransformIDCBCDES, 8, "DES-CBC key"},
	}
	for _, g := range gcmSizes() {
		out = append(out, saSpec{
			name: fmt.Sprintf("esp-gcm-%d", g.bits), typ: wfp.TransformESPAuthAndCipher,
			cipher: g.cipher, hasCipher: true, auth: g.auth, hasAuth: true,
			cipherLen: g.bits/8 + 4, cipherNote: fmt.Sprintf("%d-byte AES key + 4-byte salt", g.bits/8),
		})
	}
	for _, c := range cbc {
		for _, h := range hmacAlgs() {
			out = append(out, saSpec{
				name: "esp-" + c.name + "-" + h.name, typ: wfp.TransformESPAuthAndCipher,
				cipher: c.id, hasCipher: true, auth: h.id, hasAuth: true,
				cipherLen: c.n, cipherNote: c.note, authLen: h.n, authNote: h.note,
			})
		}
		out = append(out, saSpec{
			name: "esp-" + c.name + "-null", typ: wfp.TransformESPCipher,
			cipher: c.id, hasCipher: true, cipherLen: c.n, cipherNote: c.note,
		})
	}
	authOnly := func(prefix string, typ wfp.TransformType) {
		for _, h := range hmacAlgs() {
			name := prefix + h.name
			if typ == wfp.TransformESPAuth {
				name = prefix + "null-" + h.name
			}
			out = append(out, saSpec{name: name, typ: typ, auth: h.id, hasAuth: true, authLen: h.n, authNote: h.note})
		}
		for _, g := range gcmSizes() {
			out = append(out, saSpec{
				name: fmt.Sprintf("%sgmac-%d", prefix, g.bits), typ: typ, auth: g.auth, hasAuth: true,
				authLen: g.bits/8 + 4, authNote: fmt.Sprintf("%d-byte AES key + 4-byte salt", g.bits/8),
			})
		}
	}
	authOnly("esp-", wfp.TransformESPAuth)
	authOnly("esp-fw-", wfp.TransformESPAuthFW)
	authOnly("ah-", wfp.TransformAH)
	return out
}

// transformNames lists the one-SA transform names, sorted.
func transformNames() []string {
	var names []string
	for _, s := range saSpecs() {
		names = append(names, s.name)
	}
	sort.Strings(names)
	return names
}

// parseTransform resolves a --transform name: one SA, or "ESP+AH".
func parseTransform(name string) (*transform, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	parts := strings.Split(name, "+")
	if len(parts) > 2 {
		return nil, usagef("--transform %q: a bundle has at most two SAs (ESP+AH)", name)
	}
	t := &transform{name: name}
	for _, p := range parts {
		s, ok := findSASpec(p)
		if !ok {
			return nil, usagef("--transform %q: unknown transform %q; names are like esp-gcm-256, esp-aes-256-sha256, esp-null-sha256, ah-sha256 (all in --help)",
				name, p)
		}
		t.sas = append(t.sas, s)
	}
	if len(t.sas) == 2 {
		if !t.sas[0].typ.IsESP() || t.sas[1].typ != wfp.TransformAH {
			return nil, usagef("--transform %q: a bundle of two is an ESP transform then an AH transform, e.g. esp-aes-256-sha256+ah-sha256", name)
		}
	}
	return t, nil
}

// findSASpec looks up a one-SA transform by name.
func findSASpec(name string) (saSpec, bool) {
	for _, s := range saSpecs() {
		if s.name == name {
			return s, true
		}
	}
	return saSpec{}, false
}

// saName names the transform of one SA as --transform would, or describes
// it in WFP's terms when no name matches.
func saName(sa *wfp.IPsecSA0) string {
	cipher, auth, hasCipher, hasAuth := saTransformIDs(sa)
	for _, s := range saSpecs() {
		if s.typ != sa.SATransformType || s.hasCipher != hasCipher || s.hasAuth != hasAuth {
			continue
		}
		if (!s.hasCipher || s.cipher == cipher) && (!s.hasAuth || s.auth == auth) {
			return s.name
		}
	}
	parts := []string{trimEnum(sa.SATransformType.String(), "IPSEC_TRANSFORM_")}
	if hasCipher {
		parts = append(parts, cipher.String())
	}
	if hasAuth {
		parts = append(parts, auth.String())
	}
	return strings.ToLower(strings.Join(parts, "/"))
}

// bundleName names the transform of an SA list ("esp-gcm-256",
// "esp-aes-128-sha256+ah-sha256").
func bundleName(sas []wfp.IPsecSA0) string {
	names := make([]string, len(sas))
	for i := range sas {
		names[i] = saName(&sas[i])
	}
	return strings.Join(names, "+")
}

// saTransformIDs returns the transform ids an SA carries.
func saTransformIDs(sa *wfp.IPsecSA0) (cipher wfp.IPsecCipherTransformID0, auth wfp.IPsecAuthTransformID0, hasCipher, hasAuth bool) {
	switch sa.SATransformType {
	case wfp.TransformAH:
		if sa.AHInformation != nil {
			return cipher, sa.AHInformation.AuthTransform.AuthTransformID, false, true
		}
	case wfp.TransformESPAuth:
		if sa.ESPAuthInformation != nil {
			return cipher, sa.ESPAuthInformation.AuthTransform.AuthTransformID, false, true
		}
	case wfp.TransformESPAuthFW:
		if sa.ESPAuthFWInformation != nil {
			return cipher, sa.ESPAuthFWInformation.AuthTransform.AuthTransformID, false, true
		}
	case wfp.TransformESPCipher:
		if sa.ESPCipherInformation != nil {
			return sa.ESPCipherInformation.CipherTransform.CipherTransformID, auth, true, false
		}
	case wfp.TransformESPAuthAndCipher:
		if i := sa.ESPAuthAndCipherInformation; i != nil {
			return i.SACipherInformation.CipherTransform.CipherTransformID, i.SAAuthInformation.AuthTransform.AuthTransformID, true, true
		}
	}
	return cipher, auth, false, false
}

// saKeys returns the key blobs an SA carries (empty when not present).
func saKeys(sa *wfp.IPsecSA0) (cipherKey, authKey wfp.Key) {
	switch sa.SATransformType {
	case wfp.TransformAH:
		if sa.AHInformation != nil {
			return nil, sa.AHInformation.AuthKey
		}
	case wfp.TransformESPAuth:
		if sa.ESPAuthInformation != nil {
			return nil, sa.ESPAuthInformation.AuthKey
		}
	case wfp.TransformESPAuthFW:
		if sa.ESPAuthFWInformation != nil {
			return nil, sa.ESPAuthFWInformation.AuthKey
		}
	case wfp.TransformESPCipher:
		if sa.ESPCipherInformation != nil {
			return sa.ESPCipherInformation.CipherKey, nil
		}
	case wfp.TransformESPAuthAndCipher:
		if i := sa.ESPAuthAndCipherInformation; i != nil {
			return i.SACipherInformation.CipherKey, i.SAAuthInformation.AuthKey
		}
	}
	return nil, nil
}

// keyName is the key-file name of one key of SA i: "cipher" or "auth" for
// a one-SA transform, "esp.cipher", "esp.auth", "ah.auth" in a bundle.
func (t *transform) keyName(i int, kind string) string {
	if len(t.sas) == 1 {
		return kind
	}
	if t.sas[i].typ == wfp.TransformAH {
		return "ah." + kind
	}
	return "esp." + kind
}

// keyNames lists the keys t takes, in key-file order.
func (t *transform) keyNames() []string {
	var names []string
	for i, s := range t.sas {
		if s.cipherLen > 0 {
			names = append(names, t.keyName(i, "cipher"))
		}
		if s.authLen > 0 {
			names = append(names, t.keyName(i, "auth"))
		}
	}
	return names
}

// build returns the SA list of t with SPI spi and keys from ks (see
// keySet.take), checking that ks holds exactly the keys t takes, each of
// the right length.
func (t *transform) build(spi uint32, ks *keySet) ([]wfp.IPsecSA0, error) {
	sas := make([]wfp.IPsecSA0, len(t.sas))
	for i, s := range t.sas {
		var cipherKey, authKey wfp.Key
		var err error
		if s.cipherLen > 0 {
			if cipherKey, err = ks.take(t.keyName(i, "cipher"), s.cipherLen, s.cipherNote, t.name); err != nil {
				return nil, err
			}
		}
		if s.authLen > 0 {
			if authKey, err = ks.take(t.keyName(i, "auth"), s.authLen, s.authNote, t.name); err != nil {
				return nil, err
			}
		}
		sas[i] = s.sa(spi, cipherKey, authKey)
	}
	if err := ks.leftover(t); err != nil {
		return nil, err
	}
	return sas, nil
}

// sa returns the IPSEC_SA0 of s.
func (s *saSpec) sa(spi uint32, cipherKey, authKey wfp.Key) wfp.IPsecSA0 {
	sa := wfp.IPsecSA0{SPI: spi, SATransformType: s.typ}
	authInfo := func() *wfp.IPsecSAAuthInformation0 {
		return &wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: s.auth}, AuthKey: authKey}
	}
	switch s.typ {
	case wfp.TransformAH:
		sa.AHInformation = authInfo()
	case wfp.TransformESPAuth:
		sa.ESPAuthInformation = authInfo()
	case wfp.TransformESPAuthFW:
		sa.ESPAuthFWInformation = authInfo()
	case wfp.TransformESPCipher:
		sa.ESPCipherInformation = &wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: s.cipher}, CipherKey: cipherKey}
	case wfp.TransformESPAuthAndCipher:
		sa.ESPAuthAndCipherInformation = &wfp.IPsecSAAuthAndCipherInformation0{
			SACipherInformation: wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: s.cipher}, CipherKey: cipherKey},
			SAAuthInformation:   *authInfo(),
		}
	}
	return sa
}

// zeroSAs overwrites the key material of sas.
func zeroSAs(sas []wfp.IPsecSA0) {
	for i := range sas {
		c, a := saKeys(&sas[i])
		c.Zero()
		a.Zero()
	}
}
