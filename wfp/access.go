package wfp

import (
	"fmt"
	"strconv"
	"strings"
)

// AccessMask is an ACCESS_MASK: FWPM_ACTRL_* specific rights, standard
// rights and generic rights.
type AccessMask uint32

// WFP-specific access rights (FWPM_ACTRL_*).
const (
	ActrlAdd           AccessMask = 0x00000001 // FWPM_ACTRL_ADD
	ActrlAddLink       AccessMask = 0x00000002 // FWPM_ACTRL_ADD_LINK
	ActrlBeginReadTxn  AccessMask = 0x00000004 // FWPM_ACTRL_BEGIN_READ_TXN
	ActrlBeginWriteTxn AccessMask = 0x00000008 // FWPM_ACTRL_BEGIN_WRITE_TXN
	ActrlClassify      AccessMask = 0x00000010 // FWPM_ACTRL_CLASSIFY
	ActrlEnum          AccessMask = 0x00000020 // FWPM_ACTRL_ENUM
	ActrlOpen          AccessMask = 0x00000040 // FWPM_ACTRL_OPEN
	ActrlRead          AccessMask = 0x00000080 // FWPM_ACTRL_READ
	ActrlReadStats     AccessMask = 0x00000100 // FWPM_ACTRL_READ_STATS
	ActrlSubscribe     AccessMask = 0x00000200 // FWPM_ACTRL_SUBSCRIBE
	ActrlWrite         AccessMask = 0x00000400 // FWPM_ACTRL_WRITE

	// ActrlReadKeys is a sadb extension in the object-specific range: the
	// right to read SA key material back (see SessionFlagKeyMaterial).
	ActrlReadKeys AccessMask = 0x00008000
)

// Standard access rights (winnt.h).
const (
	Delete                 AccessMask = 0x00010000 // DELETE
	ReadControl            AccessMask = 0x00020000 // READ_CONTROL
	WriteDAC               AccessMask = 0x00040000 // WRITE_DAC
	WriteOwner             AccessMask = 0x00080000 // WRITE_OWNER
	Synchronize            AccessMask = 0x00100000 // SYNCHRONIZE
	StandardRightsRequired AccessMask = 0x000F0000 // STANDARD_RIGHTS_REQUIRED
	StandardRightsRead     AccessMask = ReadControl
	StandardRightsWrite    AccessMask = ReadControl
	StandardRightsExecute  AccessMask = ReadControl
)

// Generic rights as they may appear in an ACE; the engine maps them to the
// FWPM_GENERIC_* values when a descriptor is set.
const (
	GenericAll     AccessMask = 0x10000000 // GENERIC_ALL
	GenericExecute AccessMask = 0x20000000 // GENERIC_EXECUTE
	GenericWrite   AccessMask = 0x40000000 // GENERIC_WRITE
	GenericRead    AccessMask = 0x80000000 // GENERIC_READ
)

// FWPM_GENERIC_* mappings.
const (
	FwpmGenericRead    = StandardRightsRead | ActrlBeginReadTxn | ActrlClassify | ActrlOpen | ActrlRead | ActrlReadStats
	FwpmGenericExecute = StandardRightsExecute | ActrlEnum | ActrlSubscribe
	FwpmGenericWrite   = StandardRightsWrite | Delete | ActrlAdd | ActrlAddLink | ActrlBeginWriteTxn | ActrlWrite
	FwpmGenericAll     = StandardRightsRequired | ActrlAdd | ActrlAddLink | ActrlBeginReadTxn | ActrlBeginWriteTxn |
		ActrlClassify | ActrlEnum | ActrlOpen | ActrlRead | ActrlReadStats | ActrlSubscribe | ActrlWrite | ActrlReadKeys
)

// MapGeneric replaces the generic bits of m by the FWPM_GENERIC_* rights
// they stand for.
func (m AccessMask) MapGeneric() AccessMask {
	out := m &^ (GenericAll | GenericExecute | GenericWrite | GenericRead)
	if m&GenericRead != 0 {
		out |= FwpmGenericRead
	}
	if m&GenericWrite != 0 {
		out |= FwpmGenericWrite
	}
	if m&GenericExecute != 0 {
		out |= FwpmGenericExecute
	}
	if m&GenericAll != 0 {
		out |= FwpmGenericAll
	}
	return out
}

var rightNames = []struct {
	m    AccessMask
	name string
}{
	{ActrlAdd, "ADD"}, {ActrlAddLink, "ADD_LINK"}, {ActrlBeginReadTxn, "BEGIN_READ_TXN"},
	{ActrlBeginWriteTxn, "BEGIN_WRITE_TXN"}, {ActrlClassify, "CLASSIFY"}, {ActrlEnum, "ENUM"},
	{ActrlOpen, "OPEN"}, {ActrlRead, "READ"}, {ActrlReadStats, "READ_STATS"},
	{ActrlSubscribe, "SUBSCRIBE"}, {ActrlWrite, "WRITE"}, {ActrlReadKeys, "READ_KEYS"},
	{Delete, "DELETE"}, {ReadControl, "READ_CONTROL"}, {WriteDAC, "WRITE_DAC"},
	{WriteOwner, "WRITE_OWNER"}, {Synchronize, "SYNCHRONIZE"},
	{GenericAll, "GENERIC_ALL"}, {GenericExecute, "GENERIC_EXECUTE"},
	{GenericWrite, "GENERIC_WRITE"}, {GenericRead, "GENERIC_READ"},
}

