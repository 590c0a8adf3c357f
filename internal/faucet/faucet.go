// Package faucet is an HTTP service that gives new users a funded chain, and the client
// that `mica wallet init --faucet URL` and `mica wallet request-chain` use to call it.
//
// Routes (JSON):
//
//	GET  /genesis  {"network_name", "genesis_hash", "genesis_config"}: the genesis config as
//	               canonical bytes (base64) and their hash (hex), to create a wallet.
//	POST /claim    {"owner": "0x…"} → {"chain_id", "certificate_hash", "owner"}: opens a child
//	               chain of the faucet's chain owned by owner alone (a single super owner, so
//	               its blocks commit in the fast round) and funded with the configured amount.
//
// Claims are idempotent per owner: an owner who claims again gets the chain opened for it
// the first time. The owner → chain map is not kept in a file: it is recovered from the
// faucet chain's own history at start (every OpenChain with a single super owner in the
// chain's blocks, with the chain id of the description blob it created) and extended
// after each block. The chain is the one source of truth, so a crash between committing
// a block and recording its chains cannot make the faucet open a second chain for an
// owner, and there is no file to lose or to keep in step.
//
// One goroutine owns the faucet's ChainClient: it is the chain's only committer. Requests
// queue; each block takes every claim waiting (up to MaxBatch), so under load many chains
// open in one block. When the chain cannot fund a whole batch, the batch shrinks to what
// the balance affords and the other claims get 503 (out of funds). A block that did not
// reach a quorum stays pending in the ChainClient and is re-sent verbatim, before
// anything else and in the background until it is decided: the faucet never signs a
// second block at a height it has proposed for, provided its pending proposal survives
// restarts (see Config.Chain).
//
// Limits (the service is open to anyone, so every resource a request can take is
// bounded):
//   - one chain per owner: a claim for an owner already served returns its chain;
//   - MaxChainsPerIP new chains per network address (IPv4 address or IPv6 /64) per
//     IPWindow, answered 429 with Retry-After beyond it; the state behind this limit
//     holds at most MaxTrackedIPs addresses;
//   - MaxQueue claims waiting, answered 503 with Retry-After beyond it; concurrent
//     requests for one owner share one claim;
//   - request bodies of 4 KiB, headers of 8 KiB, MaxConns connections, read and write
//     timeouts, and ClaimTimeout for a request waiting on its claim.
package faucet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
)

// DefaultMaxBatch is the most claims one block serves when Config.MaxBatch is 0 (as the
// reference faucet's --max-batch-size).
const DefaultMaxBatch = 100

// maxRequestBody bounds a claim request.
const maxRequestBody = 4 << 10

// Defaults of the other limits (see Config).
const (
	DefaultClaimTimeout = time.Minute
	DefaultMaxConns     = 1024
	// retryBusy is the Retry-After sent when the queue is full.
	retryBusy = 5 * time.Second
)

var (
	// ErrOutOfFunds: the faucet's chain cannot fund another chain. Class
	// base.ErrRetryable: a claim may succeed once the chain is topped up.
	ErrOutOfFunds = fmt.Errorf("%w: the faucet is out of funds", base.ErrRetryable)
	// ErrClosed: the faucet is shutting down. Class base.ErrRetryable.
	ErrClosed = fmt.Errorf("%w: the faucet is shutting down", base.ErrRetryable)
)

