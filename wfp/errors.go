package wfp

import (
	"errors"
	"fmt"
	"slices"
)

// Error is a status code returned by a WFP function: an FWP_E_* code, a Win32
// ERROR_* code or an RPC code, with the exact numeric value Windows uses. The
// zero value is ERROR_SUCCESS and is never returned as an error.
//
// Compare with errors.Is, which also matches an Error wrapped with detail by
// Errorf:
//
//	if errors.Is(err, wfp.ErrNotFound) { ... }
type Error uint32

// Code returns the numeric status code carried by err: 0 for nil, the code of
// the first Error found in err's chain, or ErrInternal for any other error.
func Code(err error) Error {
	if err == nil {
		return 0
	}
	var e Error
	if errors.As(err, &e) {
		return e
	}
	var d *DetailedError
	if errors.As(err, &d) {
		return d.Code
	}
	return ErrInternal
}

// Name returns the symbolic name, e.g. "FWP_E_NOT_FOUND", or a hexadecimal
// form for codes sadb does not know.
func (e Error) Name() string {
	if i, ok := errorInfo[e]; ok {
		return i.name
	}
	return fmt.Sprintf("0x%08X", uint32(e))
}

// Message returns the description of the code.
func (e Error) Message() string {
	if i, ok := errorInfo[e]; ok {
		return i.msg
	}
	return "unknown status code"
}

// Known reports whether e is one of the codes defined in this package.
func (e Error) Known() bool {
	_, ok := errorInfo[e]
	return ok
}

// Error formats the code as operators see it: "NAME (0xXXXXXXXX): message".
func (e Error) Error() string {
	return fmt.Sprintf("%s (0x%08X): %s", e.Name(), uint32(e), e.Message())
}

// DetailedError is an Error with a human-readable explanation of what exactly
// was wrong. errors.Is(d, d.Code) holds, so callers test it like a bare Error.
type DetailedError struct {
	Code   Error
	Detail string
}

// Errorf returns code with a formatted detail message.
func Errorf(code Error, format string, args ...any) error {
	return &DetailedError{Code: code, Detail: fmt.Sprintf(format, args...)}
}

func (d *DetailedError) Error() string {
	if d.Detail == "" {
		return d.Code.Error()
	}
	return d.Code.Error() + ": " + d.Detail
}

// Unwrap returns the status code, so errors.Is and errors.As see it.
func (d *DetailedError) Unwrap() error { return d.Code }

