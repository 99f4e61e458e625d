package wfp

import "slices"

// The Clone methods return deep copies: nothing in the copy aliases the
// original, key material included.

// Clone returns a deep copy of id (nil for nil).
func (id *IPsecID0) Clone() *IPsecID0 {
	if id == nil {
		return nil
	}
	c := *id
	c.Tokens = slices.Clone(id.Tokens)
	return &c
}

// Clone returns a deep copy of s (nil for nil).
func (s *IPsecKeyModuleState0) Clone() *IPsecKeyModuleState0 {
	if s == nil {
		return nil
	}
	c := *s
	c.StateBlob = slices.Clone(s.StateBlob)
	return &c
}

func cloneGUIDPtr(g *GUID) *GUID {
	if g == nil {
		return nil
	}
	c := *g
	return &c
}

func (a *IPsecSAAuthInformation0) clone() *IPsecSAAuthInformation0 {
	if a == nil {
		return nil
	}
	c := *a
	c.AuthTransform.CryptoModuleID = cloneGUIDPtr(a.AuthTransform.CryptoModuleID)
	c.AuthKey = a.AuthKey.Clone()
	return &c
}

func (ci *IPsecSACipherInformation0) clone() *IPsecSACipherInformation0 {
	if ci == nil {
		return nil
	}
	c := *ci
	c.CipherTransform.CryptoModuleID = cloneGUIDPtr(ci.CipherTransform.CryptoModuleID)
	c.CipherKey = ci.CipherKey.Clone()
	return &c
}

// Clone returns a deep copy of sa.
func (sa *IPsecSA0) Clone() IPsecSA0 {
	c := *sa
	c.AHInformation = sa.AHInformation.clone()
	c.ESPAuthInformation = sa.ESPAuthInformation.clone()
	c.ESPCipherInformation = sa.ESPCipherInformation.clone()
	if sa.ESPAuthAndCipherInformation != nil {
		ac := IPsecSAAuthAndCipherInformation0{
			SACipherInformation: *sa.ESPAuthAndCipherInformation.SACipherInformation.clone(),
			SAAuthInformation:   *sa.ESPAuthAndCipherInformation.SAAuthInformation.clone(),
		}
		c.ESPAuthAndCipherInformation = &ac
	}
	c.ESPAuthFWInformation = sa.ESPAuthFWInformation.clone()
	return c
}

// ZeroKeys overwrites every key of sa with zeros.
func (sa *IPsecSA0) ZeroKeys() {
	for _, a := range []*IPsecSAAuthInformation0{sa.AHInformation, sa.ESPAuthInformation, sa.ESPAuthFWInformation} {
		if a != nil {
			a.AuthKey.Zero()
		}
	}
	if sa.ESPCipherInformation != nil {
		sa.ESPCipherInformation.CipherKey.Zero()
	}
	if ac := sa.ESPAuthAndCipherInformation; ac != nil {
		ac.SACipherInformation.CipherKey.Zero()
		ac.SAAuthInformation.AuthKey.Zero()
	}
}

// StripKeys sets every key of sa to nil (without touching the bytes, which
// may be shared).
func (sa *IPsecSA0) StripKeys() {
	for _, a := range []*IPsecSAAuthInformation0{sa.AHInformation, sa.ESPAuthInformation, sa.ESPAuthFWInformation} {
		if a != nil {
			a.AuthKey = nil
		}
	}
	if sa.ESPCipherInformation != nil {
		sa.ESPCipherInformation.CipherKey = nil
	}
	if ac := sa.ESPAuthAndCipherInformation; ac != nil {
		ac.SACipherInformation.CipherKey = nil
		ac.SAAuthInformation.AuthKey = nil
	}
}