// Config holds a faucet's dependencies.
type Config struct {
	// Client is the client whose local node follows the faucet's chain.
	Client *client.Client
	// Chain is the faucet's chain, signed for by the faucet's key. The faucet owns it
	// while it runs: nothing else may propose on it. Its OnFastProposal should persist
	// the pending proposal (the wallet's FastProposalHook, or OnFastProposalEncoded its
	// FastProposalEncodedHook), and it should be created
	// with the persisted one, so that a restart re-sends it instead of signing another
	// block at its height.
	Chain *client.ChainClient
	// Amount funds each new chain; it must be positive.
	Amount base.Amount
	// Genesis is the network's genesis config, served at /genesis.
	Genesis *protocol.GenesisConfig
	// Listen is the TCP address to serve on ("127.0.0.1:0" picks a port; see Addr).
	Listen string
	Logger *slog.Logger
	// MaxBatch is the most claims served by one block (DefaultMaxBatch if 0).
	MaxBatch int
	// MaxQueue is the most claims waiting to be served (4 × MaxBatch if 0); a claim
	// beyond it is answered 503 with Retry-After.
	MaxQueue int
	// MaxChainsPerIP is the most new chains opened for requests from one network address
	// (an IPv4 address or an IPv6 /64) per IPWindow (DefaultMaxChainsPerIP if 0, no
	// limit if negative). Beyond it a claim is answered 429 with Retry-After. Claims that
	// fail do not count. The address is the connection's remote address: behind a
	// reverse proxy every client shares the proxy's.
	MaxChainsPerIP int
	// IPWindow is the window of MaxChainsPerIP (DefaultIPWindow if 0).
	IPWindow time.Duration
	// MaxTrackedIPs bounds the addresses the per-address limit remembers
	// (DefaultMaxTrackedIPs if 0).
	MaxTrackedIPs int
	// ClaimTimeout is the most a request waits for its claim (DefaultClaimTimeout if
	// 0); the claim stays queued and a retry gets its chain.
	ClaimTimeout time.Duration
	// MaxConns is the most connections served at once (DefaultMaxConns if 0).
	MaxConns int
	// Clock is read by the per-address limit (the wall clock if nil).
	Clock base.Clock
}

type wallClock struct{}

func (wallClock) Now() base.Timestamp { return base.TimestampFromTime(time.Now()) }

// Opened is a chain the faucet opened for an owner.
type Opened struct {
	Owner   base.Owner
	ChainID base.ChainID
	// CertificateHash is the hash of the faucet chain's block that opened the chain.
	CertificateHash base.Hash
}

// Faucet is the service. Create it with New, start it with Run, stop it with Close or by
// cancelling Run's context.
type Faucet struct {
	cfg     Config
	chain   base.ChainID
	log     *slog.Logger
	ln      net.Listener
	srv     *http.Server
	genesis []byte // the /genesis response

	queue   chan *claim
	stopped chan struct{} // closed once the batching loop has stopped
	limiter *ipLimiter

	// claimsMu guards claims: the claim of each owner queued or being served, so that
	// concurrent requests for one owner share one claim (and one queue slot).
	// Invariant: len(claims) <= MaxQueue + MaxBatch.
	claimsMu sync.Mutex
	claims   map[base.Owner]*claim

	closeOnce sync.Once
	closed    chan struct{}
	runDone   chan struct{}
	stateMu   sync.Mutex
	started   bool

	mu     sync.RWMutex
	owners map[base.Owner]Opened // written by Run's goroutines only, after recovery

	// scanned is the next height of the faucet chain to index. Only Run's goroutines use it.
	scanned base.BlockHeight

	// beforeBatch, if set, runs before the loop waits for the next batch (tests).
	beforeBatch func()
}

// claim is one owner's request for a chain. The loop answers it once, by setting res
// and closing done.
type claim struct {
	owner base.Owner
	// held is the per-address quota the claim took; given back if it fails.
	held reservation
	done chan struct{}
	res  result
}

type result struct {
	opened Opened
	err    error
}

