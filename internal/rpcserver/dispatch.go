package rpcserver

import (
	"time"

	pb "github.com/sadb-dev/sadb/api/sadb/v1"
	"github.com/sadb-dev/sadb/internal/wire"
	"github.com/sadb-dev/sadb/wfp"
)

// dispatch runs one call on the session's API and builds its reply.
// The reply is queued before after runs: subscriptions and key managers
// release their first message only then, so a client always learns a
// handle before messages for it.
func (rs *rpcSession) dispatch(api wfp.API, c *pb.Call) {
	r := &pb.Reply{Id: c.Id}
	var after func()
	_, err := rs.call(api, c, r, &after)
	setErr(r, err)
	rs.reply(r)
	if after != nil {
		after()
	}
}

// call performs the operation; it returns the WFP function name for metrics.
func (rs *rpcSession) call(api wfp.API, c *pb.Call, r *pb.Reply, after *func()) (fn string, err error) {
	start := time.Now()
	defer func() { rs.srv.observe(fn, err, start) }()
	switch op := c.Op.(type) {
	case *pb.Call_TxnBegin:
		return "FwpmTransactionBegin0", api.FwpmTransactionBegin0(op.TxnBegin.GetFlags())
	case *pb.Call_TxnCommit:
		return "FwpmTransactionCommit0", api.FwpmTransactionCommit0()
	case *pb.Call_TxnAbort:
		return "FwpmTransactionAbort0", api.FwpmTransactionAbort0()

	case *pb.Call_EngineGetSecurityInfo:
		sd, err := api.FwpmEngineGetSecurityInfo0(wfp.SecurityInformation(op.EngineGetSecurityInfo.GetSecurityInfo()))
		r.Result = &pb.Reply_SecurityDescriptor{SecurityDescriptor: wire.SDPB(sd)}
		return "FwpmEngineGetSecurityInfo0", err
	case *pb.Call_EngineSetSecurityInfo:
		info, owner, group, dacl, err := setSecurityArgs(op.EngineSetSecurityInfo)
		if err != nil {
			return "FwpmEngineSetSecurityInfo0", err
		}
		return "FwpmEngineSetSecurityInfo0", api.FwpmEngineSetSecurityInfo0(info, owner, group, dacl)
	case *pb.Call_SadbGetSecurityInfo:
		sd, err := api.IPsecSaDbGetSecurityInfo0(wfp.SecurityInformation(op.SadbGetSecurityInfo.GetSecurityInfo()))
		r.Result = &pb.Reply_SecurityDescriptor{SecurityDescriptor: wire.SDPB(sd)}
		return "IPsecSaDbGetSecurityInfo0", err
	case *pb.Call_SadbSetSecurityInfo:
		info, owner, group, dacl, err := setSecurityArgs(op.SadbSetSecurityInfo)
		if err != nil {
			return "IPsecSaDbSetSecurityInfo0", err
		}
		return "IPsecSaDbSetSecurityInfo0", api.IPsecSaDbSetSecurityInfo0(info, owner, group, dacl)

	case *pb.Call_FilterAdd:
		f, err := wire.FilterFromPB(op.FilterAdd.GetFilter())
		if err != nil {
			return "FwpmFilterAdd0", badStub(err)
		}
		sd, err := wire.SDFromPB(op.FilterAdd.GetSd())
		if err != nil {
			return "FwpmFilterAdd0", badStub(err)
		}
		id, err := api.FwpmFilterAdd0(f, sd)
		r.Result = &pb.Reply_IdResult{IdResult: &pb.Id{Id: id}}
		return "FwpmFilterAdd0", err
	case *pb.Call_FilterDeleteById:
		return "FwpmFilterDeleteById0", api.FwpmFilterDeleteById0(op.FilterDeleteById.GetId())
	case *pb.Call_FilterGetById:
		f, err := api.FwpmFilterGetById0(op.FilterGetById.GetId())
		r.Result = &pb.Reply_Filter{Filter: wire.FilterPB(f)}
		return "FwpmFilterGetById0", err
	case *pb.Call_FilterCreateEnumHandle:
		t, err := wire.FilterTemplateFromPB(op.FilterCreateEnumHandle)
		if err != nil {
			return "FwpmFilterCreateEnumHandle0", badStub(err)
		}
		h, err := api.FwpmFilterCreateEnumHandle0(t)
		r.Result = &pb.Reply_Handle{Handle: &pb.Handle{Handle: uint64(h)}}
		return "FwpmFilterCreateEnumHandle0", err
	case *pb.Call_FilterEnum:
		fs, err := api.FwpmFilterEnum0(wfp.EnumHandle(op.FilterEnum.GetHandle()), min(op.FilterEnum.GetNumEntriesRequested(), MaxPage))
		out := &pb.Filters{Filters: make([]*pb.Filter, len(fs))}
		for i, f := range fs {
			out.Filters[i] = wire.FilterPB(f)
		}
		r.Result = &pb.Reply_Filters{Filters: out}
		return "FwpmFilterEnum0", err
	case *pb.Call_FilterDestroyEnumHandle:
		return "FwpmFilterDestroyEnumHandle0", api.FwpmFilterDestroyEnumHandle0(wfp.EnumHandle(op.FilterDestroyEnumHandle.GetHandle()))

	case *pb.Call_SaContextCreate:
		var t *wfp.IPsecTraffic1
		if m := op.SaContextCreate.GetOutboundTraffic(); m != nil {
			v, err := wire.TrafficFromPB(m)
			if err != nil {
				return "IPsecSaContextCreate1", badStub(err)
			}
			t = &v
		}
		id, in, err := api.IPsecSaContextCreate1(t, wire.VIFFromPB(op.SaContextCreate.GetVirtualIfTunnelInfo()))
		r.Result = &pb.Reply_Created{Created: &pb.SAContextCreated{Id: id, InboundFilterId: in}}
		return "IPsecSaContextCreate1", err
	case *pb.Call_SaContextGetSpi:
		g, err := wire.GetSPIFromPB(op.SaContextGetSpi.GetGetSpi())
		if err != nil {
			return "IPsecSaContextGetSpi1", badStub(err)
		}
		spi, err := api.IPsecSaContextGetSpi1(op.SaContextGetSpi.GetId(), g)
		r.Result = &pb.Reply_Spi{Spi: &pb.Spi{Spi: spi}}
		return "IPsecSaContextGetSpi1", err
	case *pb.Call_SaContextSetSpi:
		g, err := wire.GetSPIFromPB(op.SaContextSetSpi.GetGetSpi())
		if err != nil {
			return "IPsecSaContextSetSpi0", badStub(err)
		}
		return "IPsecSaContextSetSpi0", api.IPsecSaContextSetSpi0(op.SaContextSetSpi.GetId(), g, op.SaContextSetSpi.GetInboundSpi())
	case *pb.Call_SaContextAddInbound:
		b, err := wire.BundleFromPB(op.SaContextAddInbound.GetBundle())
		if err != nil {
			return "IPsecSaContextAddInbound1", badStub(err)
		}
		return "IPsecSaContextAddInbound1", api.IPsecSaContextAddInbound1(op.SaContextAddInbound.GetId(), b)
	case *pb.Call_SaContextAddOutbound:
		b, err := wire.BundleFromPB(op.SaContextAddOutbound.GetBundle())
		if err != nil {
			return "IPsecSaContextAddOutbound1", badStub(err)
		}
		return "IPsecSaContextAddOutbound1", api.IPsecSaContextAddOutbound1(op.SaContextAddOutbound.GetId(), b)
	case *pb.Call_SaContextUpdate:
		nv, err := wire.ContextFromPB(op.SaContextUpdate.GetNewValues())
		if err != nil {
			return "IPsecSaContextUpdate0", badStub(err)
		}
		return "IPsecSaContextUpdate0", api.IPsecSaContextUpdate0(op.SaContextUpdate.GetFlags(), nv)
	case *pb.Call_SaContextExpire:
		return "IPsecSaContextExpire0", api.IPsecSaContextExpire0(op.SaContextExpire.GetId())
	case *pb.Call_SaContextDeleteById:
		return "IPsecSaContextDeleteById0", api.IPsecSaContextDeleteById0(op.SaContextDeleteById.GetId())
	case *pb.Call_SaContextGetById:
		sc, err := api.IPsecSaContextGetById1(op.SaContextGetById.GetId())
		r.Result = &pb.Reply_SaContext{SaContext: wire.ContextPB(sc)}
		api.FwpmFreeMemory0(&sc) // the reply holds copies
		return "IPsecSaContextGetById1", err
	case *pb.Call_SaContextCreateEnumHandle:
		t, err := wire.ContextTemplateFromPB(op.SaContextCreateEnumHandle)
		if err != nil {
			return "IPsecSaContextCreateEnumHandle0", badStub(err)
		}
		h, err := api.IPsecSaContextCreateEnumHandle0(t)
		r.Result = &pb.Reply_Handle{Handle: &pb.Handle{Handle: uint64(h)}}
		return "IPsecSaContextCreateEnumHandle0", err
	case *pb.Call_SaContextEnum:
		scs, err := api.IPsecSaContextEnum1(wfp.EnumHandle(op.SaContextEnum.GetHandle()), min(op.SaContextEnum.GetNumEntriesRequested(), MaxPage))
		out := wire.ContextsPB(scs)
		api.FwpmFreeMemory0(&scs) // the reply holds copies; the engine reuses the page
		r.Result = &pb.Reply_SaContexts{SaContexts: out}
		return "IPsecSaContextEnum1", err
	case *pb.Call_SaContextDestroyEnumHandle:
		return "IPsecSaContextDestroyEnumHandle0", api.IPsecSaContextDestroyEnumHandle0(wfp.EnumHandle(op.SaContextDestroyEnumHandle.GetHandle()))

	case *pb.Call_SaContextSubscribe:
		sub, err := wire.SubscriptionFromPB(op.SaContextSubscribe)
		if err != nil {
			return "IPsecSaContextSubscribe0", badStub(err)
		}
		h, release, err := rs.subscribe(api, sub)
		*after = release
		r.Result = &pb.Reply_Handle{Handle: &pb.Handle{Handle: uint64(h)}}
		return "IPsecSaContextSubscribe0", err
	case *pb.Call_SaContextUnsubscribe:
		return "IPsecSaContextUnsubscribe0", api.IPsecSaContextUnsubscribe0(wfp.SubscriptionHandle(op.SaContextUnsubscribe.GetHandle()))
	case *pb.Call_SaContextSubscriptionsGet:
		subs, err := api.IPsecSaContextSubscriptionsGet0()
		out := &pb.Subscriptions{Subscriptions: make([]*pb.SAContextSubscription, len(subs))}
		for i, s := range subs {
			out.Subscriptions[i] = wire.SubscriptionPB(s)
		}
		r.Result = &pb.Reply_Subscriptions{Subscriptions: out}
		return "IPsecSaContextSubscriptionsGet0", err

	case *pb.Call_SaCreateEnumHandle:
		var t *wfp.IPsecSAEnumTemplate0
		if m := op.SaCreateEnumHandle; m.GetHasTemplate() {
			t = &wfp.IPsecSAEnumTemplate0{SADirection: wfp.Direction(m.GetSaDirection())}
		}
		h, err := api.IPsecSaCreateEnumHandle0(t)
		r.Result = &pb.Reply_Handle{Handle: &pb.Handle{Handle: uint64(h)}}
		return "IPsecSaCreateEnumHandle0", err
	case *pb.Call_SaEnum:
		ds, err := api.IPsecSaEnum1(wfp.EnumHandle(op.SaEnum.GetHandle()), min(op.SaEnum.GetNumEntriesRequested(), MaxPage))
		out := wire.DetailsListPB(ds)
		api.FwpmFreeMemory0(&ds)
		r.Result = &pb.Reply_SaDetails{SaDetails: out}
		return "IPsecSaEnum1", err
	case *pb.Call_SaDestroyEnumHandle:
		return "IPsecSaDestroyEnumHandle0", api.IPsecSaDestroyEnumHandle0(wfp.EnumHandle(op.SaDestroyEnumHandle.GetHandle()))

	case *pb.Call_GetStatistics:
		st, err := api.IPsecGetStatistics1()
		if st != nil {
			r.Result = &pb.Reply_Statistics{Statistics: wire.StatisticsPB(st)}
		}
		return "IPsecGetStatistics1", err

	case *pb.Call_KeyManagerAddAndRegister:
		h, release, err := rs.registerKeyManager(api, op.KeyManagerAddAndRegister)
		*after = release
		r.Result = &pb.Reply_Handle{Handle: &pb.Handle{Handle: uint64(h)}}
		return "IPsecKeyManagerAddAndRegister0", err
	case *pb.Call_KeyManagerUnregisterAndDelete:
		return "IPsecKeyManagerUnregisterAndDelete0", api.IPsecKeyManagerUnregisterAndDelete0(wfp.KeyManagerHandle(op.KeyManagerUnregisterAndDelete.GetHandle()))
	case *pb.Call_KeyManagersGet:
		kms, err := api.IPsecKeyManagersGet0()
		out := &pb.KeyManagers{KeyManagers: make([]*pb.KeyManager, len(kms))}
		for i, k := range kms {
			out.KeyManagers[i] = wire.KeyManagerPB(k)
		}
		r.Result = &pb.Reply_KeyManagers{KeyManagers: out}
		return "IPsecKeyManagersGet0", err
	}
	return "", wfp.Errorf(wfp.RPCXBadStubData, "the call names no known function")
}

