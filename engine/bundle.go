package engine

import (
	"sync"
	"time"

	"github.com/sadb-dev/sadb/wfp"
)

// bundle is an SA bundle as the engine holds it: compact, because a million
// SA contexts hold two each. The bundle's members are kept as they are; its
// SAs as transform ids and offsets into one key array. A bundle is
// immutable; an update of its members makes a copy that shares the keys.
//
// Pointer fields come first, for the garbage collector (see saCtx).
type bundle struct {
	keys    *keyBox
	ipsecID *wfp.IPsecID0
	kms     *wfp.IPsecKeyModuleState0

	flags        uint32
	lifetime     wfp.IPsecSALifetime0
	idle         uint32
	ndAllowClear uint32
	napContext   uint32
	qmSAID       uint32
	ipv          wfp.IPVersion
	peerV4       wfp.V4Addr
	pfs          wfp.PFSGroup
	mmSAID       uint64
	qmFilterID   uint64
	lookupCtx    wfp.GUID
	added        int64 // unix nanoseconds
	nSA          uint8
	sas          [2]saRec
}

// saRec is one SA of a bundle.
type saRec struct {
	spi       uint32
	typ       wfp.TransformType
	auth      wfp.IPsecAuthTransformID0
	cipher    wfp.IPsecCipherTransformID0
	authOff   uint8 // the SA's keys in keyBox.keys
	authLen   uint8
	cipherOff uint8
	cipherLen uint8
}

// keyBox holds a bundle's key bytes: read when returned to an authorized
// caller, zeroed when the SAs are deleted. Every copy of a bundle shares it.
type keyBox struct {
	keys   []byte     // buf, or a larger array for big bundles
	mu     sync.Mutex // guards zeroed and the bytes of keys
	zeroed bool
	buf    [40]byte
}

// bundleBlock is a bundle with its keys: one allocation for the common
// shapes.
type bundleBlock struct {
	kb keyBox // pointers first (keyBox.keys)
	b  bundle
}

// newBundle makes the engine's copy of a validated bundle, keys included.
func newBundle(in *wfp.IPsecSABundle1, now time.Time) *bundle {
	return newBundleBlock().fill(in, now)
}

// newBundleBlock returns a zero bundle block, a given-back one when there
// is one (see reuse.go).
func newBundleBlock() *bundleBlock { return blockPool.Get().(*bundleBlock) }

// versionWithBundle is a context version together with the bundle it adds,
// allocated as one: IPsecSaContextAddOutbound1 makes the version that a
// plumbed context keeps for the rest of its life, and its outbound bundle
// lives exactly as long. (A later version made by an update keeps the
// outbound bundle, and so this version's memory too, until the context
// goes or expires; an expired version has no outbound bundle.)
type versionWithBundle struct {
	c   saCtx
	blk bundleBlock
}

// fill makes blk the engine's copy of a validated bundle and returns it.
// blk must be zero.
func (blk *bundleBlock) fill(in *wfp.IPsecSABundle1, now time.Time) *bundle {
	b := &blk.b
	*b = bundle{
		flags: in.Flags, lifetime: in.Lifetime, idle: in.IdleTimeoutSeconds,
		ndAllowClear: in.NDAllowClearTimeoutSeconds, napContext: in.NAPContext, qmSAID: in.QMSAID,
		ipv: in.IPVersion, peerV4: in.PeerV4PrivateAddress, pfs: in.PFSGroup, mmSAID: in.MMSAID,
		qmFilterID: in.QMFilterID, lookupCtx: in.SALookupContext,
		ipsecID: in.IPsecID.Clone(), kms: in.KeyModuleState.Clone(),
		added: now.UnixNano(), nSA: uint8(len(in.SAList)), keys: &blk.kb,
	}
	n := 0
	for i := range in.SAList {
		a, c := saKeyBlobs(&in.SAList[i])
		n += len(a) + len(c)
	}
	buf := blk.kb.buf[:0]
	if n > len(blk.kb.buf) {
		buf = make([]byte, 0, n)
	}
	put := func(k wfp.Key) (off, l uint8) {
		off = uint8(len(buf))
		buf = append(buf, k...)
		return off, uint8(len(k))
	}
	for i := range in.SAList {
		src := &in.SAList[i]
		r := &b.sas[i]
		r.spi, r.typ = src.SPI, src.SATransformType
		r.auth, r.cipher = saTransformIDs(src)
		a, c := saKeyBlobs(src)
		r.authOff, r.authLen = put(a)
		r.cipherOff, r.cipherLen = put(c)
	}
	blk.kb.keys = buf
	return b
}