// New checks the configuration and opens the listener, so that Addr is known at once.
// Nothing is served until Run.
func New(cfg Config) (*Faucet, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("faucet: Config.Client is required")
	case cfg.Chain == nil:
		return nil, errors.New("faucet: Config.Chain is required")
	case cfg.Genesis == nil:
		return nil, errors.New("faucet: Config.Genesis is required")
	case cfg.Amount.IsZero():
		return nil, errors.New("faucet: Config.Amount must be positive")
	case cfg.Listen == "":
		return nil, errors.New("faucet: Config.Listen is required")
	case cfg.MaxBatch < 0:
		return nil, fmt.Errorf("faucet: Config.MaxBatch is %d", cfg.MaxBatch)
	case cfg.MaxQueue < 0, cfg.IPWindow < 0, cfg.MaxTrackedIPs < 0, cfg.ClaimTimeout < 0, cfg.MaxConns < 0:
		return nil, errors.New("faucet: negative limit in Config")
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = 4 * cfg.MaxBatch
	}
	if cfg.MaxChainsPerIP == 0 {
		cfg.MaxChainsPerIP = DefaultMaxChainsPerIP
	}
	if cfg.IPWindow == 0 {
		cfg.IPWindow = DefaultIPWindow
	}
	if cfg.MaxTrackedIPs == 0 {
		cfg.MaxTrackedIPs = DefaultMaxTrackedIPs
	}
	if cfg.ClaimTimeout == 0 {
		cfg.ClaimTimeout = DefaultClaimTimeout
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := GenesisResponse{NetworkName: cfg.Genesis.NetworkName, GenesisHash: cfg.Genesis.Hash().String(), GenesisConfig: codec.Marshal(cfg.Genesis)}
	genesis, err := json.Marshal(&g)
	if err != nil {
		return nil, fmt.Errorf("faucet: encode genesis: %w", err)
	}
	if !cfg.Chain.PersistsFastProposals() {
		// A pending proposal lost across a restart would be contradicted by the next
		// block (see TestAttackLostPendingProposal): production faucets persist it.
		cfg.Logger.Warn("the faucet chain's pending proposals are not persisted; a restart during a commit may wedge the chain")
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("faucet: listen on %s: %w", cfg.Listen, err)
	}
	f := &Faucet{
		cfg:     cfg,
		chain:   cfg.Chain.ID(),
		log:     cfg.Logger.With("faucet_chain", cfg.Chain.ID().Short()),
		ln:      ln,
		genesis: append(genesis, '\n'),
		queue:   make(chan *claim, cfg.MaxQueue),
		limiter: newIPLimiter(cfg.MaxChainsPerIP, cfg.IPWindow, cfg.MaxTrackedIPs),
		claims:  map[base.Owner]*claim{},
		stopped: make(chan struct{}),
		closed:  make(chan struct{}),
		runDone: make(chan struct{}),
		owners:  map[base.Owner]Opened{},
	}
	f.srv = &http.Server{
		Handler:           f.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.ClaimTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return f, nil
}

// Addr returns the address the faucet listens on.
func (f *Faucet) Addr() net.Addr { return f.ln.Addr() }

// Handler returns the faucet's HTTP routes. Claims are answered only while Run runs.
func (f *Faucet) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /genesis", f.handleGenesis)
	mux.HandleFunc("POST /claim", f.handleClaim)
	return mux
}

// Run recovers the owner → chain map from the faucet chain's history, then serves until
// ctx is cancelled or Close is called. It returns nil after a clean shutdown.
func (f *Faucet) Run(ctx context.Context) error {
	f.stateMu.Lock()
	if f.started {
		f.stateMu.Unlock()
		return errors.New("faucet: Run called twice")
	}
	select {
	case <-f.closed:
		f.stateMu.Unlock()
		return nil
	default:
	}
	f.started = true
	f.stateMu.Unlock()
	defer close(f.runDone)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-f.closed:
			cancel()
		case <-ctx.Done():
		}
	}()

	if err := f.recoverOwners(ctx); err != nil {
		close(f.stopped)
		if cerr := f.ln.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if ctx.Err() != nil {
			return nil // closed or cancelled while recovering
		}
		return err
	}
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		f.loop(ctx)
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- f.srv.Serve(newLimitListener(f.ln, f.cfg.MaxConns)) }()
	f.log.Info("faucet serving", "addr", f.ln.Addr().String(), "amount", f.cfg.Amount.String(), "owners_served", f.served())

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	cancel() // stop the loop: queued claims get ErrClosed
	<-loopDone
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if serr := f.srv.Shutdown(sctx); serr != nil {
		// Connections that never sent a request (or clients that do not read their
		// answer) hold Shutdown: close them.
		f.log.Debug("graceful shutdown incomplete; closing connections", "err", serr)
		if cerr := f.srv.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("faucet: %w", err)
	}
	return nil
}

// Close stops the faucet and waits for Run to return.
func (f *Faucet) Close() error {
	f.closeOnce.Do(func() { close(f.closed) })
	f.stateMu.Lock()
	started := f.started
	f.stateMu.Unlock()
	if started {
		<-f.runDone
		return nil
	}
	if err := f.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("faucet: %w", err)
	}
	return nil
}

func (f *Faucet) served() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.owners)
}

func (f *Faucet) lookup(o base.Owner) (Opened, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	op, ok := f.owners[o]
	return op, ok
}