// FWP_E_* codes (winerror.h; the WFP error-code reference).
const (
	ErrCalloutNotFound                Error = 0x80320001 // FWP_E_CALLOUT_NOT_FOUND
	ErrConditionNotFound              Error = 0x80320002 // FWP_E_CONDITION_NOT_FOUND
	ErrFilterNotFound                 Error = 0x80320003 // FWP_E_FILTER_NOT_FOUND
	ErrLayerNotFound                  Error = 0x80320004 // FWP_E_LAYER_NOT_FOUND
	ErrProviderNotFound               Error = 0x80320005 // FWP_E_PROVIDER_NOT_FOUND
	ErrProviderContextNotFound        Error = 0x80320006 // FWP_E_PROVIDER_CONTEXT_NOT_FOUND
	ErrSublayerNotFound               Error = 0x80320007 // FWP_E_SUBLAYER_NOT_FOUND
	ErrNotFound                       Error = 0x80320008 // FWP_E_NOT_FOUND
	ErrAlreadyExists                  Error = 0x80320009 // FWP_E_ALREADY_EXISTS
	ErrInUse                          Error = 0x8032000A // FWP_E_IN_USE
	ErrDynamicSessionInProgress       Error = 0x8032000B // FWP_E_DYNAMIC_SESSION_IN_PROGRESS
	ErrWrongSession                   Error = 0x8032000C // FWP_E_WRONG_SESSION
	ErrNoTxnInProgress                Error = 0x8032000D // FWP_E_NO_TXN_IN_PROGRESS
	ErrTxnInProgress                  Error = 0x8032000E // FWP_E_TXN_IN_PROGRESS
	ErrTxnAborted                     Error = 0x8032000F // FWP_E_TXN_ABORTED
	ErrSessionAborted                 Error = 0x80320010 // FWP_E_SESSION_ABORTED
	ErrIncompatibleTxn                Error = 0x80320011 // FWP_E_INCOMPATIBLE_TXN
	ErrTimeout                        Error = 0x80320012 // FWP_E_TIMEOUT
	ErrNetEventsDisabled              Error = 0x80320013 // FWP_E_NET_EVENTS_DISABLED
	ErrIncompatibleLayer              Error = 0x80320014 // FWP_E_INCOMPATIBLE_LAYER
	ErrKMClientsOnly                  Error = 0x80320015 // FWP_E_KM_CLIENTS_ONLY
	ErrLifetimeMismatch               Error = 0x80320016 // FWP_E_LIFETIME_MISMATCH
	ErrBuiltinObject                  Error = 0x80320017 // FWP_E_BUILTIN_OBJECT
	ErrTooManyCallouts                Error = 0x80320018 // FWP_E_TOO_MANY_CALLOUTS
	ErrNotificationDropped            Error = 0x80320019 // FWP_E_NOTIFICATION_DROPPED
	ErrTrafficMismatch                Error = 0x8032001A // FWP_E_TRAFFIC_MISMATCH
	ErrIncompatibleSAState            Error = 0x8032001B // FWP_E_INCOMPATIBLE_SA_STATE
	ErrNullPointer                    Error = 0x8032001C // FWP_E_NULL_POINTER
	ErrInvalidEnumerator              Error = 0x8032001D // FWP_E_INVALID_ENUMERATOR
	ErrInvalidFlags                   Error = 0x8032001E // FWP_E_INVALID_FLAGS
	ErrInvalidNetMask                 Error = 0x8032001F // FWP_E_INVALID_NET_MASK
	ErrInvalidRange                   Error = 0x80320020 // FWP_E_INVALID_RANGE
	ErrInvalidInterval                Error = 0x80320021 // FWP_E_INVALID_INTERVAL
	ErrZeroLengthArray                Error = 0x80320022 // FWP_E_ZERO_LENGTH_ARRAY
	ErrNullDisplayName                Error = 0x80320023 // FWP_E_NULL_DISPLAY_NAME
	ErrInvalidActionType              Error = 0x80320024 // FWP_E_INVALID_ACTION_TYPE
	ErrInvalidWeight                  Error = 0x80320025 // FWP_E_INVALID_WEIGHT
	ErrMatchTypeMismatch              Error = 0x80320026 // FWP_E_MATCH_TYPE_MISMATCH
	ErrTypeMismatch                   Error = 0x80320027 // FWP_E_TYPE_MISMATCH
	ErrOutOfBounds                    Error = 0x80320028 // FWP_E_OUT_OF_BOUNDS
	ErrReserved                       Error = 0x80320029 // FWP_E_RESERVED
	ErrDuplicateCondition             Error = 0x8032002A // FWP_E_DUPLICATE_CONDITION
	ErrDuplicateKeymod                Error = 0x8032002B // FWP_E_DUPLICATE_KEYMOD
	ErrActionIncompatibleWithLayer    Error = 0x8032002C // FWP_E_ACTION_INCOMPATIBLE_WITH_LAYER
	ErrActionIncompatibleWithSublayer Error = 0x8032002D // FWP_E_ACTION_INCOMPATIBLE_WITH_SUBLAYER
	ErrContextIncompatibleWithLayer   Error = 0x8032002E // FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER
	ErrContextIncompatibleWithCallout Error = 0x8032002F // FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT
	ErrIncompatibleAuthMethod         Error = 0x80320030 // FWP_E_INCOMPATIBLE_AUTH_METHOD
	ErrIncompatibleDHGroup            Error = 0x80320031 // FWP_E_INCOMPATIBLE_DH_GROUP
	ErrEMNotSupported                 Error = 0x80320032 // FWP_E_EM_NOT_SUPPORTED
	ErrNeverMatch                     Error = 0x80320033 // FWP_E_NEVER_MATCH
	ErrProviderContextMismatch        Error = 0x80320034 // FWP_E_PROVIDER_CONTEXT_MISMATCH
	ErrInvalidParameter               Error = 0x80320035 // FWP_E_INVALID_PARAMETER
	ErrTooManySublayers               Error = 0x80320036 // FWP_E_TOO_MANY_SUBLAYERS
	ErrCalloutNotificationFailed      Error = 0x80320037 // FWP_E_CALLOUT_NOTIFICATION_FAILED
	ErrInvalidAuthTransform           Error = 0x80320038 // FWP_E_INVALID_AUTH_TRANSFORM
	ErrInvalidCipherTransform         Error = 0x80320039 // FWP_E_INVALID_CIPHER_TRANSFORM
)

