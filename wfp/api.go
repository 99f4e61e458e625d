package wfp

// EnumHandle is an enumeration handle (a HANDLE returned by a
// *CreateEnumHandle0 function). The zero value is never a valid handle.
type EnumHandle uint64

// SubscriptionHandle is the handle of an SA-context change subscription.
// Unsubscribing the zero value does nothing.
type SubscriptionHandle uint64

// KeyManagerHandle is the handle of a key manager registration.
type KeyManagerHandle uint64

// API is one open session to a filter engine: every WFP IPsec SA-context
// function, named and behaving as documented by Microsoft, with the engine
// handle replaced by the receiver. Results come back as Go values; functions
// that return arrays return slices. Freeing results is optional: what is not
// given back with FwpmFreeMemory0 is garbage collected. Every
// error is a wfp.Error, possibly wrapped with detail (see Errorf); use
// errors.Is to test it.
//
// The engine package implements API in process; the client package
// implements it over RPC to sadbd. An API value is safe for concurrent use;
// calls on one session share its transaction, as on Windows.
type API interface {
	// Session

	// FwpmEngineClose0 closes the session: an open transaction is aborted,
	// its subscriptions end, enumeration handles are freed and, for a
	// dynamic session, the objects it added are deleted. Later calls fail
	// with ERROR_INVALID_HANDLE.
	FwpmEngineClose0() error
	// Session returns the session's FWPM_SESSION0 as the engine filled it in.
	Session() FwpmSession0

	// Transactions

	FwpmTransactionBegin0(flags uint32) error
	FwpmTransactionCommit0() error
	FwpmTransactionAbort0() error

	// Security of the engine object and of the IPsec SA database

	FwpmEngineGetSecurityInfo0(securityInfo SecurityInformation) (*SecurityDescriptor, error)
	FwpmEngineSetSecurityInfo0(securityInfo SecurityInformation, owner, group *SID, dacl *ACL) error
	IPsecSaDbGetSecurityInfo0(securityInfo SecurityInformation) (*SecurityDescriptor, error)
	IPsecSaDbSetSecurityInfo0(securityInfo SecurityInformation, owner, group *SID, dacl *ACL) error

	// Filters: the IPsec filters SA contexts refer to

	FwpmFilterAdd0(filter *FwpmFilter0, sd *SecurityDescriptor) (id uint64, err error)
	FwpmFilterDeleteById0(id uint64) error
	FwpmFilterGetById0(id uint64) (*FwpmFilter0, error)
	FwpmFilterCreateEnumHandle0(enumTemplate *FwpmFilterEnumTemplate0) (EnumHandle, error)
	FwpmFilterEnum0(enumHandle EnumHandle, numEntriesRequested uint32) ([]*FwpmFilter0, error)
	FwpmFilterDestroyEnumHandle0(enumHandle EnumHandle) error

	// SA contexts

	IPsecSaContextCreate0(outboundTraffic *IPsecTraffic0) (id uint64, inboundFilterID uint64, err error)
	IPsecSaContextCreate1(outboundTraffic *IPsecTraffic1, virtualIfTunnelInfo *IPsecVirtualIfTunnelInfo0) (id uint64, inboundFilterID uint64, err error)
	IPsecSaContextGetSpi0(id uint64, getSpi *IPsecGetSPI0) (inboundSpi uint32, err error)
	IPsecSaContextGetSpi1(id uint64, getSpi *IPsecGetSPI1) (inboundSpi uint32, err error)
	IPsecSaContextSetSpi0(id uint64, getSpi *IPsecGetSPI1, inboundSpi uint32) error
	IPsecSaContextAddInbound0(id uint64, inboundBundle *IPsecSABundle0) error
	IPsecSaContextAddInbound1(id uint64, inboundBundle *IPsecSABundle1) error
	IPsecSaContextAddOutbound0(id uint64, outboundBundle *IPsecSABundle0) error
	IPsecSaContextAddOutbound1(id uint64, outboundBundle *IPsecSABundle1) error
	IPsecSaContextUpdate0(flags uint64, newValues *IPsecSAContext1) error
	IPsecSaContextExpire0(id uint64) error
	IPsecSaContextDeleteById0(id uint64) error
	IPsecSaContextGetById0(id uint64) (*IPsecSAContext0, error)
	IPsecSaContextGetById1(id uint64) (*IPsecSAContext1, error)
	IPsecSaContextCreateEnumHandle0(enumTemplate *IPsecSAContextEnumTemplate0) (EnumHandle, error)
	IPsecSaContextEnum0(enumHandle EnumHandle, numEntriesRequested uint32) ([]*IPsecSAContext0, error)
	IPsecSaContextEnum1(enumHandle EnumHandle, numEntriesRequested uint32) ([]*IPsecSAContext1, error)
	IPsecSaContextDestroyEnumHandle0(enumHandle EnumHandle) error

	// SA-context change subscriptions

	IPsecSaContextSubscribe0(subscription *IPsecSAContextSubscription0, callback IPsecSAContextCallback0) (SubscriptionHandle, error)
	IPsecSaContextUnsubscribe0(eventsHandle SubscriptionHandle) error
	IPsecSaContextSubscriptionsGet0() ([]*IPsecSAContextSubscription0, error)

	// SAs

	IPsecSaCreateEnumHandle0(enumTemplate *IPsecSAEnumTemplate0) (EnumHandle, error)
	IPsecSaEnum0(enumHandle EnumHandle, numEntriesRequested uint32) ([]*IPsecSADetails0, error)
	IPsecSaEnum1(enumHandle EnumHandle, numEntriesRequested uint32) ([]*IPsecSADetails1, error)
	IPsecSaDestroyEnumHandle0(enumHandle EnumHandle) error

	// Statistics

	IPsecGetStatistics0() (*IPsecStatistics0, error)
	IPsecGetStatistics1() (*IPsecStatistics1, error)

	// Key managers (trusted intermediary agents)

	IPsecKeyManagerAddAndRegister0(keyManager *IPsecKeyManager0, keyManagerCallbacks *IPsecKeyManagerCallbacks0) (KeyManagerHandle, error)
	IPsecKeyManagerUnregisterAndDelete0(keyMgmtHandle KeyManagerHandle) error
	IPsecKeyManagersGet0() ([]*IPsecKeyManager0, error)

	// Memory

	// FwpmFreeMemory0 gives a result back, as a C caller does with every
	// result of these functions. p is the address of the variable holding
	// it (WFP's void**): an Enum page (&page), a GetById context (&sc), or
	// any other result. The key material in it is zeroed, the variable and
	// a page's elements are set to nil, and the implementation may reuse
	// the memory for a later result, so no part of the result may be used
	// afterwards. Calling it is optional: a result not freed is garbage
	// collected. nil, a result freed before and values no function returned
	// are left alone. See FreeMemory for the types taken.
	FwpmFreeMemory0(p any)
}
