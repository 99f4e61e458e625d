package client

import (
	pb "github.com/sadb-dev/sadb/api/sadb/v1"
	"github.com/sadb-dev/sadb/internal/wire"
	"github.com/sadb-dev/sadb/wfp"
)

func (s *session) simple(c *pb.Call) error {
	_, err := s.call(c)
	return err
}

func (s *session) FwpmTransactionBegin0(flags uint32) error {
	return s.simple(&pb.Call{Op: &pb.Call_TxnBegin{TxnBegin: &pb.TxnBegin{Flags: flags}}})
}

func (s *session) FwpmTransactionCommit0() error {
	return s.simple(&pb.Call{Op: &pb.Call_TxnCommit{TxnCommit: &pb.Empty{}}})
}

func (s *session) FwpmTransactionAbort0() error {
	return s.simple(&pb.Call{Op: &pb.Call_TxnAbort{TxnAbort: &pb.Empty{}}})
}

func sdResult(r *pb.Reply, err error) (*wfp.SecurityDescriptor, error) {
	if err != nil {
		return nil, err
	}
	sd, err := wire.SDFromPB(r.GetSecurityDescriptor())
	if err != nil {
		return nil, badReply("security descriptor", err)
	}
	return sd, nil
}

func setSecurity(info wfp.SecurityInformation, owner, group *wfp.SID, dacl *wfp.ACL) *pb.SetSecurityInfo {
	m := &pb.SetSecurityInfo{SecurityInfo: uint32(info), Dacl: wire.ACLPB(dacl)}
	if owner != nil {
		o := string(*owner)
		m.Owner = &o
	}
	if group != nil {
		g := string(*group)
		m.Group = &g
	}
	return m
}

func (s *session) FwpmEngineGetSecurityInfo0(info wfp.SecurityInformation) (*wfp.SecurityDescriptor, error) {
	return sdResult(s.call(&pb.Call{Op: &pb.Call_EngineGetSecurityInfo{EngineGetSecurityInfo: &pb.GetSecurityInfo{SecurityInfo: uint32(info)}}}))
}

func (s *session) FwpmEngineSetSecurityInfo0(info wfp.SecurityInformation, owner, group *wfp.SID, dacl *wfp.ACL) error {
	return s.simple(&pb.Call{Op: &pb.Call_EngineSetSecurityInfo{EngineSetSecurityInfo: setSecurity(info, owner, group, dacl)}})
}

func (s *session) IPsecSaDbGetSecurityInfo0(info wfp.SecurityInformation) (*wfp.SecurityDescriptor, error) {
	return sdResult(s.call(&pb.Call{Op: &pb.Call_SadbGetSecurityInfo{SadbGetSecurityInfo: &pb.GetSecurityInfo{SecurityInfo: uint32(info)}}}))
}

func (s *session) IPsecSaDbSetSecurityInfo0(info wfp.SecurityInformation, owner, group *wfp.SID, dacl *wfp.ACL) error {
	return s.simple(&pb.Call{Op: &pb.Call_SadbSetSecurityInfo{SadbSetSecurityInfo: setSecurity(info, owner, group, dacl)}})
}

// Filters

func (s *session) FwpmFilterAdd0(f *wfp.FwpmFilter0, sd *wfp.SecurityDescriptor) (uint64, error) {
	r, err := s.call(&pb.Call{Op: &pb.Call_FilterAdd{FilterAdd: &pb.FilterAdd{Filter: wire.FilterPB(f), Sd: wire.SDPB(sd)}}})
	if err != nil {
		return 0, err
	}
	return r.GetIdResult().GetId(), nil
}

func (s *session) FwpmFilterDeleteById0(id uint64) error {
	return s.simple(&pb.Call{Op: &pb.Call_FilterDeleteById{FilterDeleteById: &pb.Id{Id: id}}})
}