// Win32 status codes the functions return (returned as the plain DWORD).
const (
	ErrorAccessDenied                Error = 5          // ERROR_ACCESS_DENIED
	ErrorInvalidHandle               Error = 6          // ERROR_INVALID_HANDLE
	ErrorNotEnoughMemory             Error = 8          // ERROR_NOT_ENOUGH_MEMORY
	ErrorOutOfMemory                 Error = 14         // ERROR_OUTOFMEMORY
	ErrorInvalidParameter            Error = 87         // ERROR_INVALID_PARAMETER
	ErrorCallNotImplemented          Error = 120        // ERROR_CALL_NOT_IMPLEMENTED
	ErrorInsufficientBuffer          Error = 122        // ERROR_INSUFFICIENT_BUFFER
	ErrorNoMoreItems                 Error = 259        // ERROR_NO_MORE_ITEMS
	ErrorServiceNotActive            Error = 1062       // ERROR_SERVICE_NOT_ACTIVE
	ErrorNotFound                    Error = 1168       // ERROR_NOT_FOUND
	ErrorInvalidSecurityDescr        Error = 1338       // ERROR_INVALID_SECURITY_DESCR
	ErrorInvalidSecurityDescrHRESULT Error = 0x8007053A // HRESULT_FROM_WIN32(ERROR_INVALID_SECURITY_DESCR), as FwpmFilterAdd0 documents it
	SecECannotInstall                Error = 0x80090307 // SEC_E_CANNOT_INSTALL
)

// RPC status codes: the engine could not be reached or the call did not
// complete. The client package maps transport failures onto these.
const (
	RPCSInvalidBinding      Error = 1702       // RPC_S_INVALID_BINDING
	RPCSUnknownIf           Error = 1717       // RPC_S_UNKNOWN_IF
	RPCSServerUnavailable   Error = 1722       // RPC_S_SERVER_UNAVAILABLE
	RPCSServerTooBusy       Error = 1723       // RPC_S_SERVER_TOO_BUSY
	RPCSCallFailed          Error = 1726       // RPC_S_CALL_FAILED
	RPCSCallFailedDNE       Error = 1727       // RPC_S_CALL_FAILED_DNE
	RPCSUnknownAuthnService Error = 1747       // RPC_S_UNKNOWN_AUTHN_SERVICE
	EPTSNotRegistered       Error = 1753       // EPT_S_NOT_REGISTERED
	RPCSCannotSupport       Error = 1764       // RPC_S_CANNOT_SUPPORT
	RPCXNullRefPointer      Error = 1780       // RPC_X_NULL_REF_POINTER
	RPCXBadStubData         Error = 1783       // RPC_X_BAD_STUB_DATA
	RPCECallRejected        Error = 0x80010001 // RPC_E_CALL_REJECTED
	RPCECallCanceled        Error = 0x80010002 // RPC_E_CALL_CANCELED
	RPCEServerDied          Error = 0x80010007 // RPC_E_SERVER_DIED
	RPCEServerDiedDNE       Error = 0x80010012 // RPC_E_SERVER_DIED_DNE
	RPCESysCallFailed       Error = 0x80010100 // RPC_E_SYS_CALL_FAILED
	RPCEServerFault         Error = 0x80010105 // RPC_E_SERVERFAULT
	RPCEDisconnected        Error = 0x80010108 // RPC_E_DISCONNECTED
	RPCEAccessDenied        Error = 0x8001011B // RPC_E_ACCESS_DENIED
	RPCETimeout             Error = 0x8001011F // RPC_E_TIMEOUT
	RPCEInvalidStdName      Error = 0x80010122 // RPC_E_INVALID_STD_NAME
)

