package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sadb-dev/sadb/clock"
	"github.com/sadb-dev/sadb/internal/datapath"
	"github.com/sadb-dev/sadb/wfp"
)

// Options configure an Engine. The zero value is a usable in-memory engine on
// the system clock with the default descriptors.
type Options struct {
	// Clock is the time source for lifetimes, the expire linger and the
	// transaction lock timeout. Nil: clock.System().
	Clock clock.Clock
	// EngineSD is the initial security descriptor of the engine object (nil:
	// owner uid:0, GENERIC_ALL to uid:0, OPEN|CLASSIFY to everyone).
	EngineSD *wfp.SecurityDescriptor
	// SADBSD is the initial descriptor of the IPsec SA database (nil: owner
	// uid:0, GENERIC_ALL to uid:0).
	SADBSD *wfp.SecurityDescriptor
	// SPIMin and SPIMax bound the inbound SPIs GetSpi hands out and SetSpi
	// accepts. Zero: [256, 0xFFFFFFFF]. SPIMin below 256 is raised to 256.
	SPIMin, SPIMax uint32
	// ExpireLinger is how long an expired context keeps its inbound SA
	// (zero: 60 s, as IPsecSaContextExpire0 documents).
	ExpireLinger time.Duration
	// TxnLockTimeout is how long an explicit transaction may hold the lock
	// before it is forcibly aborted (zero: one hour, WFP's user-mode value).
	TxnLockTimeout time.Duration
	// Store persists committed state. Nil: nothing is persisted.
	Store Store
	// Datapath carries the traffic the SA contexts protect; the engine
	// programs it as part of each commit. Nil: no packets (datapath.None).
	Datapath datapath.Backend
	// Logger receives operational messages (never key material). Nil:
	// discard.
	Logger *slog.Logger
}

// Engine is the Base Filtering Engine of sadb: the SA database, filters,
// sessions, transactions, access control and subscriptions. Open sessions
// with FwpmEngineOpen0. An Engine is safe for concurrent use.
type Engine struct {
	clk            clock.Clock
	log            *slog.Logger
	spiMin, spiMax uint32
	linger         time.Duration
	lockTimeout    time.Duration
	store          Store
	dp             datapath.Backend // nil: no data path

	gate    txnLock
	ctxs    saTable
	spis    spiTable
	nextCtx atomic.Uint64
	filters filterTable

	engineSD atomic.Pointer[wfp.SecurityDescriptor]
	sadbSD   atomic.Pointer[wfp.SecurityDescriptor]

	sessMu   sync.Mutex // guards sessions and closed
	sessions map[wfp.GUID]*session
	closed   bool

	nextHandle atomic.Uint64
	nextSlot   atomic.Uint32

	bus    eventBus
	kms    keyManagers
	timers timers
	reuse  reuse // when a deleted context's memory may be reused

	// Pools of the enumeration pages callers give back.
	ctxPages *ctxPages
	saPages  *saPages

	// storeFailed is set when the store failed to commit; writes are then
	// refused until restart, since memory and disk may disagree.
	storeFailed atomic.Bool
}

// The kernel token runs the engine's own work (expiry) past access checks.
var kernelToken = wfp.Token{User: "kernel", KernelMode: true}

// DefaultEngineSD is the engine descriptor used when Options.EngineSD is nil.
func DefaultEngineSD() *wfp.SecurityDescriptor {
	return &wfp.SecurityDescriptor{Owner: wfp.UserSID(0), Group: wfp.GroupSID(0), DACL: &wfp.ACL{
		{Type: wfp.AccessAllowed, Mask: wfp.FwpmGenericAll, SID: wfp.UserSID(0)},
		{Type: wfp.AccessAllowed, Mask: wfp.ActrlOpen | wfp.ActrlClassify, SID: wfp.Everyone},
	}}
}

// DefaultSADBSD is the SA database descriptor used when Options.SADBSD is nil.
func DefaultSADBSD() *wfp.SecurityDescriptor {
	return &wfp.SecurityDescriptor{Owner: wfp.UserSID(0), Group: wfp.GroupSID(0), DACL: &wfp.ACL{
		{Type: wfp.AccessAllowed, Mask: wfp.FwpmGenericAll, SID: wfp.UserSID(0)},
	}}
}

