package worker

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/boundedset"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/metrics"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/views"
)

// Router delivers a cross-chain request to the worker that owns its target chain: the
// recipient for an update, the sender for a confirmation. It may be this worker.
type Router interface {
	RouteCrossChain(ctx context.Context, req *protocol.CrossChainRequest) error
}

// Config holds a worker's dependencies.
type Config struct {
	Storage *storage.Storage
	// Signer signs votes; nil makes a client's local node that never votes.
	Signer crypto.Signer
	Clock  base.Clock
	Logger *slog.Logger
	// Notify receives notifications; it must not block for long. May be nil.
	Notify func(protocol.Notification)
	// Router delivers cross-chain requests; nil delivers them to this worker.
	Router Router
	// MaxLoadedChains bounds the map of loaded chains (default 10,000).
	MaxLoadedChains int
	// Loader runs user applications (the Wasm VM); nil refuses user operations.
	Loader execution.ApplicationLoader
	// GracePeriod is how far in the future a proposal's timestamp may be (default 500 ms).
	GracePeriod base.TimeDelta
	// HTTP performs applications' HTTP requests (default: an HTTPPerformer identified by
	// the hex of the signer's public key, or "client" without a signer).
	HTTP execution.HTTPPerformer
	// Metrics counts blocks, votes, certificates and failures (nil: not counted). The
	// shards of one process share one set.
	Metrics *metrics.Validator
	// BundleWait bounds how long a proposal waits for a bundle whose delivery is under
	// way on this worker before refusing it as missing (default DefaultBundleWait;
	// negative: never wait). See bundlewait.go.
	BundleWait time.Duration
	// PendingBundleBytes: the worker's answers are encoded for the network before anyone
	// reads them (a validator's shards), so it gives pending bundles as their stored
	// bytes (protocol.ChainInfo.SetPendingBundleBytes) instead of decoding them; a
	// caller in the process reads them with ChainInfo.PendingBundles. Off (a client's
	// local node, the simulator), RequestedPendingBundles holds them. See pendingraw.go.
	PendingBundleBytes bool
}

// Worker is the validator core for a set of chains. It is safe for concurrent use.
type Worker struct {
	cfg      Config
	log      *slog.Logger
	mu       sync.Mutex
	chains   map[base.ChainID]*chainEntry
	verified *boundedset.Set[base.Hash]
	keys     *crypto.Verifier // expanded validator keys for certificates; cfg.Signer's signatures
	// owners keeps the expanded keys of proposal signers. It is apart from keys so that
	// proposals signed by many keys cannot evict the validators' keys.
	owners     *crypto.Verifier
	committees *committeeCache
	wanted     *wantedBlobs
	recent     *recentCertificates // confirmed here lately, for delivery
	held       heldBlocks          // blocks executed here lately, for decoding (certreuse.go)
	values     *encodedValues      // manager values' encodings for answers (encodedinfo.go)
	listings   *keptListings       // pending-bundle listings for answers (pendingkept.go)

	// afterEntry, if set (by tests), runs between finding a chain's entry and locking it.
	afterEntry func(base.ChainID)
	// onBundleWait, if set (by tests), runs when a proposal starts waiting for the
	// delivery from sender to recipient.
	onBundleWait func(sender, recipient base.ChainID)
	// beforeDeliver, if set (by tests), runs before a delivery pass of a pair.
	beforeDeliver func(sender, recipient base.ChainID)

	outMu sync.Mutex
	// pending holds the (sender, recipient) pairs with undelivered bundles that wait for
	// a delivery pass, and queue the same pairs in the order they were queued.
	pending map[deliveryKey]struct{}
	queue   []deliveryKey
	// inflight holds the pairs being delivered. Invariant: a pair is delivered by at
	// most one goroutine at a time, so its heights arrive in order.
	inflight map[deliveryKey]struct{}
	failures map[deliveryKey]deliveryFailure
	kick     chan struct{}
	// waiters holds, per bundle, the proposals waiting for its delivery (bundlewait.go).
	// Invariant: a bundle has waiters only while proposal handlers wait for it, so the
	// map is bounded by the requests in flight.
	waiters bundleWaiters
	// handling counts the confirmed certificates being handled, by chain and height.
	// Invariant: an entry lives only while handleConfirmed runs.
	handling map[chainHeight]int
	// running counts the Run loops delivering this worker's pairs.
	running atomic.Int32

	failLog failureLimiter // rate of failure log lines

	// reused counts the confirmed blocks applied from a kept execution (for tests).
	reused atomic.Uint64
	// decodeReused counts the certificates decoded with a held block (HeldBlockDecodes).
	decodeReused atomic.Uint64
}