// recoverOwners brings the local node up to date with the faucet chain and indexes its
// history.
func (f *Faucet) recoverOwners(ctx context.Context) error {
	if _, err := f.cfg.Client.SyncChain(ctx, f.chain); err != nil {
		return fmt.Errorf("faucet: sync chain %s: %w", f.chain.Short(), err)
	}
	if err := f.scan(ctx); err != nil {
		return fmt.Errorf("faucet: %w", err)
	}
	return nil
}

// scan indexes the faucet chain's blocks that the local node has and that were not
// indexed yet: the n-th transaction of a block, if it is an OpenChain owned by a single
// super owner, created the chain whose description blob is among the n-th transaction's
// outcome blobs. An owner keeps the first chain opened for it.
func (f *Faucet) scan(ctx context.Context) error {
	tip, err := f.cfg.Client.LocalTip(ctx, f.chain)
	if err != nil {
		return fmt.Errorf("read the tip of chain %s: %w", f.chain.Short(), err)
	}
	st := f.cfg.Client.Local().Storage()
	for ; f.scanned < tip.NextHeight; f.scanned++ {
		cert, err := st.CertificateAt(ctx, f.chain, f.scanned)
		if err != nil {
			return fmt.Errorf("read block %d of chain %s: %w", f.scanned, f.chain.Short(), err)
		}
		opened := openedBy(cert)
		f.mu.Lock()
		for _, op := range opened {
			if _, ok := f.owners[op.Owner]; !ok {
				f.owners[op.Owner] = op
			}
		}
		f.mu.Unlock()
	}
	return nil
}

// openedBy returns the chains a confirmed block opened for single owners, in order.
func openedBy(cert *protocol.Certificate) []Opened {
	b := cert.Block
	if b == nil {
		return nil
	}
	var out []Opened
	for i := range b.Proposed.Transactions {
		tx := &b.Proposed.Transactions[i]
		if tx.Operation == nil || i >= len(b.Outcome.Blobs) {
			continue
		}
		oc, ok := tx.Operation.System.(*protocol.OpenChain)
		if !ok || len(oc.Ownership.SuperOwners) != 1 || len(oc.Ownership.Owners) != 0 {
			continue
		}
		for j := range b.Outcome.Blobs[i] {
			blob := &b.Outcome.Blobs[i][j]
			if blob.Type == base.BlobChainDescription {
				out = append(out, Opened{Owner: oc.Ownership.SuperOwners[0], ChainID: base.ChainID(blob.ID().Hash), CertificateHash: cert.Hash()})
				break
			}
		}
	}
	return out
}

// LimitError is a claim refused by a limit: the queue is full (503) or the caller's
// network address has used its quota (429). Class base.ErrRetryable: it may succeed
// after RetryAfter.
type LimitError struct {
	Status     int
	RetryAfter time.Duration
	Reason     string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s; retry after %s", e.Reason, e.RetryAfter.Round(time.Second))
}

func (e *LimitError) Is(target error) bool { return target == base.ErrRetryable }

// claim returns the chain opened for owner, queueing a claim if there is none yet. addr
// is the caller's network address key (addressKey), charged for a new chain.
func (f *Faucet) claim(ctx context.Context, owner base.Owner, addr string) (Opened, error) {
	if op, ok := f.lookup(owner); ok {
		return op, nil
	}
	c, op, err := f.admit(owner, addr)
	if err != nil || c == nil {
		return op, err
	}
	select {
	case <-c.done:
		return c.res.opened, c.res.err
	case <-f.stopped:
		return Opened{}, ErrClosed
	case <-ctx.Done():
		return Opened{}, ctx.Err() // the claim stays queued; a retry gets its chain
	}
}

// admit returns the claim queued for owner, queueing a new one if the queue has room
// and addr has quota left. If the owner was served meanwhile, it returns its chain.
func (f *Faucet) admit(owner base.Owner, addr string) (*claim, Opened, error) {
	f.claimsMu.Lock()
	defer f.claimsMu.Unlock()
	if c, ok := f.claims[owner]; ok {
		return c, Opened{}, nil // a claim for this owner is under way: share it
	}
	// The loop records a served owner before it forgets the owner's claim, so under
	// claimsMu an owner with no claim and no chain is new.
	if op, ok := f.lookup(owner); ok {
		return nil, op, nil
	}
	select {
	case <-f.stopped:
		return nil, Opened{}, ErrClosed
	default:
	}
	busy := &LimitError{Status: http.StatusServiceUnavailable, RetryAfter: retryBusy,
		Reason: fmt.Sprintf("the faucet is busy: %d claims are waiting", cap(f.queue))}
	if len(f.queue) >= cap(f.queue) {
		return nil, Opened{}, busy
	}
	held, ok, wait := f.limiter.reserve(addr, f.cfg.Clock.Now().Time())
	if !ok {
		return nil, Opened{}, &LimitError{Status: http.StatusTooManyRequests, RetryAfter: wait,
			Reason: fmt.Sprintf("this network address has obtained its %d chains for this period (%s)", f.cfg.MaxChainsPerIP, f.cfg.IPWindow)}
	}
	c := &claim{owner: owner, held: held, done: make(chan struct{})}
	select {
	case f.queue <- c:
	default:
		f.limiter.release(held)
		return nil, Opened{}, busy
	}
	f.claims[owner] = c
	return c, Opened{}, nil
}