// New returns an engine. With a Store it loads the committed state first.
func New(opts Options) (*Engine, error) {
	e := &Engine{
		clk:         opts.Clock,
		log:         opts.Logger,
		spiMin:      opts.SPIMin,
		spiMax:      opts.SPIMax,
		linger:      opts.ExpireLinger,
		lockTimeout: opts.TxnLockTimeout,
		store:       opts.Store,
		dp:          opts.Datapath,
		sessions:    make(map[wfp.GUID]*session),
		ctxPages:    newCtxPages(),
		saPages:     newSAPages(),
	}
	if e.clk == nil {
		e.clk = clock.System()
	}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if e.spiMin < minSPI {
		e.spiMin = minSPI
	}
	if e.spiMax == 0 {
		e.spiMax = 0xFFFFFFFF
	}
	if e.spiMax < e.spiMin {
		return nil, fmt.Errorf("engine: SPI range [%d, %d] is empty", e.spiMin, e.spiMax)
	}
	if e.linger == 0 {
		e.linger = 60 * time.Second
	}
	if e.lockTimeout == 0 {
		e.lockTimeout = time.Hour
	}
	for _, sd := range []*wfp.SecurityDescriptor{opts.EngineSD, opts.SADBSD} {
		if sd != nil {
			if err := validateSD(sd); err != nil {
				return nil, fmt.Errorf("engine: initial security descriptor: %w", err)
			}
		}
	}
	if opts.EngineSD != nil {
		e.engineSD.Store(normalizeSD(opts.EngineSD))
	} else {
		e.engineSD.Store(DefaultEngineSD())
	}
	if opts.SADBSD != nil {
		e.sadbSD.Store(normalizeSD(opts.SADBSD))
	} else {
		e.sadbSD.Store(DefaultSADBSD())
	}
	e.gate.init()
	e.spis.init()
	e.filters.init()
	e.bus.init(e)
	e.timers.init(e)
	if _, none := e.dp.(datapath.None); none {
		e.dp = nil
	}
	if e.dp != nil {
		e.dp.SetHandler(e.onDatapathEvent)
	}
	if e.store != nil {
		if err := e.load(); err != nil {
			e.bus.close()
			return nil, err
		}
	}
	e.programAll()
	return e, nil
}

// Close closes every session and stops the engine's goroutines. The store
// is not closed; its owner closes it.
func (e *Engine) Close() error {
	e.sessMu.Lock()
	if e.closed {
		e.sessMu.Unlock()
		return nil
	}
	e.closed = true
	ss := make([]*session, 0, len(e.sessions))
	for _, s := range e.sessions {
		ss = append(ss, s)
	}
	e.sessMu.Unlock()
	for _, s := range ss {
		_ = s.FwpmEngineClose0()
	}
	e.timers.stop()
	e.bus.close()
	return nil
}

// FwpmEngineOpen0 opens a session for the caller identified by tok. session
// may be nil. The returned API is the session; close it with
// FwpmEngineClose0.
func (e *Engine) FwpmEngineOpen0(tok wfp.Token, session *wfp.FwpmSession0) (wfp.API, error) {
	return e.open(tok, session)
}

func (e *Engine) open(tok wfp.Token, in *wfp.FwpmSession0) (*session, error) {
	var sess wfp.FwpmSession0
	if in != nil {
		sess = *in
	}
	const validFlags = wfp.SessionFlagDynamic | wfp.SessionFlagReserved | wfp.SessionFlagKeyMaterial
	if sess.Flags&^validFlags != 0 {
		return nil, wfp.Errorf(wfp.ErrInvalidFlags, "session flags 0x%X include undefined bits", sess.Flags&^validFlags)
	}
	if !tok.KernelMode && !tok.User.Valid() {
		return nil, wfp.Errorf(wfp.ErrorAccessDenied, "caller has no valid identity")
	}
	if sd := e.engineSD.Load(); !tok.KernelMode && !tok.IsAdmin() && !(sd.Owner != "" && tok.Has(sd.Owner)) && !accessCheck(sd, &tok, wfp.ActrlOpen) {
		return nil, wfp.Errorf(wfp.ErrorAccessDenied, "FWPM_ACTRL_OPEN on the engine is not granted to %s", tok.User)
	}
	if sess.SessionKey.IsZero() {
		sess.SessionKey = wfp.NewGUID()
	}
	sess.ProcessID = tok.ProcessID
	if sess.ProcessID == 0 && tok.KernelMode {
		sess.ProcessID = uint32(os.Getpid())
	}
	sess.SID = tok.User
	sess.Username = string(tok.User)
	sess.KernelMode = tok.KernelMode

	s := &session{e: e, tok: tok, info: sess, handles: make(map[uint64]any)}
	s.tok.Groups = append([]wfp.SID(nil), tok.Groups...)
	s.dynamic = sess.Flags&wfp.SessionFlagDynamic != 0
	s.wait = txnWait(sess.TxnWaitTimeoutInMSec)
	s.slot = int(e.nextSlot.Add(1))

	e.sessMu.Lock()
	defer e.sessMu.Unlock()
	if e.closed {
		return nil, wfp.Errorf(wfp.ErrorServiceNotActive, "the engine is shut down")
	}
	if _, dup := e.sessions[sess.SessionKey]; dup {
		return nil, wfp.Errorf(wfp.ErrAlreadyExists, "a session with key %s is already open", sess.SessionKey)
	}
	e.sessions[sess.SessionKey] = s
	return s, nil
}