func (s *session) FwpmFilterGetById0(id uint64) (*wfp.FwpmFilter0, error) {
	r, err := s.call(&pb.Call{Op: &pb.Call_FilterGetById{FilterGetById: &pb.Id{Id: id}}})
	if err != nil {
		return nil, err
	}
	f, err := wire.FilterFromPB(r.GetFilter())
	if err != nil || f == nil {
		return nil, badReply("filter", err)
	}
	return f, nil
}

func (s *session) handleResult(c *pb.Call) (uint64, error) {
	r, err := s.call(c)
	if err != nil {
		return 0, err
	}
	return r.GetHandle().GetHandle(), nil
}

func (s *session) FwpmFilterCreateEnumHandle0(t *wfp.FwpmFilterEnumTemplate0) (wfp.EnumHandle, error) {
	h, err := s.handleResult(&pb.Call{Op: &pb.Call_FilterCreateEnumHandle{FilterCreateEnumHandle: wire.FilterTemplatePB(t)}})
	return wfp.EnumHandle(h), err
}

// page collects up to n entries in pieces of at most maxPage, stopping at
// the first short piece: the server's end of enumeration.
func page[T any](n uint32, fetch func(k uint32) ([]T, error)) ([]T, error) {
	var out []T
	for {
		k := min(n-uint32(len(out)), maxPage)
		got, err := fetch(k)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = got
		} else {
			out = append(out, got...)
		}
		if uint32(len(got)) < k || uint32(len(out)) >= n {
			if out == nil {
				out = []T{}
			}
			return out, nil
		}
	}
}

func (s *session) FwpmFilterEnum0(h wfp.EnumHandle, n uint32) ([]*wfp.FwpmFilter0, error) {
	return page(n, func(k uint32) ([]*wfp.FwpmFilter0, error) {
		r, err := s.call(&pb.Call{Op: &pb.Call_FilterEnum{FilterEnum: &pb.EnumPage{Handle: uint64(h), NumEntriesRequested: k}}})
		if err != nil {
			return nil, err
		}
		fs := r.GetFilters().GetFilters()
		out := make([]*wfp.FwpmFilter0, len(fs))
		for i, m := range fs {
			if out[i], err = wire.FilterFromPB(m); err != nil || out[i] == nil {
				return nil, badReply("filter", err)
			}
		}
		return out, nil
	})
}

func (s *session) FwpmFilterDestroyEnumHandle0(h wfp.EnumHandle) error {
	return s.simple(&pb.Call{Op: &pb.Call_FilterDestroyEnumHandle{FilterDestroyEnumHandle: &pb.Handle{Handle: uint64(h)}}})
}

// SA contexts

func (s *session) IPsecSaContextCreate0(t *wfp.IPsecTraffic0) (uint64, uint64, error) {
	if t == nil {
		return s.IPsecSaContextCreate1(nil, nil)
	}
	t1 := t.ToTraffic1()
	return s.IPsecSaContextCreate1(&t1, nil)
}

func (s *session) IPsecSaContextCreate1(t *wfp.IPsecTraffic1, vif *wfp.IPsecVirtualIfTunnelInfo0) (uint64, uint64, error) {
	m := &pb.SAContextCreate{VirtualIfTunnelInfo: wire.VIFPB(vif)}
	if t != nil {
		m.OutboundTraffic = wire.TrafficPB(t)
	}
	r, err := s.call(&pb.Call{Op: &pb.Call_SaContextCreate{SaContextCreate: m}})
	if err != nil {
		return 0, 0, err
	}
	return r.GetCreated().GetId(), r.GetCreated().GetInboundFilterId(), nil
}

func (s *session) IPsecSaContextGetSpi0(id uint64, g *wfp.IPsecGetSPI0) (uint32, error) {
	if g == nil {
		return s.IPsecSaContextGetSpi1(id, nil)
	}
	g1 := g.ToGetSPI1()
	return s.IPsecSaContextGetSpi1(id, &g1)
}