// finish answers a claim. A claim that failed, or that was served by a chain opened
// earlier (refund), gives its quota back.
func (f *Faucet) finish(c *claim, r result, refund bool) {
	if r.err != nil || refund {
		f.limiter.release(c.held)
	}
	f.claimsMu.Lock()
	if f.claims[c.owner] == c {
		delete(f.claims, c.owner)
	}
	f.claimsMu.Unlock()
	c.res = r
	close(c.done)
}

// Backoff of the background re-sending of a pending proposal.
const (
	resendFirst = time.Second
	resendMax   = 30 * time.Second
)

// loop serves batches of claims until ctx is cancelled. It is the only user of the
// faucet's ChainClient. While a proposal is pending (sent, not decided) it re-sends it
// in the background, so that the chain moves on even if no claim comes.
func (f *Faucet) loop(ctx context.Context) {
	defer func() {
		for {
			select {
			case c := <-f.queue:
				f.finish(c, result{err: ErrClosed}, true)
			default:
				close(f.stopped)
				return
			}
		}
	}()
	backoff := resendFirst
	for {
		if f.beforeBatch != nil {
			f.beforeBatch()
		}
		var resend <-chan time.Time
		if f.cfg.Chain.PendingFastProposal() != nil {
			resend = time.After(backoff)
		}
		var batch []*claim
		select {
		case <-ctx.Done():
			return
		case <-resend:
			if err := f.flushPending(ctx); err != nil {
				f.log.Warn("re-send the pending proposal", "err", err, "next_try", 2*backoff)
				backoff = min(2*backoff, resendMax)
			} else {
				backoff = resendFirst
				if err := f.scan(ctx); err != nil {
					f.log.Error("index the faucet chain", "err", err)
				}
			}
			continue
		case c := <-f.queue:
			batch = append(batch, c)
		}
	fill:
		for len(batch) < f.cfg.MaxBatch {
			select {
			case c := <-f.queue:
				batch = append(batch, c)
			default:
				break fill
			}
		}
		f.serveBatch(ctx, batch)
		if f.cfg.Chain.PendingFastProposal() == nil {
			backoff = resendFirst
		}
	}
}

// serveBatch opens one chain per distinct new owner of the batch, in one block if the
// balance allows, and answers every claim.
func (f *Faucet) serveBatch(ctx context.Context, batch []*claim) {
	// A fast proposal left pending by a failed attempt (or by an earlier run) may open
	// chains for some of these owners: commit it first, so that they are not served
	// twice. Then a block committed since the last look may already have served some.
	err := f.flushPending(ctx)
	if err == nil {
		err = f.scan(ctx)
	}
	if err != nil {
		f.log.Error("catch up with the faucet chain", "err", err)
		for _, c := range batch {
			f.finish(c, result{err: err}, true)
		}
		return
	}
	var owners []base.Owner
	waiting := map[base.Owner][]*claim{}
	for _, c := range batch {
		if op, ok := f.lookup(c.owner); ok {
			f.finish(c, result{opened: op}, true)
			continue
		}
		if _, ok := waiting[c.owner]; !ok {
			owners = append(owners, c.owner)
		}
		waiting[c.owner] = append(waiting[c.owner], c)
	}
	if len(owners) == 0 {
		return
	}
	errs := f.open(ctx, owners)
	scanErr := f.scan(ctx)
	if scanErr != nil {
		f.log.Error("index the faucet chain", "err", scanErr)
	}
	for _, o := range owners {
		var r result
		op, ok := f.lookup(o)
		switch {
		case ok:
			r.opened = op
			f.log.Info("opened a chain", "owner", o.String(), "chain", op.ChainID.String())
		case errs[o] != nil:
			r.err = errs[o]
			f.log.Warn("claim failed", "owner", o.String(), "err", r.err)
		case scanErr != nil:
			r.err = scanErr
		default:
			r.err = fmt.Errorf("the faucet's block opened no chain for %s", o)
			f.log.Error("claim failed", "owner", o.String(), "err", r.err)
		}
		for _, c := range waiting[o] {
			f.finish(c, r, false)
		}
	}
}