// saTransformIDs returns a validated SA's transform ids.
func saTransformIDs(sa *wfp.IPsecSA0) (wfp.IPsecAuthTransformID0, wfp.IPsecCipherTransformID0) {
	switch sa.SATransformType {
	case wfp.TransformAH:
		return sa.AHInformation.AuthTransform.AuthTransformID, wfp.IPsecCipherTransformID0{}
	case wfp.TransformESPAuth:
		return sa.ESPAuthInformation.AuthTransform.AuthTransformID, wfp.IPsecCipherTransformID0{}
	case wfp.TransformESPAuthFW:
		return sa.ESPAuthFWInformation.AuthTransform.AuthTransformID, wfp.IPsecCipherTransformID0{}
	case wfp.TransformESPCipher:
		return wfp.IPsecAuthTransformID0{}, sa.ESPCipherInformation.CipherTransform.CipherTransformID
	case wfp.TransformESPAuthAndCipher:
		ac := sa.ESPAuthAndCipherInformation
		return ac.SAAuthInformation.AuthTransform.AuthTransformID, ac.SACipherInformation.CipherTransform.CipherTransformID
	}
	return wfp.IPsecAuthTransformID0{}, wfp.IPsecCipherTransformID0{}
}

// saKeyBlobs returns a validated SA's authentication and cipher keys.
func saKeyBlobs(sa *wfp.IPsecSA0) (auth, cipher wfp.Key) {
	switch sa.SATransformType {
	case wfp.TransformAH:
		return sa.AHInformation.AuthKey, nil
	case wfp.TransformESPAuth:
		return sa.ESPAuthInformation.AuthKey, nil
	case wfp.TransformESPAuthFW:
		return sa.ESPAuthFWInformation.AuthKey, nil
	case wfp.TransformESPCipher:
		return nil, sa.ESPCipherInformation.CipherKey
	case wfp.TransformESPAuthAndCipher:
		ac := sa.ESPAuthAndCipherInformation
		return ac.SAAuthInformation.AuthKey, ac.SACipherInformation.CipherKey
	}
	return nil, nil
}

func (b *bundle) addedTime() time.Time { return time.Unix(0, b.added) }

func (b *bundle) saList() []saRec { return b.sas[:b.nSA] }

// zeroKeys overwrites the key bytes, once.
func (b *bundle) zeroKeys() {
	k := b.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.zeroed {
		clear(k.keys)
		k.zeroed = true
	}
}

// exportStorage is room for one bundle's SA and its information members,
// so that exporting a context allocates once. A bundle of more SAs (ESP
// with AH) allocates room of its own: room for two in every result would
// make every exported context a fifth larger for a rare case.
type exportStorage struct {
	sas [1]wfp.IPsecSA0
	inf [1]wfp.IPsecSAAuthAndCipherInformation0
}

// export writes the bundle as the caller's structure. Key bytes are copied
// (into fresh arrays the caller owns) only when keys is true and they have
// not been zeroed.
func (b *bundle) export(keys bool, st *exportStorage) wfp.IPsecSABundle1 {
	out := wfp.IPsecSABundle1{
		Flags: b.flags, Lifetime: b.lifetime, IdleTimeoutSeconds: b.idle, NDAllowClearTimeoutSeconds: b.ndAllowClear,
		IPsecID: b.ipsecID.Clone(), NAPContext: b.napContext, QMSAID: b.qmSAID, KeyModuleState: b.kms.Clone(),
		IPVersion: b.ipv, PeerV4PrivateAddress: b.peerV4, MMSAID: b.mmSAID, PFSGroup: b.pfs,
		SALookupContext: b.lookupCtx, QMFilterID: b.qmFilterID,
	}
	var kb []byte
	if keys {
		b.keys.mu.Lock()
		if !b.keys.zeroed {
			kb = append([]byte(nil), b.keys.keys...)
		}
		b.keys.mu.Unlock()
	}
	key := func(off, l uint8) wfp.Key {
		if kb == nil || l == 0 {
			return nil
		}
		return wfp.Key(kb[off : off+l : off+l])
	}
	sas, infs := st.sas[:], st.inf[:]
	if int(b.nSA) > len(sas) {
		sas, infs = make([]wfp.IPsecSA0, b.nSA), make([]wfp.IPsecSAAuthAndCipherInformation0, b.nSA)
	}
	out.SAList = sas[:b.nSA]
	for i, r := range b.saList() {
		inf := &infs[i]
		sa := wfp.IPsecSA0{SPI: r.spi, SATransformType: r.typ}
		inf.SAAuthInformation = wfp.IPsecSAAuthInformation0{AuthTransform: wfp.IPsecAuthTransform0{AuthTransformID: r.auth}, AuthKey: key(r.authOff, r.authLen)}
		inf.SACipherInformation = wfp.IPsecSACipherInformation0{CipherTransform: wfp.IPsecCipherTransform0{CipherTransformID: r.cipher}, CipherKey: key(r.cipherOff, r.cipherLen)}
		switch r.typ {
		case wfp.TransformAH:
			sa.AHInformation = &inf.SAAuthInformation
		case wfp.TransformESPAuth:
			sa.ESPAuthInformation = &inf.SAAuthInformation
		case wfp.TransformESPAuthFW:
			sa.ESPAuthFWInformation = &inf.SAAuthInformation
		case wfp.TransformESPCipher:
			sa.ESPCipherInformation = &inf.SACipherInformation
		case wfp.TransformESPAuthAndCipher:
			sa.ESPAuthAndCipherInformation = inf
		}
		out.SAList[i] = sa
	}
	return out
}

// toWFP returns the bundle as a new structure (with keys when asked).
func (b *bundle) toWFP(keys bool) *wfp.IPsecSABundle1 {
	st := &exportStorage{}
	out := b.export(keys, st)
	return &out
}