func setSecurityArgs(m *pb.SetSecurityInfo) (wfp.SecurityInformation, *wfp.SID, *wfp.SID, *wfp.ACL, error) {
	var owner, group *wfp.SID
	if m.Owner != nil {
		o := wfp.SID(*m.Owner)
		owner = &o
	}
	if m.Group != nil {
		g := wfp.SID(*m.Group)
		group = &g
	}
	dacl, err := wire.ACLFromPB(m.GetDacl())
	if err != nil {
		return 0, nil, nil, nil, badStub(err)
	}
	return wfp.SecurityInformation(m.GetSecurityInfo()), owner, group, dacl, nil
}

// subscribe subscribes on the client's behalf; changes travel on the stream.
func (rs *rpcSession) subscribe(api wfp.API, sub *wfp.IPsecSAContextSubscription0) (wfp.SubscriptionHandle, func(), error) {
	handle := make(chan uint64, 1)
	var h uint64
	cb := func(ch *wfp.IPsecSAContextChange0) {
		if h == 0 {
			h = <-handle // the first change can race the reply that carries the handle
		}
		rs.send(&pb.ServerMessage{Msg: &pb.ServerMessage_Change{Change: &pb.SAContextChange{
			Handle: h, ChangeType: uint32(ch.ChangeType), SaContextId: ch.SAContextID}}})
	}
	if sub == nil {
		cb = nil // let the engine report the null pointer
	}
	hd, err := api.IPsecSaContextSubscribe0(sub, cb)
	return hd, func() { handle <- uint64(hd) }, err
}

