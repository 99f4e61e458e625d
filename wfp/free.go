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
		return freePage(v)
	case **IPsecSAContext1:
		return freeOne(v)
	case *[]*IPsecSAContext0:
		return freePage(v)
	case **IPsecSAContext0:
		return freeOne(v)
	case *[]*IPsecSADetails1:
		return freePage(v)
	case **IPsecSADetails1:
		return freeOne(v)
	case *[]*IPsecSADetails0:
		return freePage(v)
	case **IPsecSADetails0:
		return freeOne(v)
	}
	rv := reflect.ValueOf(p)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	switch rv.Elem().Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		rv.Elem().SetZero()
		return true
	}
	return false
}

// keyHolder is a result that holds keys; its zeroKeys takes a nil receiver.
type keyHolder interface{ zeroKeys() }

func freePage[P keyHolder](v *[]P) bool {
	if v == nil {
		return false
	}
	var none P
	for i, x := range *v {
		x.zeroKeys()
		(*v)[i] = none
	}
	*v = nil
	return true
}

func freeOne[P keyHolder](v *P) bool {
	if v == nil {
		return false
	}
	var none P
	(*v).zeroKeys()
	*v = none
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