func (s *session) IPsecSaContextGetSpi1(id uint64, g *wfp.IPsecGetSPI1) (uint32, error) {
	r, err := s.call(&pb.Call{Op: &pb.Call_SaContextGetSpi{SaContextGetSpi: &pb.SAContextGetSpi{Id: id, GetSpi: wire.GetSPIPB(g)}}})
	if err != nil {
		return 0, err
	}
	return r.GetSpi().GetSpi(), nil
}

func (s *session) IPsecSaContextSetSpi0(id uint64, g *wfp.IPsecGetSPI1, spi uint32) error {
	return s.simple(&pb.Call{Op: &pb.Call_SaContextSetSpi{SaContextSetSpi: &pb.SAContextSetSpi{Id: id, GetSpi: wire.GetSPIPB(g), InboundSpi: spi}}})
}

func bundle0(b *wfp.IPsecSABundle0) *wfp.IPsecSABundle1 {
	if b == nil {
		return nil
	}
	b1 := b.ToBundle1()
	return &b1
}

func (s *session) IPsecSaContextAddInbound0(id uint64, b *wfp.IPsecSABundle0) error {
	return s.IPsecSaContextAddInbound1(id, bundle0(b))
}

func (s *session) IPsecSaContextAddInbound1(id uint64, b *wfp.IPsecSABundle1) error {
	return s.simple(&pb.Call{Op: &pb.Call_SaContextAddInbound{SaContextAddInbound: &pb.SAContextAddBundle{Id: id, Bundle: wire.BundlePB(b)}}})
}

func (s *session) IPsecSaContextAddOutbound0(id uint64, b *wfp.IPsecSABundle0) error {
	return s.IPsecSaContextAddOutbound1(id, bundle0(b))
}

func (s *session) IPsecSaContextAddOutbound1(id uint64, b *wfp.IPsecSABundle1) error {
	return s.simple(&pb.Call{Op: &pb.Call_SaContextAddOutbound{SaContextAddOutbound: &pb.SAContextAddBundle{Id: id, Bundle: wire.BundlePB(b)}}})
}

func (s *session) IPsecSaContextUpdate0(flags uint64, nv *wfp.IPsecSAContext1) error {
	return s.simple(&pb.Call{Op: &pb.Call_SaContextUpdate{SaContextUpdate: &pb.SAContextUpdate{Flags: flags, NewValues: wire.ContextPB(nv)}}})
}

func (s *session) IPsecSaContextExpire0(id uint64) error {
	return s.simple(&pb.Call{Op: &pb.Call_SaContextExpire{SaContextExpire: &pb.Id{Id: id}}})
}

func (s *session) IPsecSaContextDeleteById0(id uint64) error {
	return s.simple(&pb.Call{Op: &pb.Call_SaContextDeleteById{SaContextDeleteById: &pb.Id{Id: id}}})
}

func (s *session) IPsecSaContextGetById0(id uint64) (*wfp.IPsecSAContext0, error) {
	sc, err := s.IPsecSaContextGetById1(id)
	if err != nil {
		return nil, err
	}
	return sc.ToContext0(), nil
}

func (s *session) IPsecSaContextGetById1(id uint64) (*wfp.IPsecSAContext1, error) {
	r, err := s.call(&pb.Call{Op: &pb.Call_SaContextGetById{SaContextGetById: &pb.Id{Id: id}}})
	if err != nil {
		return nil, err
	}
	sc, err := wire.ContextFromPB(r.GetSaContext())
	if err != nil || sc == nil {
		return nil, badReply("SA context", err)
	}
	return sc, nil
}

func (s *session) IPsecSaContextCreateEnumHandle0(t *wfp.IPsecSAContextEnumTemplate0) (wfp.EnumHandle, error) {
	h, err := s.handleResult(&pb.Call{Op: &pb.Call_SaContextCreateEnumHandle{SaContextCreateEnumHandle: wire.ContextTemplatePB(t)}})
	return wfp.EnumHandle(h), err
}

