package wfp

import "reflect"

// FreeMemory is what both implementations of API do in FwpmFreeMemory0
// before any reuse of their own: it zeroes the key material reachable from
// the result p points to and sets that result to nil, as FwpmFreeMemory0
// sets the caller's pointer to NULL.
//
// p is the address of a variable holding a result: *[]*IPsecSAContext1
// (an Enum page), **IPsecSAContext1 (GetById), *[]*IPsecSADetails1, their
// version-0 forms, or the address of any other pointer, slice or map an
// API function returned (those hold no keys and are only set to nil). The
// elements of a page are set to nil too, so that any copy of the page
// header sees them gone and a second free finds nothing. Anything else,
// and nil, is left alone; FreeMemory reports whether p was taken.
func FreeMemory(p any) bool {
	switch v := p.(type) {
	case nil:
		return false
	case *[]*IPsecSAContext1:
		if v == nil {
			return false
		}
		for i, sc := range *v {
			sc.zeroKeys()
			(*v)[i] = nil
		}
		*v = nil
	case **IPsecSAContext1:
		if v == nil {
			return false
		}
		(*v).zeroKeys()
		*v = nil
	case *[]*IPsecSAContext0:
		if v == nil {
			return false
		}
		for i, sc := range *v {
			sc.zeroKeys()
			(*v)[i] = nil
		}
		*v = nil
	case **IPsecSAContext0:
		if v == nil {
			return false
		}
		(*v).zeroKeys()
		*v = nil
	case *[]*IPsecSADetails1:
		if v == nil {
			return false
		}
		for i, d := range *v {
			d.zeroKeys()
			(*v)[i] = nil
		}
		*v = nil
	case **IPsecSADetails1:
		if v == nil {
			return false
		}
		(*v).zeroKeys()
		*v = nil
	case *[]*IPsecSADetails0:
		if v == nil {
			return false
		}
		for i, d := range *v {
			d.zeroKeys()
			(*v)[i] = nil
		}
		*v = nil
	case **IPsecSADetails0:
		if v == nil {
			return false
		}
		(*v).zeroKeys()
		*v = nil
	default:
		rv := reflect.ValueOf(p)
		if rv.Kind() != reflect.Pointer || rv.IsNil() {
			return false
		}
		switch rv.Elem().Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			rv.Elem().SetZero()
		default:
			return false
		}
	}
	return true
}

func (sc *IPsecSAContext1) zeroKeys() {
	if sc != nil {
		sc.InboundSA.zeroKeys()
		sc.OutboundSA.zeroKeys()
	}
}

func (sc *IPsecSAContext0) zeroKeys() {
	if sc != nil {
		sc.InboundSA.zeroKeys()
		sc.OutboundSA.zeroKeys()
	}
}

func (d *IPsecSADetails1) zeroKeys() {
	if d != nil {
		for i := range d.SABundle.SAList {
			d.SABundle.SAList[i].ZeroKeys()
		}
	}
}

func (d *IPsecSADetails0) zeroKeys() {
	if d != nil {
		for i := range d.SABundle.SAList {
			d.SABundle.SAList[i].ZeroKeys()
		}
	}
}