func txnWait(ms uint32) time.Duration {
	switch ms {
	case 0:
		return 15 * time.Second
	case 0xFFFFFFFF:
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

// restoreCtx puts version old (nil: none) back as context id's, if the table
// still holds installed (nil: none), the version a transaction being rolled
// back put there. If another transaction changed or deleted the context
// since, its change stands: implicit calls on one context run one after
// another, not inside each other's transactions, and a version another
// transaction replaced may already be given back (see reuse.go).
func (e *Engine) restoreCtx(id uint64, installed, old *saCtx) {
	sh := e.ctxs.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m.get(id) != installed {
		e.log.Warn("rollback left an SA context as a later change made it", "id", id)
		return
	}
	sh.replaceLocked(id, installed, old)
}

// putCtxRaw stores c as the current version of context id (nil removes it)
// and returns the previous version.
func (e *Engine) putCtxRaw(id uint64, c *saCtx) *saCtx {
	sh := e.ctxs.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	prev := sh.m.get(id)
	sh.replaceLocked(id, prev, c)
	return prev
}

// runPost runs one post-commit action.
func (e *Engine) runPost(a *postAction) {
	switch a.kind {
	case postZeroKeys:
		a.b.zeroKeys()
	case postKeyNotify:
		e.kms.notify(e, a.id)
	case postSchedule:
		e.timers.schedule(a.id)
	case postSAsAdded:
		sh := e.ctxs.shard(a.id)
		sh.added.Add(uint64(a.n))
		sh.active.Add(int64(a.n))
	case postSAsDeleted:
		sh := e.ctxs.shard(a.id)
		sh.deleted.Add(uint64(a.n))
		sh.active.Add(-int64(a.n))
	case postReleaseSPI:
		e.spis.release(a.spi, a.id)
	case postUnrefFilter:
		if f := e.filters.get(a.id); f != nil {
			f.addRef(int(a.spi), -1)
		}
	case postUnschedule:
		e.timers.unschedule(a.ts)
	case postGiveRoom:
		e.reuse.giveRoom(a.room)
	case postGiveBack:
		e.reuse.giveCtx(a.ts)
	}
}

// errStoreFailed is returned for writes after the store failed.
var errStoreFailed = errors.New("engine: the store failed earlier; restart to recover")

// Stats is a snapshot of the engine for operators (metrics); it is not part
// of the WFP API.
type Stats struct {
	ContextsByState map[wfp.SAContextState]int
	Filters         int
	Sessions        int
	Subscriptions   int
	KeyManagers     int
	ActiveSAs       int64
	SAsAdded        uint64
	SAsDeleted      uint64
}

// Stats counts what the engine holds. It walks the SA contexts, so it costs
// time proportional to their number.
func (e *Engine) Stats() Stats {
	st := Stats{ContextsByState: map[wfp.SAContextState]int{}}
	e.ctxs.each(func(c *saCtx) { st.ContextsByState[c.state]++ })
	st.Filters = e.filters.count()
	e.sessMu.Lock()
	st.Sessions = len(e.sessions)
	e.sessMu.Unlock()
	st.Subscriptions = int(e.bus.nsubs.Load())
	st.KeyManagers = int(e.kms.n.Load())
	t := &e.ctxs
	st.ActiveSAs = t.sum(func(sh *saShard) int64 { return sh.active.Load() })
	st.SAsAdded = uint64(t.sum(func(sh *saShard) int64 { return int64(sh.added.Load()) }))
	st.SAsDeleted = uint64(t.sum(func(sh *saShard) int64 { return int64(sh.deleted.Load()) }))
	return st
}
