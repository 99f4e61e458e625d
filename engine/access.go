package engine

import (
	"github.com/sadb-dev/sadb/wfp"
)

// accessCheck reports whether tok is granted every right in desired by sd,
// the way Windows evaluates a DACL: entries in order, a deny entry naming the
// caller refuses the rights it lists, allow entries accumulate, and the owner
// always has READ_CONTROL and WRITE_DAC. A nil DACL grants everything.
func accessCheck(sd *wfp.SecurityDescriptor, tok *wfp.Token, desired wfp.AccessMask) bool {
	if tok.KernelMode {
		return true
	}
	if sd == nil || sd.DACL == nil {
		return true
	}
	var granted wfp.AccessMask
	if sd.Owner != "" && tok.Has(sd.Owner) {
		granted |= wfp.ReadControl | wfp.WriteDAC
	}
	for _, ace := range *sd.DACL {
		if !tok.Has(ace.SID) {
			continue
		}
		switch ace.Type {
		case wfp.AccessDenied:
			if ace.Mask&desired&^granted != 0 {
				return false
			}
		case wfp.AccessAllowed:
			granted |= ace.Mask
		}
		if granted&desired == desired {
			return true
		}
	}
	return granted&desired == desired
}

func denied(object string, tok *wfp.Token, desired wfp.AccessMask) error {
	return wfp.Errorf(wfp.ErrorAccessDenied, "%s is not granted %v on the %s", tok.User, desired, object)
}

// checkEngine checks desired rights on the engine object.
func (s *session) checkEngine(desired wfp.AccessMask) error {
	if accessCheck(s.e.engineSD.Load(), &s.tok, desired) {
		return nil
	}
	return denied("engine", &s.tok, desired)
}

// checkSADB checks desired rights on the IPsec SA database.
func (s *session) checkSADB(desired wfp.AccessMask) error {
	if accessCheck(s.e.sadbSD.Load(), &s.tok, desired) {
		return nil
	}
	return denied("IPsec SA database", &s.tok, desired)
}

// mayReadKeys reports whether this session gets key material back.
func (s *session) mayReadKeys() bool {
	return s.info.Flags&wfp.SessionFlagKeyMaterial != 0 &&
		accessCheck(s.e.sadbSD.Load(), &s.tok, wfp.ActrlReadKeys)
}

// validateSD checks a descriptor given by a caller.
func validateSD(sd *wfp.SecurityDescriptor) error {
	if sd.Owner != "" && !sd.Owner.Valid() {
		return wfp.Errorf(wfp.ErrorInvalidSecurityDescr, "owner %q is not a valid SID", sd.Owner)
	}
	if sd.Group != "" && !sd.Group.Valid() {
		return wfp.Errorf(wfp.ErrorInvalidSecurityDescr, "group %q is not a valid SID", sd.Group)
	}
	if sd.DACL != nil {
		if err := validateACL(*sd.DACL); err != nil {
			return err
		}
	}
	return nil
}

const maxACEs = 1024

func validateACL(acl wfp.ACL) error {
	if len(acl) > maxACEs {
		return wfp.Errorf(wfp.ErrorInvalidSecurityDescr, "the DACL has %d entries; at most %d are allowed", len(acl), maxACEs)
	}
	for i, ace := range acl {
		if ace.Type != wfp.AccessAllowed && ace.Type != wfp.AccessDenied {
			return wfp.Errorf(wfp.ErrorInvalidSecurityDescr, "ACE %d has unknown type %d", i, ace.Type)
		}
		if !ace.SID.Valid() {
			return wfp.Errorf(wfp.ErrorInvalidSecurityDescr, "ACE %d names invalid SID %q", i, ace.SID)
		}
	}
	return nil
}

// normalizeSD returns a private copy of sd with generic rights mapped.
func normalizeSD(sd *wfp.SecurityDescriptor) *wfp.SecurityDescriptor {
	c := sd.Clone()
	if c.DACL != nil {
		for i := range *c.DACL {
			(*c.DACL)[i].Mask = (*c.DACL)[i].Mask.MapGeneric()
		}
	}
	return c
}