// flushPending commits the faucet chain's pending fast proposal, if there is one.
//
// The local node must first reach the proposal's height: client.ChainClient's
// ExecuteOperations drops a pending proposal that is not at the local next height, so
// a faucet restarted behind its chain (its local store lagging, validators too busy to
// serve certificates) would forget a proposal some validators already voted for and
// sign a different block at its height. Half the validators locked on each block, the
// fast round (which never times out) could not decide, and the chain would be wedged.
func (f *Faucet) flushPending(ctx context.Context) error {
	pf := f.cfg.Chain.PendingFastProposal()
	if pf == nil {
		return nil
	}
	next, err := f.cfg.Client.SyncChain(ctx, f.chain)
	if err != nil {
		return fmt.Errorf("catch up with the faucet chain: %w", err)
	}
	if h := pf.Content.Block.Height; next < h {
		return fmt.Errorf("%w: the faucet's node has the chain up to height %d, below its pending proposal at height %d; catching up", base.ErrRetryable, next, h)
	}
	if _, err := f.cfg.Chain.ExecuteOperations(ctx, nil, nil); err != nil {
		return fmt.Errorf("re-send the faucet chain's pending proposal: %w", err)
	}
	return nil
}

// open commits a block opening a chain for each owner. If the chain cannot fund them
// all, it retries with as many as its balance affords; the others get ErrOutOfFunds. It
// returns the error of each owner it could not serve.
func (f *Faucet) open(ctx context.Context, owners []base.Owner) map[base.Owner]error {
	errs := map[base.Owner]error{}
	var refused []base.Owner
	var cause error
	for todo := owners; len(todo) > 0; {
		ops := make([]protocol.Operation, len(todo))
		for i, o := range todo {
			ops[i] = protocol.SystemOp(&protocol.OpenChain{Ownership: protocol.SingleSuperOwner(o), Balance: f.cfg.Amount})
		}
		cert, err := f.cfg.Chain.ExecuteOperations(ctx, ops, nil)
		if err == nil && cert == nil {
			err = errors.New("the client committed no block")
		}
		if err == nil {
			f.log.Info("committed a block of claims", "claims", len(todo), "height", uint64(cert.Height()), "certificate", cert.Hash().String())
			break
		}
		if !errors.Is(err, execution.ErrInsufficientBalance) && !errors.Is(err, execution.ErrFeesExceedFunding) {
			for _, o := range todo {
				errs[o] = err
			}
			break
		}
		// Fund as many as the balance allows, and refuse the others. The block failed
		// before it was proposed, so the local balance is the one to go by once the
		// incoming transfers (top-ups) are received.
		if cause == nil {
			if _, err := f.cfg.Chain.ProcessInbox(ctx); err != nil {
				f.log.Warn("receive incoming transfers", "err", err)
			}
		}
		cause = err
		n := len(todo) / 2
		if bal, berr := f.balance(ctx); berr == nil {
			n = affordable(bal, f.cfg.Amount, len(todo)-1)
		}
		refused = append(refused, todo[n:]...)
		todo = todo[:n]
	}
	if len(refused) > 0 {
		oof := fmt.Errorf("%w (%v)", ErrOutOfFunds, cause)
		if bal, err := f.balance(ctx); err == nil && bal.Compare(f.cfg.Amount) < 0 {
			oof = fmt.Errorf("%w: it has %s left and gives %s per chain", ErrOutOfFunds, bal, f.cfg.Amount)
		}
		for _, o := range refused {
			errs[o] = oof
		}
	}
	return errs
}

// balance returns the faucet chain's balance as the local node sees it.
func (f *Faucet) balance(ctx context.Context) (base.Amount, error) {
	return f.cfg.Client.LocalBalance(ctx, base.Account{Chain: f.chain})
}