type chainEntry struct {
	mu    sync.Mutex
	state *chain.State // nil until loaded; dropped after a failed request
	// kept is the last block executed without changing state (the block this
	// validator voted for, or the block the local node staged), for its confirmed
	// certificate (keptExecution). Dropped with state.
	kept *keptExecution
	// records holds the recipients whose pending-delivery record (storage.
	// PutPendingDelivery) this chain is known to have stored, mapped to whether it is
	// stale: every bundle reached the recipient, and the chain's next block that does
	// not send there deletes it (deliveryRecords). A recipient not in the map is
	// unknown: its record is put again, and deleted when its bundles are delivered.
	// Invariant: a recipient in the map has its record stored. Dropped with state.
	records map[base.ChainID]bool
}

type deliveryKey struct{ sender, recipient base.ChainID }

type deliveryFailure struct{ count, skip int }

// recentCertificatesKept bounds the confirmed certificates a worker keeps in memory for
// delivering their bundles (a few blocks of every busy chain).
const recentCertificatesKept = 1024

// New returns a worker.
func New(cfg Config) *Worker {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxLoadedChains <= 0 {
		cfg.MaxLoadedChains = 10_000
	}
	if cfg.BundleWait == 0 {
		cfg.BundleWait = DefaultBundleWait
	}
	if cfg.GracePeriod == 0 {
		cfg.GracePeriod = 500_000
	}
	if cfg.HTTP == nil {
		id := execution.ClientValidatorValue
		if cfg.Signer != nil {
			id = hex.EncodeToString(cfg.Signer.Public().Bytes())
		}
		cfg.HTTP = NewHTTPPerformer(id, nil)
	}
	keys := crypto.NewVerifier(256)
	// The validator's votes come back in certificates: keys takes the signatures its
	// signer made, byte for byte, as verified instead of checking them again.
	cfg.Signer = keys.Signer(cfg.Signer)
	return &Worker{
		cfg:        cfg,
		log:        cfg.Logger,
		chains:     make(map[base.ChainID]*chainEntry),
		verified:   boundedset.New[base.Hash](4096),
		keys:       keys,
		owners:     crypto.NewVerifier(1024),
		committees: newCommitteeCache(64),
		wanted:     newWantedBlobs(maxWantedBlobs),
		recent:     newRecentCertificates(recentCertificatesKept),
		values:     newEncodedValues(encodedValuesBytes),
		listings:   newKeptListings(keptListingsBytes),
		pending:    make(map[deliveryKey]struct{}),
		inflight:   make(map[deliveryKey]struct{}),
		failures:   make(map[deliveryKey]deliveryFailure),
		waiters:    make(bundleWaiters),
		handling:   make(map[chainHeight]int),
		kick:       make(chan struct{}, 1),
	}
}

// Storage returns the worker's store.
func (w *Worker) Storage() *storage.Storage { return w.cfg.Storage }

// PublicKey returns the signer's key, or the zero key for a local node.
func (w *Worker) PublicKey() crypto.PublicKey {
	if w.cfg.Signer == nil {
		return crypto.PublicKey{}
	}
	return w.cfg.Signer.Public()
}

func (w *Worker) entry(id base.ChainID) *chainEntry {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.chains[id]
	if e == nil {
		if len(w.chains) >= w.cfg.MaxLoadedChains {
			w.evictLocked()
		}
		e = &chainEntry{}
		w.chains[id] = e
	}
	return e
}

// isCurrent reports whether e is still the entry of chain id in the map.
func (w *Worker) isCurrent(id base.ChainID, e *chainEntry) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.chains[id] == e
}

// drop removes chain id's entry e from the map if it is still there. The caller holds
// e.mu.
func (w *Worker) drop(id base.ChainID, e *chainEntry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.chains[id] == e {
		delete(w.chains, id)
	}
}

// LoadedChains returns the number of entries in the map of loaded chains.
func (w *Worker) LoadedChains() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.chains)
}