// getSecurityInfo implements the Get*SecurityInfo0 functions.
func (s *session) getSecurityInfo(which string, sdOf func() *wfp.SecurityDescriptor, info wfp.SecurityInformation) (*wfp.SecurityDescriptor, error) {
	var out *wfp.SecurityDescriptor
	err := s.run(0, func(tx *txn) error {
		if !accessCheck(sdOf(), &s.tok, wfp.ReadControl) {
			return denied(which, &s.tok, wfp.ReadControl)
		}
		if err := checkSecurityInfo(info); err != nil {
			return err
		}
		sd := sdOf()
		out = &wfp.SecurityDescriptor{}
		if info&wfp.OwnerSecurityInformation != 0 {
			out.Owner = sd.Owner
		}
		if info&wfp.GroupSecurityInformation != 0 {
			out.Group = sd.Group
		}
		if info&wfp.DACLSecurityInformation != 0 && sd.DACL != nil {
			out.DACL = sd.Clone().DACL
		}
		return nil
	})
	return out, err
}

func checkSecurityInfo(info wfp.SecurityInformation) error {
	const valid = wfp.OwnerSecurityInformation | wfp.GroupSecurityInformation | wfp.DACLSecurityInformation
	if info == 0 {
		return wfp.Errorf(wfp.ErrorInvalidParameter, "securityInfo is empty")
	}
	if info&wfp.SACLSecurityInformation != 0 {
		return wfp.Errorf(wfp.ErrorInvalidParameter, "sadb keeps no SACLs")
	}
	if info&^valid != 0 {
		return wfp.Errorf(wfp.ErrorInvalidParameter, "securityInfo 0x%X has undefined bits", uint32(info&^valid))
	}
	return nil
}

// setSecurityInfo implements the Set*SecurityInfo0 functions; kind selects
// the descriptor's undo entry.
func (s *session) setSecurityInfo(which string, kind undoKind, info wfp.SecurityInformation, owner, group *wfp.SID, dacl *wfp.ACL) error {
	return s.run(opWrite|opNoTxn|opNoDynamic, func(tx *txn) error {
		ptr := &s.e.engineSD
		if kind == undoSADBSD {
			ptr = &s.e.sadbSD
		}
		cur := ptr.Load()
		var need wfp.AccessMask
		if info&(wfp.OwnerSecurityInformation|wfp.GroupSecurityInformation) != 0 {
			need |= wfp.WriteOwner
		}
		if info&wfp.DACLSecurityInformation != 0 {
			need |= wfp.WriteDAC
		}
		if need != 0 && !accessCheck(cur, &s.tok, need) {
			return denied(which, &s.tok, need)
		}
		if err := checkSecurityInfo(info); err != nil {
			return err
		}
		next := cur.Clone()
		if info&wfp.OwnerSecurityInformation != 0 {
			if owner == nil || !owner.Valid() {
				return wfp.Errorf(wfp.ErrorInvalidSecurityDescr, "a valid owner SID is required")
			}
			next.Owner = *owner
		}
		if info&wfp.GroupSecurityInformation != 0 {
			if group == nil || !group.Valid() {
				return wfp.Errorf(wfp.ErrorInvalidSecurityDescr, "a valid group SID is required")
			}
			next.Group = *group
		}
		if info&wfp.DACLSecurityInformation != 0 {
			if dacl == nil {
				next.DACL = nil
			} else {
				if err := validateACL(*dacl); err != nil {
					return err
				}
				d := append(wfp.ACL(nil), (*dacl)...)
				next.DACL = &d
			}
		}
		next = normalizeSD(next)
		tx.undo = append(tx.undo, undoEntry{kind: kind, sd: cur})
		ptr.Store(next)
		if s.e.store != nil {
			tx.dirty.sds = true
		}
		return nil
	})
}

func (s *session) FwpmEngineGetSecurityInfo0(info wfp.SecurityInformation) (*wfp.SecurityDescriptor, error) {
	return s.getSecurityInfo("engine", s.e.engineSD.Load, info)
}

func (s *session) FwpmEngineSetSecurityInfo0(info wfp.SecurityInformation, owner, group *wfp.SID, dacl *wfp.ACL) error {
	return s.setSecurityInfo("engine", undoEngineSD, info, owner, group, dacl)
}

func (s *session) IPsecSaDbGetSecurityInfo0(info wfp.SecurityInformation) (*wfp.SecurityDescriptor, error) {
	return s.getSecurityInfo("IPsec SA database", s.e.sadbSD.Load, info)
}

func (s *session) IPsecSaDbSetSecurityInfo0(info wfp.SecurityInformation, owner, group *wfp.SID, dacl *wfp.ACL) error {
	return s.setSecurityInfo("IPsec SA database", undoSADBSD, info, owner, group, dacl)
}