// registerKeyManager registers on the client's behalf; notifications travel
// on the stream. The engine never calls the dictation callbacks (sadb has no
// negotiating keying module), so those exist only to say that the client
// provides them.
func (rs *rpcSession) registerKeyManager(api wfp.API, m *pb.KeyManagerRegister) (wfp.KeyManagerHandle, func(), error) {
	var km *wfp.IPsecKeyManager0
	if m.GetHasKeyManager() {
		k, err := wire.KeyManagerFromPB(m.KeyManager)
		if err != nil {
			return 0, nil, badStub(err)
		}
		km = k
	}
	var cbs *wfp.IPsecKeyManagerCallbacks0
	handle := make(chan uint64, 1)
	if m.GetHasCallbacks() {
		cbs = &wfp.IPsecKeyManagerCallbacks0{}
		if m.KeyDictationCheck {
			cbs.KeyDictationCheck = func(*wfp.IPsecTraffic1) (bool, uint32) { return false, 0 }
		}
		if m.KeyDictation {
			cbs.KeyDictation = func(_, _ *wfp.IPsecSADetails1) bool { return true }
		}
		if m.KeyNotify {
			var h uint64
			cbs.KeyNotify = func(in, out *wfp.IPsecSADetails1) {
				if h == 0 {
					h = <-handle
				}
				rs.send(&pb.ServerMessage{Msg: &pb.ServerMessage_KeyNotify{KeyNotify: &pb.KeyNotify{
					Handle: h, Inbound: wire.DetailsPB(in), Outbound: wire.DetailsPB(out)}}})
			}
		}
	}
	hd, err := api.IPsecKeyManagerAddAndRegister0(km, cbs)
	return hd, func() { handle <- uint64(hd) }, err
}