// Clone returns a deep copy of b (nil for nil).
func (b *IPsecSABundle1) Clone() *IPsecSABundle1 {
	if b == nil {
		return nil
	}
	c := *b
	c.IPsecID = b.IPsecID.Clone()
	c.KeyModuleState = b.KeyModuleState.Clone()
	if b.SAList != nil {
		c.SAList = make([]IPsecSA0, len(b.SAList))
		for i := range b.SAList {
			c.SAList[i] = b.SAList[i].Clone()
		}
	}
	return &c
}

// Clone returns a deep copy of v.
func (v *FwpValue0) Clone() FwpValue0 {
	c := *v
	if v.ByteArray16 != nil {
		a := *v.ByteArray16
		c.ByteArray16 = &a
	}
	if v.ByteArray6 != nil {
		a := *v.ByteArray6
		c.ByteArray6 = &a
	}
	c.ByteBlob = slices.Clone(v.ByteBlob)
	c.SD = v.SD.Clone()
	return c
}

// Clone returns a deep copy of v.
func (v *FwpConditionValue0) Clone() FwpConditionValue0 {
	c := FwpConditionValue0{FwpValue0: v.FwpValue0.Clone()}
	if v.V4AddrMask != nil {
		m := *v.V4AddrMask
		c.V4AddrMask = &m
	}
	if v.V6AddrMask != nil {
		m := *v.V6AddrMask
		c.V6AddrMask = &m
	}
	if v.RangeValue != nil {
		r := FwpRange0{ValueLow: v.RangeValue.ValueLow.Clone(), ValueHigh: v.RangeValue.ValueHigh.Clone()}
		c.RangeValue = &r
	}
	return c
}

// Clone returns a deep copy of f (nil for nil).
func (f *FwpmFilter0) Clone() *FwpmFilter0 {
	if f == nil {
		return nil
	}
	c := *f
	if f.ProviderKey != nil {
		p := *f.ProviderKey
		c.ProviderKey = &p
	}
	c.ProviderData = slices.Clone(f.ProviderData)
	c.Weight = f.Weight.Clone()
	c.EffectiveWeight = f.EffectiveWeight.Clone()
	c.Reserved = cloneGUIDPtr(f.Reserved)
	if f.FilterCondition != nil {
		c.FilterCondition = make([]FwpmFilterCondition0, len(f.FilterCondition))
		for i := range f.FilterCondition {
			c.FilterCondition[i] = FwpmFilterCondition0{
				FieldKey:       f.FilterCondition[i].FieldKey,
				MatchType:      f.FilterCondition[i].MatchType,
				ConditionValue: f.FilterCondition[i].ConditionValue.Clone(),
			}
		}
	}
	return &c
}

// Clone returns a deep copy of d (nil for nil).
func (d *IPsecSADetails1) Clone() *IPsecSADetails1 {
	if d == nil {
		return nil
	}
	c := *d
	c.SABundle = *d.SABundle.Clone()
	if d.UDPEncapsulation != nil {
		u := *d.UDPEncapsulation
		c.UDPEncapsulation = &u
	}
	c.TransportFilter = d.TransportFilter.Clone()
	if d.VirtualIfTunnelInfo != nil {
		v := *d.VirtualIfTunnelInfo
		c.VirtualIfTunnelInfo = &v
	}
	if d.Counters != nil {
		k := *d.Counters
		c.Counters = &k
	}
	return &c
}

// Clone returns a deep copy of sc (nil for nil).
func (sc *IPsecSAContext1) Clone() *IPsecSAContext1 {
	if sc == nil {
		return nil
	}
	c := *sc
	c.InboundSA = sc.InboundSA.Clone()
	c.OutboundSA = sc.OutboundSA.Clone()
	return &c
}

// Clone returns a deep copy of t (nil for nil).
func (t *IPsecSAContextEnumTemplate0) Clone() *IPsecSAContextEnumTemplate0 {
	if t == nil {
		return nil
	}
	return &IPsecSAContextEnumTemplate0{LocalSubNet: t.LocalSubNet.Clone(), RemoteSubNet: t.RemoteSubNet.Clone()}
}