func (s *session) IPsecSaContextEnum1(h wfp.EnumHandle, n uint32) ([]*wfp.IPsecSAContext1, error) {
	return page(n, func(k uint32) ([]*wfp.IPsecSAContext1, error) {
		r, err := s.call(&pb.Call{Op: &pb.Call_SaContextEnum{SaContextEnum: &pb.EnumPage{Handle: uint64(h), NumEntriesRequested: k}}})
		if err != nil {
			return nil, err
		}
		out, err := wire.ContextsFromPB(r.GetSaContexts())
		if err != nil {
			return nil, badReply("SA context page", err)
		}
		return out, nil
	})
}

func (s *session) IPsecSaContextEnum0(h wfp.EnumHandle, n uint32) ([]*wfp.IPsecSAContext0, error) {
	page, err := s.IPsecSaContextEnum1(h, n)
	if err != nil {
		return nil, err
	}
	return wfp.ToContexts0(page), nil
}

func (s *session) IPsecSaContextDestroyEnumHandle0(h wfp.EnumHandle) error {
	return s.simple(&pb.Call{Op: &pb.Call_SaContextDestroyEnumHandle{SaContextDestroyEnumHandle: &pb.Handle{Handle: uint64(h)}}})
}

// SAs

func (s *session) IPsecSaCreateEnumHandle0(t *wfp.IPsecSAEnumTemplate0) (wfp.EnumHandle, error) {
	m := &pb.SAEnumTemplate{}
	if t != nil {
		m.HasTemplate, m.SaDirection = true, uint32(t.SADirection)
	}
	h, err := s.handleResult(&pb.Call{Op: &pb.Call_SaCreateEnumHandle{SaCreateEnumHandle: m}})
	return wfp.EnumHandle(h), err
}

func (s *session) IPsecSaEnum1(h wfp.EnumHandle, n uint32) ([]*wfp.IPsecSADetails1, error) {
	return page(n, func(k uint32) ([]*wfp.IPsecSADetails1, error) {
		r, err := s.call(&pb.Call{Op: &pb.Call_SaEnum{SaEnum: &pb.EnumPage{Handle: uint64(h), NumEntriesRequested: k}}})
		if err != nil {
			return nil, err
		}
		out, err := wire.DetailsListFromPB(r.GetSaDetails())
		if err != nil {
			return nil, badReply("SA details page", err)
		}
		return out, nil
	})
}

func (s *session) IPsecSaEnum0(h wfp.EnumHandle, n uint32) ([]*wfp.IPsecSADetails0, error) {
	page, err := s.IPsecSaEnum1(h, n)
	if err != nil {
		return nil, err
	}
	return wfp.ToDetails0(page), nil
}

func (s *session) IPsecSaDestroyEnumHandle0(h wfp.EnumHandle) error {
	return s.simple(&pb.Call{Op: &pb.Call_SaDestroyEnumHandle{SaDestroyEnumHandle: &pb.Handle{Handle: uint64(h)}}})
}

// Statistics

func (s *session) IPsecGetStatistics1() (*wfp.IPsecStatistics1, error) {
	r, err := s.call(&pb.Call{Op: &pb.Call_GetStatistics{GetStatistics: &pb.Empty{}}})
	if err != nil {
		return nil, err
	}
	st, err := wire.StatisticsFromPB(r.GetStatistics())
	if err != nil {
		return nil, badReply("statistics", err)
	}
	return st, nil
}

func (s *session) IPsecGetStatistics0() (*wfp.IPsecStatistics0, error) {
	st, err := s.IPsecGetStatistics1()
	if err != nil {
		return nil, err
	}
	return st.ToStatistics0(), nil
}

// FwpmFreeMemory0 gives a result back (see wfp.API). The memory is the
// client's own, decoded from the reply, so freeing is local: the keys are
// zeroed and the result set to nil; nothing goes to sadbd.
func (s *session) FwpmFreeMemory0(p any) { wfp.FreeMemory(p) }
