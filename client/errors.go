package client

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sadb-dev/sadb/wfp"
)

// transportError maps a failure of the RPC itself (not of the API call) to
// the RPC status code WFP documents for "failure to communicate with the
// remote or local firewall engine". This is the one translation table.
func transportError(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled):
		return wfp.Errorf(wfp.RPCECallCanceled, "%v", err)
	case errors.Is(err, context.DeadlineExceeded):
		return wfp.Errorf(wfp.RPCETimeout, "%v", err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return wfp.Errorf(wfp.RPCSCallFailed, "%v", err)
	}
	var code wfp.Error
	switch st.Code() {
	case codes.Canceled:
		code = wfp.RPCECallCanceled
	case codes.DeadlineExceeded:
		code = wfp.RPCETimeout
	case codes.Unavailable:
		code = wfp.RPCSServerUnavailable
	case codes.Unauthenticated, codes.PermissionDenied:
		code = wfp.RPCEAccessDenied
	case codes.ResourceExhausted:
		code = wfp.RPCSServerTooBusy
	case codes.Unimplemented:
		code = wfp.RPCSCannotSupport
	case codes.InvalidArgument, codes.Internal, codes.DataLoss:
		code = wfp.RPCXBadStubData
	case codes.Aborted:
		code = wfp.RPCEDisconnected
	default:
		code = wfp.RPCSCallFailed
	}
	return wfp.Errorf(code, "%s", st.Message())
}
