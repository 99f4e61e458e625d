package wfp

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// GUID is a 128-bit identifier, stored in the byte order of its registry
// form: GUID{0x59, 0x26, ...} is "5926dfc8-...". The zero value is the null
// GUID, which in WFP calls means "none" or "let the engine choose".
type GUID [16]byte

// NewGUID returns a random (version 4) GUID.
func NewGUID() GUID {
	var g GUID
	if _, err := rand.Read(g[:]); err != nil {
		panic("wfp: crypto/rand failed: " + err.Error())
	}
	g[6] = g[6]&0x0F | 0x40
	g[8] = g[8]&0x3F | 0x80
	return g
}

// ParseGUID parses the registry form "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
// with or without surrounding braces.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) == 38 && s[0] == '{' && s[37] == '}' {
		s = s[1:37]
	}
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("wfp: malformed GUID %q", s)
	}
	hexs := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(g[:], []byte(hexs)); err != nil {
		return GUID{}, fmt.Errorf("wfp: malformed GUID %q", s)
	}
	return g, nil
}

// MustParseGUID is ParseGUID for constants; it panics on a malformed string.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// IsZero reports whether g is the null GUID.
func (g GUID) IsZero() bool { return g == GUID{} }

// String returns the registry form in lower case, without braces.
func (g GUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], g[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], g[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], g[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], g[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], g[10:16])
	return string(b[:])
}

// MarshalText implements encoding.TextMarshaler.
func (g GUID) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (g *GUID) UnmarshalText(b []byte) error {
	v, err := ParseGUID(string(b))
	if err != nil {
		return err
	}
	*g = v
	return nil
}

// LayerID identifies a filtering layer (FWPM_LAYER_*).
type LayerID GUID

// SublayerID identifies a sublayer (FWPM_SUBLAYER_*).
type SublayerID GUID

// CalloutID identifies a callout (FWPM_CALLOUT_*).
type CalloutID GUID

// FieldID identifies a filter condition field (FWPM_CONDITION_*).
type FieldID GUID

// ProviderID identifies a policy provider (FWPM_PROVIDER_*).
type ProviderID GUID

// KeyingModuleID identifies a keying module (FWPM_KEYING_MODULE_*).
type KeyingModuleID GUID

func (id LayerID) String() string        { return guidName(GUID(id)) }
func (id SublayerID) String() string     { return guidName(GUID(id)) }
func (id CalloutID) String() string      { return guidName(GUID(id)) }
func (id FieldID) String() string        { return guidName(GUID(id)) }
func (id ProviderID) String() string     { return guidName(GUID(id)) }
func (id KeyingModuleID) String() string { return guidName(GUID(id)) }

func (id LayerID) IsZero() bool        { return GUID(id).IsZero() }
func (id SublayerID) IsZero() bool     { return GUID(id).IsZero() }
func (id CalloutID) IsZero() bool      { return GUID(id).IsZero() }
func (id FieldID) IsZero() bool        { return GUID(id).IsZero() }
func (id ProviderID) IsZero() bool     { return GUID(id).IsZero() }
func (id KeyingModuleID) IsZero() bool { return GUID(id).IsZero() }

func (id LayerID) MarshalText() ([]byte, error)        { return GUID(id).MarshalText() }
func (id SublayerID) MarshalText() ([]byte, error)     { return GUID(id).MarshalText() }
func (id CalloutID) MarshalText() ([]byte, error)      { return GUID(id).MarshalText() }
func (id FieldID) MarshalText() ([]byte, error)        { return GUID(id).MarshalText() }
func (id ProviderID) MarshalText() ([]byte, error)     { return GUID(id).MarshalText() }
func (id KeyingModuleID) MarshalText() ([]byte, error) { return GUID(id).MarshalText() }

func (id *LayerID) UnmarshalText(b []byte) error        { return (*GUID)(id).UnmarshalText(b) }
func (id *SublayerID) UnmarshalText(b []byte) error     { return (*GUID)(id).UnmarshalText(b) }
func (id *CalloutID) UnmarshalText(b []byte) error      { return (*GUID)(id).UnmarshalText(b) }
func (id *FieldID) UnmarshalText(b []byte) error        { return (*GUID)(id).UnmarshalText(b) }
func (id *ProviderID) UnmarshalText(b []byte) error     { return (*GUID)(id).UnmarshalText(b) }
func (id *KeyingModuleID) UnmarshalText(b []byte) error { return (*GUID)(id).UnmarshalText(b) }

// GUIDName returns the symbolic name of a well-known GUID ("FWPM_LAYER_...")
// and whether it is known.
func GUIDName(g GUID) (string, bool) {
	n, ok := wellKnown[g]
	return n, ok
}

// LookupGUID returns the well-known GUID with the given symbolic name.
func LookupGUID(name string) (GUID, bool) {
	g, ok := wellKnownByName[name]
	return g, ok
}

func guidName(g GUID) string {
	if n, ok := wellKnown[g]; ok {
		return n
	}
	return g.String()
}

var (
	wellKnown       = map[GUID]string{}
	wellKnownByName = map[string]GUID{}
)

func known(name, s string) GUID {
	g := MustParseGUID(s)
	wellKnown[g] = name
	wellKnownByName[name] = g
	return g
}