// affordable returns how many chains of amount each have funds, at most limit.
func affordable(have, amount base.Amount, limit int) int {
	for n := limit; n > 0; n-- {
		need, err := amount.MulUint64(uint64(n))
		if err == nil && need.Compare(have) <= 0 {
			return n
		}
	}
	return 0
}

// GenesisResponse is the body of GET /genesis.
type GenesisResponse struct {
	NetworkName string `json:"network_name"`
	// GenesisHash is the hex hash of the genesis config; it identifies the network.
	GenesisHash string `json:"genesis_hash"`
	// GenesisConfig is the canonical encoding of the genesis config (base64 in JSON).
	GenesisConfig []byte `json:"genesis_config"`
}

// ClaimRequest is the body of POST /claim.
type ClaimRequest struct {
	Owner string `json:"owner"`
}

// ClaimResponse is the body of a successful POST /claim.
type ClaimResponse struct {
	ChainID         string `json:"chain_id"`
	CertificateHash string `json:"certificate_hash"`
	Owner           string `json:"owner"`
}

// ErrorResponse is the body of every error reply.
type ErrorResponse struct {
	Error string `json:"error"`
}

func (f *Faucet) handleGenesis(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if _, err := w.Write(f.genesis); err != nil {
		f.log.Debug("write /genesis response", "err", err)
	}
}

func (f *Faucet) handleClaim(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		f.reply(w, http.StatusBadRequest, ErrorResponse{Error: fmt.Sprintf("read request: %v", err)})
		return
	}
	owner, err := parseClaimRequest(body)
	if err != nil {
		f.reply(w, http.StatusBadRequest, ErrorResponse{Error: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.cfg.ClaimTimeout)
	defer cancel()
	op, err := f.claim(ctx, owner, addressKey(r.RemoteAddr))
	if err != nil {
		if r.Context().Err() != nil {
			return // the caller is gone
		}
		var le *LimitError
		switch {
		case errors.As(err, &le):
			f.replyRetry(w, le.Status, le.RetryAfter, err)
		case ctx.Err() != nil:
			f.replyRetry(w, http.StatusServiceUnavailable, retryBusy, fmt.Errorf("%w: the claim is still being served; ask again for its chain", base.ErrRetryable))
		default:
			f.reply(w, statusOf(err), ErrorResponse{Error: err.Error()})
		}
		return
	}
	f.reply(w, http.StatusOK, ClaimResponse{ChainID: op.ChainID.String(), CertificateHash: op.CertificateHash.String(), Owner: op.Owner.String()})
}

// parseClaimRequest decodes a claim body: exactly {"owner": "0x…"} with the address of a
// key (32-byte or 20-byte), not the chain account.
func parseClaimRequest(body []byte) (base.Owner, error) {
	const want = `want {"owner": "0x…"}`
	var req ClaimRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return base.Owner{}, base.Invalidf("bad request body (%s): %v", want, err)
	}
	if dec.More() {
		return base.Owner{}, base.Invalidf("bad request body (%s): trailing data", want)
	}
	if req.Owner == "" {
		return base.Owner{}, base.Invalidf("missing owner (%s)", want)
	}
	o, err := base.ParseOwner(req.Owner)
	if err != nil || o.Kind() == base.OwnerReserved {
		return base.Owner{}, base.Invalidf("owner %q is not a key's address: want 0x followed by 40 or 64 hex digits", req.Owner)
	}
	return o, nil
}

// statusOf maps a claim error to an HTTP status: 503 for conditions that pass (out of
// funds, shutting down, validators unreachable or slow), 500 for the rest.
func statusOf(err error) int {
	if errors.Is(err, base.ErrRetryable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// replyRetry answers an error with a Retry-After header (whole seconds, at least 1).
func (f *Faucet) replyRetry(w http.ResponseWriter, status int, after time.Duration, err error) {
	w.Header().Set("Retry-After", strconv.Itoa(int(max(1, (after+time.Second-1)/time.Second))))
	f.reply(w, status, ErrorResponse{Error: err.Error()})
}

func (f *Faucet) reply(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		f.log.Error("encode response", "err", err) // unreachable: the bodies are plain structs
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if _, err := w.Write(append(b, '\n')); err != nil {
		f.log.Debug("write response", "err", err)
	}
}