// lockEntry returns chain id's entry, locked. An entry evicted between the lookup and
// the lock is not used: two entries of one chain must never both be locked, or two
// requests would run the chain on two states (and could sign two different votes).
func (w *Worker) lockEntry(id base.ChainID) *chainEntry {
	for {
		e := w.entry(id)
		if w.afterEntry != nil {
			w.afterEntry(id)
		}
		e.mu.Lock()
		if w.isCurrent(id, e) {
			return e
		}
		e.mu.Unlock()
	}
}

// evictLocked drops about a quarter of the idle loaded chains. Which ones does not matter
// for correctness: a dropped chain is reloaded from storage, and a request that found a
// dropped entry before it was dropped notices it after locking (lockEntry).
func (w *Worker) evictLocked() {
	target := len(w.chains) * 3 / 4
	for id, e := range w.chains {
		if len(w.chains) <= target {
			return
		}
		if e.mu.TryLock() {
			delete(w.chains, id)
			e.mu.Unlock()
		}
	}
}

// withChain runs fn with the chain's lock held and its state loaded (initializing it from
// its confirmed description blob if this worker has never seen it). If fn panics, or
// fails with changes staged or flushed but not written (errNotPersisted), the in-memory
// state is dropped so that those changes never leak into later requests; a refusal that
// staged nothing (an input error found before any change, or whose changes were all
// written) keeps the state warm, since it equals what a reload would read
// (chain.State.Reusable). A chain that does not exist leaves no entry behind, so that
// queries for random chain ids cannot fill the map.
func (w *Worker) withChain(ctx context.Context, id base.ChainID, fn func(s *chain.State) error) error {
	return w.withEntry(ctx, id, func(e *chainEntry) error { return fn(e.state) })
}

// withChainRead is withChain for an fn that stages no change (a read, which anyone may
// send): a chain this worker has not initialized yet is read from its initial state
// staged in memory (previewState), which is neither written nor kept, so that a read by
// a stranger writes nothing. The first request that writes persists the initial state.
func (w *Worker) withChainRead(ctx context.Context, id base.ChainID, fn func(s *chain.State) error) error {
	return w.withEntryMode(ctx, id, false, func(e *chainEntry) error { return fn(e.state) })
}

// withEntry is withChain for handlers that also use the entry's kept execution; fn
// finds e.state loaded. A failure drops e.kept along with e.state.
func (w *Worker) withEntry(ctx context.Context, id base.ChainID, fn func(e *chainEntry) error) error {
	return w.withEntryMode(ctx, id, true, fn)
}

// withEntryMode is withEntry; unless persist, a chain not initialized is read from its
// initial state in memory (withChainRead).
func (w *Worker) withEntryMode(ctx context.Context, id base.ChainID, persist bool, fn func(e *chainEntry) error) (err error) {
	e := w.lockEntry(id)
	defer e.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("panic while handling a request", "chain", id.String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error while handling chain %s: %v", id.Short(), r)
			e.state, e.kept, e.records = nil, nil, nil
		}
	}()
	if e.state == nil {
		s, persisted, err := w.load(ctx, id, persist)
		if err != nil {
			if errors.Is(err, ErrUnknownChain) {
				w.drop(id, e)
			}
			return err
		}
		if !persisted {
			// A preview: not kept, the entry goes with it (bounded like any entry).
			defer w.drop(id, e)
			return fn(&chainEntry{state: s})
		}
		e.state = s
	}
	if err := fn(e); err != nil {
		if errors.Is(err, errNotPersisted) || !e.state.Reusable() {
			e.state, e.kept, e.records = nil, nil, nil
		}
		return err
	}
	return nil
}

// load reads a chain's state, creating it from the chain's confirmed description blob if
// needed. Descriptions are confirmed only by genesis or by the verified certificate of
// the parent's block that created the chain (DESIGN §9). A created state is written
// if persist; otherwise it is returned as a preview, read from memory over the store
// (previewState), and persisted reports false.
func (w *Worker) load(ctx context.Context, id base.ChainID, persist bool) (s *chain.State, persisted bool, err error) {
	s = w.loadState(id)
	ok, err := s.IsInitialized(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("load chain %s: %w", id.Short(), err)
	}
	if ok {
		return s, true, nil
	}
	desc, err := w.description(ctx, id)
	if err != nil {
		return nil, false, err
	}
	if err := s.Initialize(ctx, desc, w.cfg.Clock.Now()); err != nil {
		return nil, false, fmt.Errorf("initialize chain %s: %w", id.Short(), err)
	}
	if !persist {
		var b kvBatch
		s.Flush(&b)
		if p, ok := w.previewState(id, &b); ok {
			return p, false, nil
		}
		if err := w.cfg.Storage.Write(ctx, &b); err != nil {
			return nil, false, fmt.Errorf("persist chain %s: %w", id.Short(), err)
		}
		return s, true, nil
	}
	if err := w.commit(ctx, s, nil); err != nil {
		return nil, false, err
	}
	return s, true, nil
}