// ErrInternal is what Code reports for an error that carries no status code.
// It is RPC_E_SERVERFAULT: the server failed in a way the API does not name.
const ErrInternal = RPCEServerFault

type errInfo struct{ name, msg string }

var errorInfo = map[Error]errInfo{
	ErrCalloutNotFound:                {"FWP_E_CALLOUT_NOT_FOUND", "The callout does not exist."},
	ErrConditionNotFound:              {"FWP_E_CONDITION_NOT_FOUND", "The filter condition does not exist."},
	ErrFilterNotFound:                 {"FWP_E_FILTER_NOT_FOUND", "The filter does not exist."},
	ErrLayerNotFound:                  {"FWP_E_LAYER_NOT_FOUND", "The layer does not exist."},
	ErrProviderNotFound:               {"FWP_E_PROVIDER_NOT_FOUND", "The provider does not exist."},
	ErrProviderContextNotFound:        {"FWP_E_PROVIDER_CONTEXT_NOT_FOUND", "The provider context does not exist."},
	ErrSublayerNotFound:               {"FWP_E_SUBLAYER_NOT_FOUND", "The sublayer does not exist."},
	ErrNotFound:                       {"FWP_E_NOT_FOUND", "The object does not exist."},
	ErrAlreadyExists:                  {"FWP_E_ALREADY_EXISTS", "An object with that GUID or LUID already exists."},
	ErrInUse:                          {"FWP_E_IN_USE", "The object is referenced by other objects so cannot be deleted."},
	ErrDynamicSessionInProgress:       {"FWP_E_DYNAMIC_SESSION_IN_PROGRESS", "The call is not allowed from within a dynamic session."},
	ErrWrongSession:                   {"FWP_E_WRONG_SESSION", "The call was made from the wrong session so cannot be completed."},
	ErrNoTxnInProgress:                {"FWP_E_NO_TXN_IN_PROGRESS", "The call must be made from within an explicit transaction."},
	ErrTxnInProgress:                  {"FWP_E_TXN_IN_PROGRESS", "The call is not allowed from within an explicit transaction."},
	ErrTxnAborted:                     {"FWP_E_TXN_ABORTED", "The explicit transaction has been forcibly cancelled."},
	ErrSessionAborted:                 {"FWP_E_SESSION_ABORTED", "The session has been cancelled."},
	ErrIncompatibleTxn:                {"FWP_E_INCOMPATIBLE_TXN", "The call is not allowed from within a read-only transaction."},
	ErrTimeout:                        {"FWP_E_TIMEOUT", "The call timed out while waiting to acquire the transaction lock."},
	ErrNetEventsDisabled:              {"FWP_E_NET_EVENTS_DISABLED", "Collection of network diagnostic events is disabled."},
	ErrIncompatibleLayer:              {"FWP_E_INCOMPATIBLE_LAYER", "The operation is not supported by the specified layer."},
	ErrKMClientsOnly:                  {"FWP_E_KM_CLIENTS_ONLY", "The call is allowed for kernel-mode callers only."},
	ErrLifetimeMismatch:               {"FWP_E_LIFETIME_MISMATCH", "The call tried to associate two objects with incompatible lifetimes."},
	ErrBuiltinObject:                  {"FWP_E_BUILTIN_OBJECT", "The object is built in so cannot be deleted."},
	ErrTooManyCallouts:                {"FWP_E_TOO_MANY_CALLOUTS", "The maximum number of callouts has been reached."},
	ErrNotificationDropped:            {"FWP_E_NOTIFICATION_DROPPED", "A notification could not be delivered because a message queue is at its maximum capacity."},
	ErrTrafficMismatch:                {"FWP_E_TRAFFIC_MISMATCH", "The traffic parameters do not match those for the security association context."},
	ErrIncompatibleSAState:            {"FWP_E_INCOMPATIBLE_SA_STATE", "The call is not allowed for the current security association state."},
	ErrNullPointer:                    {"FWP_E_NULL_POINTER", "A required pointer is null."},
	ErrInvalidEnumerator:              {"FWP_E_INVALID_ENUMERATOR", "An enumerator is not valid."},
	ErrInvalidFlags:                   {"FWP_E_INVALID_FLAGS", "The flags field contains an invalid value."},
	ErrInvalidNetMask:                 {"FWP_E_INVALID_NET_MASK", "A network mask is not valid."},
	ErrInvalidRange:                   {"FWP_E_INVALID_RANGE", "An FWP_RANGE is not valid."},
	ErrInvalidInterval:                {"FWP_E_INVALID_INTERVAL", "The time interval is not valid."},
	ErrZeroLengthArray:                {"FWP_E_ZERO_LENGTH_ARRAY", "An array that must contain at least one element is zero-length."},
	ErrNullDisplayName:                {"FWP_E_NULL_DISPLAY_NAME", "The displayData.name field cannot be null."},
	ErrInvalidActionType:              {"FWP_E_INVALID_ACTION_TYPE", "The action type is not one of the allowed action types for a filter."},
	ErrInvalidWeight:                  {"FWP_E_INVALID_WEIGHT", "The filter weight is not valid."},
	ErrMatchTypeMismatch:              {"FWP_E_MATCH_TYPE_MISMATCH", "A filter condition contains a match type that is not compatible with the operands."},
	ErrTypeMismatch:                   {"FWP_E_TYPE_MISMATCH", "An FWP_VALUE or FWPM_CONDITION_VALUE is of the wrong type."},
	ErrOutOfBounds:                    {"FWP_E_OUT_OF_BOUNDS", "An integer value is outside the allowed range."},
	ErrReserved:                       {"FWP_E_RESERVED", "A reserved field is nonzero."},
	ErrDuplicateCondition:             {"FWP_E_DUPLICATE_CONDITION", "A filter cannot contain multiple conditions operating on a single field."},
	ErrDuplicateKeymod:                {"FWP_E_DUPLICATE_KEYMOD", "A policy cannot contain the same keying module more than once."},
	ErrActionIncompatibleWithLayer:    {"FWP_E_ACTION_INCOMPATIBLE_WITH_LAYER", "The action type is not compatible with the layer."},
	ErrActionIncompatibleWithSublayer: {"FWP_E_ACTION_INCOMPATIBLE_WITH_SUBLAYER", "The action type is not compatible with the sublayer."},
	ErrContextIncompatibleWithLayer:   {"FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER", "The raw context or the provider context is not compatible with the layer."},
	ErrContextIncompatibleWithCallout: {"FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT", "The raw context or the provider context is not compatible with the callout."},
	ErrIncompatibleAuthMethod:         {"FWP_E_INCOMPATIBLE_AUTH_METHOD", "The authentication method is not compatible with the policy type."},
	ErrIncompatibleDHGroup:            {"FWP_E_INCOMPATIBLE_DH_GROUP", "The Diffie-Hellman group is not compatible with the policy type."},
	ErrEMNotSupported:                 {"FWP_E_EM_NOT_SUPPORTED", "An IKE policy cannot contain an Extended Mode policy."},
	ErrNeverMatch:                     {"FWP_E_NEVER_MATCH", "The enumeration template or subscription will never match any objects."},
	ErrProviderContextMismatch:        {"FWP_E_PROVIDER_CONTEXT_MISMATCH", "The provider context is of the wrong type."},
	ErrInvalidParameter:               {"FWP_E_INVALID_PARAMETER", "The parameter is incorrect."},
	ErrTooManySublayers:               {"FWP_E_TOO_MANY_SUBLAYERS", "The maximum number of sublayers has been reached."},
	ErrCalloutNotificationFailed:      {"FWP_E_CALLOUT_NOTIFICATION_FAILED", "The notification function for a callout returned an error."},
	ErrInvalidAuthTransform:           {"FWP_E_INVALID_AUTH_TRANSFORM", "The IPsec authentication transform is not valid."},
	ErrInvalidCipherTransform:         {"FWP_E_INVALID_CIPHER_TRANSFORM", "The IPsec cipher transform is not valid."},

	ErrorAccessDenied:                {"ERROR_ACCESS_DENIED", "Access is denied."},
	ErrorInvalidHandle:               {"ERROR_INVALID_HANDLE", "The handle is invalid."},
	ErrorNotEnoughMemory:             {"ERROR_NOT_ENOUGH_MEMORY", "Not enough memory resources are available to process this command."},
	ErrorOutOfMemory:                 {"ERROR_OUTOFMEMORY", "Not enough memory resources are available to complete this operation."},
	ErrorInvalidParameter:            {"ERROR_INVALID_PARAMETER", "The parameter is incorrect."},
	ErrorCallNotImplemented:          {"ERROR_CALL_NOT_IMPLEMENTED", "This function is not supported on this system."},
	ErrorInsufficientBuffer:          {"ERROR_INSUFFICIENT_BUFFER", "The data area passed to a system call is too small."},
	ErrorNoMoreItems:                 {"ERROR_NO_MORE_ITEMS", "No more data is available."},
	ErrorServiceNotActive:            {"ERROR_SERVICE_NOT_ACTIVE", "The service has not been started."},
	ErrorNotFound:                    {"ERROR_NOT_FOUND", "Element not found."},
	ErrorInvalidSecurityDescr:        {"ERROR_INVALID_SECURITY_DESCR", "The security descriptor structure is invalid."},
	ErrorInvalidSecurityDescrHRESULT: {"ERROR_INVALID_SECURITY_DESCR", "The security descriptor structure is invalid."},
	SecECannotInstall:                {"SEC_E_CANNOT_INSTALL", "The security package failed to initialize and cannot be installed."},

	RPCSInvalidBinding:      {"RPC_S_INVALID_BINDING", "The binding handle is invalid."},
	RPCSUnknownIf:           {"RPC_S_UNKNOWN_IF", "The interface is unknown."},
	RPCSServerUnavailable:   {"RPC_S_SERVER_UNAVAILABLE", "The RPC server is unavailable."},
	RPCSServerTooBusy:       {"RPC_S_SERVER_TOO_BUSY", "The RPC server is too busy to complete this operation."},
	RPCSCallFailed:          {"RPC_S_CALL_FAILED", "The remote procedure call failed."},
	RPCSCallFailedDNE:       {"RPC_S_CALL_FAILED_DNE", "The remote procedure call failed and did not execute."},
	RPCSUnknownAuthnService: {"RPC_S_UNKNOWN_AUTHN_SERVICE", "The authentication service is unknown."},
	EPTSNotRegistered:       {"EPT_S_NOT_REGISTERED", "There are no more endpoints available from the endpoint mapper."},
	RPCSCannotSupport:       {"RPC_S_CANNOT_SUPPORT", "The requested operation is not supported."},
	RPCXNullRefPointer:      {"RPC_X_NULL_REF_POINTER", "A null reference pointer was passed to the stub."},
	RPCXBadStubData:         {"RPC_X_BAD_STUB_DATA", "The stub received bad data."},
	RPCECallRejected:        {"RPC_E_CALL_REJECTED", "Call was rejected by callee."},
	RPCECallCanceled:        {"RPC_E_CALL_CANCELED", "Call was canceled by the message filter."},
	RPCEServerDied:          {"RPC_E_SERVER_DIED", "The callee (server [not server application]) is not available and disappeared; all connections are invalid. The call may have executed."},
	RPCEServerDiedDNE:       {"RPC_E_SERVER_DIED_DNE", "The callee (server [not server application]) is not available and disappeared; all connections are invalid. The call did not execute."},
	RPCESysCallFailed:       {"RPC_E_SYS_CALL_FAILED", "System call failed."},
	RPCEServerFault:         {"RPC_E_SERVERFAULT", "The server threw an exception."},
	RPCEDisconnected:        {"RPC_E_DISCONNECTED", "The object invoked has disconnected from its clients."},
	RPCEAccessDenied:        {"RPC_E_ACCESS_DENIED", "Access is denied."},
	RPCETimeout:             {"RPC_E_TIMEOUT", "This operation returned because the timeout period expired."},
	RPCEInvalidStdName:      {"RPC_E_INVALID_STD_NAME", "A invalid standard name was given."},
}

// AllErrors returns every code this package defines, in numeric order.
func AllErrors() []Error {
	out := make([]Error, 0, len(errorInfo))
	for e := range errorInfo {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}
