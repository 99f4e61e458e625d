package wfp

import (
	"encoding/binary"
	"net/netip"
)

// Uint8Value returns an FWP_UINT8 value.
func Uint8Value(v uint8) FwpValue0 { return FwpValue0{Type: DataTypeUint8, Uint8: v} }

// Uint16Value returns an FWP_UINT16 value (ports are in host order).
func Uint16Value(v uint16) FwpValue0 { return FwpValue0{Type: DataTypeUint16, Uint16: v} }

// Uint32Value returns an FWP_UINT32 value (IPv4 addresses are in host order).
func Uint32Value(v uint32) FwpValue0 { return FwpValue0{Type: DataTypeUint32, Uint32: v} }

// Uint64Value returns an FWP_UINT64 value.
func Uint64Value(v uint64) FwpValue0 { return FwpValue0{Type: DataTypeUint64, Uint64: v} }

// ByteArray16Value returns an FWP_BYTE_ARRAY16_TYPE value.
func ByteArray16Value(b [16]byte) FwpValue0 {
	a := FwpByteArray16(b)
	return FwpValue0{Type: DataTypeByteArray16, ByteArray16: &a}
}

// AddrValue returns the condition value for a single address: FWP_UINT32 for
// IPv4, FWP_BYTE_ARRAY16_TYPE for IPv6.
func AddrValue(a netip.Addr) FwpConditionValue0 {
	if v4, ok := V4AddrFrom(a); ok && a.Is4() {
		return FwpConditionValue0{FwpValue0: Uint32Value(uint32(v4))}
	}
	return FwpConditionValue0{FwpValue0: ByteArray16Value(a.As16())}
}

// PrefixValue returns the condition value for a subnet: FWP_V4_ADDR_MASK or
// FWP_V6_ADDR_MASK.
func PrefixValue(p netip.Prefix) FwpConditionValue0 {
	p = p.Masked()
	if p.Addr().Is4() {
		v4, _ := V4AddrFrom(p.Addr())
		var mask uint32
		if p.Bits() > 0 {
			mask = ^uint32(0) << (32 - p.Bits())
		}
		return FwpConditionValue0{
			FwpValue0:  FwpValue0{Type: DataTypeV4AddrMask},
			V4AddrMask: &FwpV4AddrAndMask{Addr: v4, Mask: mask},
		}
	}
	return FwpConditionValue0{
		FwpValue0:  FwpValue0{Type: DataTypeV6AddrMask},
		V6AddrMask: &FwpV6AddrAndMask{Addr: V6Addr(p.Addr().As16()), PrefixLength: uint8(p.Bits())},
	}
}

// Condition returns an FWPM_FILTER_CONDITION0.
func Condition(field FieldID, match MatchType, v FwpConditionValue0) FwpmFilterCondition0 {
	return FwpmFilterCondition0{FieldKey: field, MatchType: match, ConditionValue: v}
}

// ValueCondition returns an FWPM_FILTER_CONDITION0 comparing against a plain value.
func ValueCondition(field FieldID, match MatchType, v FwpValue0) FwpmFilterCondition0 {
	return FwpmFilterCondition0{FieldKey: field, MatchType: match, ConditionValue: FwpConditionValue0{FwpValue0: v}}
}

// Scalar returns the unsigned number a single value stands for, as its high
// and low 64 bits: the integer types as themselves (IPv4 addresses are
// FWP_UINT32) and FWP_BYTE_ARRAY16_TYPE (IPv6 addresses) big-endian. Other
// types, and a nil array, are 0. Filter conditions compare values this way.
func (v *FwpValue0) Scalar() (hi, lo uint64) {
	switch v.Type {
	case DataTypeUint8:
		return 0, uint64(v.Uint8)
	case DataTypeUint16:
		return 0, uint64(v.Uint16)
	case DataTypeUint32:
		return 0, uint64(v.Uint32)
	case DataTypeUint64:
		return 0, v.Uint64
	case DataTypeByteArray16:
		if v.ByteArray16 != nil {
			return binary.BigEndian.Uint64(v.ByteArray16[:8]), binary.BigEndian.Uint64(v.ByteArray16[8:])
		}
	}
	return 0, 0
}