// loadState returns a chain's state object (nothing is read yet). Its inbox stores a
// delivered bundle as a reference to the sender's certificate when this worker's store
// holds it (chain.State.UseCertificates); a worker that does not vote (a client's local
// node) does not record bundles received before their delivery
// (chain.State.SkipAnticipated).
func (w *Worker) loadState(id base.ChainID) *chain.State {
	return w.loadStateIn(id, w.cfg.Storage.ChainContext(id))
}

// loadStateIn is loadState reading from c.
func (w *Worker) loadStateIn(id base.ChainID, c views.Context) *chain.State {
	var s *chain.State
	if w.cfg.Loader != nil {
		s = chain.Load(id, c, execution.WithLoader(w.cfg.Loader))
	} else {
		s = chain.Load(id, c)
	}
	s.UseCertificates(storeCertificates{w})
	if w.cfg.Signer == nil {
		s.SkipAnticipated()
	}
	return s
}

// ErrUnknownChain: no description of the chain is known to this worker (class ErrNotFound).
var ErrUnknownChain = fmt.Errorf("%w: unknown chain", base.ErrNotFound)

func (w *Worker) description(ctx context.Context, id base.ChainID) (*protocol.ChainDescription, error) {
	blob, err := w.cfg.Storage.Blob(ctx, base.BlobID{Type: base.BlobChainDescription, Hash: base.Hash(id)})
	if err != nil {
		if base.IsNotFound(err) {
			return nil, fmt.Errorf("%w %s", ErrUnknownChain, id)
		}
		return nil, err
	}
	var d protocol.ChainDescription
	if err := decodeStrict(blob.Content, &d); err != nil {
		return nil, base.Corruptf("description of chain %s: %v", id.Short(), err)
	}
	return &d, nil
}

// commit writes the chain's staged changes plus extra into one durable batch.
func (w *Worker) commit(ctx context.Context, s *chain.State, extra func(b *kvBatch)) error {
	return w.commitWith(ctx, s, extra, false)
}

// commitLazy writes the chain's staged changes plus extra into one batch that may
// become durable only with the next durable write (storage.WriteLazy). Only for changes
// that a restart re-derives; the caller says why.
func (w *Worker) commitLazy(ctx context.Context, s *chain.State, extra func(b *kvBatch)) error {
	return w.commitWith(ctx, s, extra, true)
}

func (w *Worker) commitWith(ctx context.Context, s *chain.State, extra func(b *kvBatch), lazy bool) error {
	var b kvBatch
	if extra != nil {
		extra(&b)
	}
	s.Flush(&b)
	write := w.cfg.Storage.Write
	if lazy {
		write = w.cfg.Storage.WriteLazy
	}
	if err := write(ctx, &b); err != nil {
		return fmt.Errorf("persist chain %s: %w: %w", s.ChainID().Short(), errNotPersisted, err)
	}
	return nil
}

// errNotPersisted marks the failure of a chain's write: its State was flushed (its views
// took the staged changes as their clean state) but the store does not hold them, so
// withEntry must drop it.
var errNotPersisted = errors.New("changes not persisted")

func (w *Worker) notify(n protocol.Notification) {
	if w.cfg.Notify != nil {
		w.cfg.Notify(n)
	}
}

// recovered turns a panic outside withChain into an error.
func (w *Worker) recovered(err *error, what string) {
	if r := recover(); r != nil {
		w.log.Error("panic while handling a request", "request", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = fmt.Errorf("internal error while handling %s: %v", what, r)
	}
}

// IsRetryable reports whether a request failed for a reason that may go away (a missing
// dependency the client can push, or a transient condition).
func IsRetryable(err error) bool {
	return errors.Is(err, base.ErrNotFound) || errors.Is(err, base.ErrRetryable)
}