// String lists the rights by name, joined with "|", e.g. "ADD|DELETE".
func (m AccessMask) String() string {
	if m == 0 {
		return "0"
	}
	var parts []string
	rest := m
	for _, r := range rightNames {
		if m&r.m != 0 {
			parts = append(parts, r.name)
			rest &^= r.m
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%X", uint32(rest)))
	}
	return strings.Join(parts, "|")
}

// ParseAccessMask parses the String form ("ADD|READ", "GENERIC_ALL") or a
// number ("0x81").
func ParseAccessMask(s string) (AccessMask, error) {
	var m AccessMask
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == '|' || r == ',' || r == ' ' }) {
		p = strings.ToUpper(strings.TrimPrefix(strings.TrimPrefix(strings.ToUpper(p), "FWPM_ACTRL_"), "FWPM_"))
		found := false
		for _, r := range rightNames {
			if r.name == p {
				m |= r.m
				found = true
				break
			}
		}
		if found {
			continue
		}
		v, err := strconv.ParseUint(p, 0, 32)
		if err != nil {
			return 0, fmt.Errorf("wfp: unknown access right %q", p)
		}
		m |= AccessMask(v)
	}
	return m, nil
}

// SID is a security identifier: a principal a security descriptor can name.
// sadb uses readable forms:
//
//	uid:N      a Unix user (the caller's uid on the local socket)
//	gid:N      a Unix group (any of the caller's groups)
//	cert:NAME  a TLS client whose certificate identity is NAME
//	everyone   every caller (Windows' Everyone, S-1-1-0)
type SID string

// Everyone matches every caller.
const Everyone SID = "everyone"

// UserSID returns the SID of Unix user uid.
func UserSID(uid uint32) SID { return SID("uid:" + strconv.FormatUint(uint64(uid), 10)) }

// GroupSID returns the SID of Unix group gid.
func GroupSID(gid uint32) SID { return SID("gid:" + strconv.FormatUint(uint64(gid), 10)) }

// CertSID returns the SID of a TLS client identity.
func CertSID(name string) SID { return SID("cert:" + name) }

// Valid reports whether s has one of the forms above.
func (s SID) Valid() bool {
	str := string(s)
	switch {
	case s == Everyone:
		return true
	case strings.HasPrefix(str, "uid:"), strings.HasPrefix(str, "gid:"):
		_, err := strconv.ParseUint(str[4:], 10, 32)
		return err == nil
	case strings.HasPrefix(str, "cert:"):
		return len(str) > 5 && len(str) <= 5+256 && !strings.ContainsAny(str[5:], "\x00\n")
	}
	return false
}

// Token is a caller's identity as the engine sees it (an access token): the
// user, the groups, and whether the caller is trusted like a kernel-mode
// client, for which all access checks are skipped.
type Token struct {
	User       SID
	Groups     []SID
	KernelMode bool
	// ProcessID is the calling process where known (0 otherwise); the
	// engine reports it in FwpmSession0.ProcessID.
	ProcessID uint32
}

// Has reports whether the token carries sid (as user, group, or Everyone).
func (t *Token) Has(sid SID) bool {
	if sid == Everyone || sid == t.User {
		return true
	}
	for _, g := range t.Groups {
		if g == sid {
			return true
		}
	}
	return false
}

// IsAdmin reports whether the token is the built-in administrator (uid:0),
// who can always open the engine.
func (t *Token) IsAdmin() bool { return t.User == UserSID(0) }

func (t Token) String() string {
	s := string(t.User)
	if len(t.Groups) > 0 {
		gs := make([]string, len(t.Groups))
		for i, g := range t.Groups {
			gs[i] = string(g)
		}
		s += " (" + strings.Join(gs, ",") + ")"
	}
	if t.KernelMode {
		s += " [kernel]"
	}
	return s
}

// ACEType is the type of an access-control entry.
type ACEType uint8

const (
	AccessAllowed ACEType = 0 // ACCESS_ALLOWED_ACE_TYPE
	AccessDenied  ACEType = 1 // ACCESS_DENIED_ACE_TYPE
)

func (t ACEType) String() string {
	switch t {
	case AccessAllowed:
		return "allow"
	case AccessDenied:
		return "deny"
	}
	return fmt.Sprintf("ACEType(%d)", uint8(t))
}

// ACE is an access-control entry: allow or deny Mask to SID.
type ACE struct {
	Type ACEType
	Mask AccessMask
	SID  SID
}

// ACL is an access-control list, evaluated in order.
type ACL []ACE

// SecurityDescriptor is a self-relative security descriptor: an owner, a
// primary group and a DACL. A nil DACL grants everything to everyone (as on
// Windows); an empty one grants nothing. SACLs are not kept (WFP ignores them).
type SecurityDescriptor struct {
	Owner SID
	Group SID
	DACL  *ACL
}

// Clone returns a deep copy of sd (nil for nil).
func (sd *SecurityDescriptor) Clone() *SecurityDescriptor {
	if sd == nil {
		return nil
	}
	c := *sd
	if sd.DACL != nil {
		d := make(ACL, len(*sd.DACL))
		copy(d, *sd.DACL)
		c.DACL = &d
	}
	return &c
}

// SecurityInformation is SECURITY_INFORMATION: which parts of a security
// descriptor a Get/SetSecurityInfo call reads or writes.
type SecurityInformation uint32

const (
	OwnerSecurityInformation SecurityInformation = 0x00000001 // OWNER_SECURITY_INFORMATION
	GroupSecurityInformation SecurityInformation = 0x00000002 // GROUP_SECURITY_INFORMATION
	DACLSecurityInformation  SecurityInformation = 0x00000004 // DACL_SECURITY_INFORMATION
	SACLSecurityInformation  SecurityInformation = 0x00000008 // SACL_SECURITY_INFORMATION
)
