// Package client is the chain client: it drives chains against the validators of their
// committees. It keeps a local node (a worker without a key) that verifies and executes
// every certificate of the chains it follows, so balances and state are read locally.
//
// Trust: the client believes only what it verified. Votes and certificates of a block
// count only against the committee the block's chain trusts for the block's epoch in
// the local replica, which follows the admin chain's committees through verified
// certificates (committee.go); the configured committee is just the genesis one. A
// certificate the local node refuses is an error for the caller, never a success.
//
// It talks to all validators in parallel and moves on as soon as it has a quorum plus a
// short grace period, so a dead or slow validator never sets the pace. When a validator
// refuses a request because it lags (missing earlier blocks, missing incoming bundles,
// unknown chain, missing blobs), the client pushes what it lacks and retries.
//
// Proposing follows the reference protocol (commit in propose.go is the narrative):
// re-propose a locked block if validators hold one, finalize a validated block in its
// round, open a later multi-leader round when the current one has a conflicting
// proposal, and request timeouts when a round is stuck. In the fast round the client
// re-sends verbatim any fast proposal validators report at the height and signs a new
// one only when a quorum reports none; a new fast proposal is handed to OnFastProposal
// (to be persisted) before it is sent, and is re-sent unchanged on retry: the client
// never signs two different blocks at one height in the fast round (ADR 0002).
//
// A block takes only the incoming bundles that fit the block limits, oldest first, so no
// sender can make a chain unusable by flooding its inbox.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/gopool"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// ValidatorNode is what the client needs from a validator. The rpc package implements it
// over gRPC; tests and the simulator use workers directly. An implementation over a
// network refuses an answer to HandleChainInfoQuery, ReadBlob or Certificates larger
// than the call's receive limit (ReceiveLimit), before reading it.
type ValidatorNode interface {
	HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error)
	HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error)
	HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error)
	HandleBlob(ctx context.Context, b protocol.Blob) error
	ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error)
	Certificates(ctx context.Context, chain base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error)
}

// Validator is a committee member and the node that reaches it.
type Validator struct {
	PublicKey crypto.PublicKey
	Node      ValidatorNode
}

// Config holds a client's dependencies.
type Config struct {
	// Local is the client's own node (a worker with no signer) over its own store.
	Local      *worker.Worker
	Committee  *protocol.Committee
	Validators []Validator
	// Dial, if set, reaches a member of a verified committee that Validators does not
	// list (a validator that joined in a later epoch): the pool grows from the
	// committees the client verified (the network addresses they carry), never from
	// what a validator says. Nil: the pool is Validators only.
	Dial   func(ctx context.Context, v protocol.ValidatorState) (ValidatorNode, error)
	Clock  base.Clock
	Logger *slog.Logger
	// Sequential calls validators one after the other in committee order instead of in
	// parallel; the deterministic simulator uses it.
	Sequential bool
	// MinGrace is the least time to wait for more answers after a quorum (default 1 ms);
	// the grace period is max(MinGrace, 20% of the time to quorum).
	MinGrace time.Duration
	// RequestTimeout bounds each call to a validator (default 10 s).
	RequestTimeout time.Duration
	// StateReuse is how long the answers that the certificate broadcast of a chain's
	// block gathered serve the chain's next block in place of a chain-state query
	// (nextstate.go; default DefaultStateReuse; negative: never).
	StateReuse time.Duration
	// TimeoutPerMiB extends the deadline of the calls carrying a block by this much per
	// MiB of bytecode the block makes validators compile (default
	// DefaultTimeoutPerMiB; see compileWork).
	TimeoutPerMiB time.Duration
	// MinBandwidth is the least rate, in bytes per second, assumed for the bytes a
	// call to a validator carries (a block, its blobs, a blob upload): such calls get
	// that much longer than RequestTimeout (default DefaultMinBandwidth; negative: no
	// extension; see transferWork).
	MinBandwidth int64
	// QuorumWait is the least time a new proposal waits for the chain's quorum subset
	// to answer before it goes to every validator; the wait adapts to how long subsets
	// take (quorum.go; default DefaultQuorumWait). Negative: new proposals go to every
	// validator at once.
	QuorumWait time.Duration
}

// Client talks to the committees of the chains it follows.
type Client struct {
	cfg Config
	log *slog.Logger

	// dialMu serializes the dialing of new pool members (one connection per validator).
	dialMu sync.Mutex
	mu     sync.Mutex
	// committees caches committee blobs by hash. Keys come only from verified chain
	// states, so the map holds at most one entry per epoch ever created.
	committees map[base.Hash]*protocol.Committee
	// pool is Config.Validators plus the members of verified committees reached with
	// Config.Dial (at most one entry per validator of any committee ever created). It
	// only grows; readers take a snapshot (validators()).
	pool []Validator
	// lastMembers is membersOf's last answer, reused while the committee and the pool
	// are the same.
	lastMembers membersMemo
	// next holds, per chain, the answers of its last certificate broadcast for its next
	// block (nextstate.go): one entry per chain this client committed a block of,
	// removed when used or, once there are sweepKept entries, when expired.
	next map[base.ChainID]*nextState

	// appSizes caches the bytecode size of applications whose operations the client
	// proposed (firstRunSize): one entry per application, at most maxAppSizes.
	appSizes map[base.ApplicationID]int

	// syncLimit, if positive, replaces syncAnswerLimit (tests of answers at the limit
	// with small blocks).
	syncLimit int64

	// keys caches the expanded public keys of the validators whose votes the client
	// verifies (verifyVotes).
	keys *crypto.Verifier

	// inflight counts the validator calls of fan-outs, including those still running
	// after their fan-out returned (a certificate on its way to a slow or lagging
	// validator); WaitBackground waits for them.
	inflight sync.WaitGroup
	// workers run the fan-outs' validator calls on goroutines whose stacks stay grown.
	workers *gopool.Pool
	// health remembers the validators that failed proposals recently (quorum.go).
	health *quorumHealth
}

// WaitBackground waits until the validator calls that fan-outs left running in the
// background have finished (a certificate still being pushed to a validator that must
// first catch up), or ctx ends. A process about to exit calls it so that it does not
// cut those pushes off and leave the validator behind until the chain's next block.
func (c *Client) WaitBackground(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		c.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// New returns a client.
func New(cfg Config) *Client {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinGrace == 0 {
		cfg.MinGrace = time.Millisecond
	}
	if cfg.MinBandwidth == 0 {
		cfg.MinBandwidth = DefaultMinBandwidth
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.StateReuse == 0 {
		cfg.StateReuse = DefaultStateReuse
	}
	if cfg.QuorumWait == 0 {
		cfg.QuorumWait = DefaultQuorumWait
	}
	if cfg.TimeoutPerMiB == 0 {
		cfg.TimeoutPerMiB = DefaultTimeoutPerMiB
	}
	return &Client{cfg: cfg, log: cfg.Logger, committees: map[base.Hash]*protocol.Committee{}, next: map[base.ChainID]*nextState{}, appSizes: map[base.ApplicationID]int{}, pool: slices.Clone(cfg.Validators),
		keys: crypto.NewVerifier(maxCachedKeys), workers: gopool.New(maxIdleCallers, callerIdleTime), health: newQuorumHealth(cfg.QuorumWait)}
}

// maxCachedKeys bounds the validator keys a client keeps expanded (about 1.5 KiB each).
const maxCachedKeys = 256

// A client keeps at most maxIdleCallers idle goroutines for its fan-outs' calls (one
// per validator of each fan-out in flight: 64 chains' blocks to 4 validators), each for
// callerIdleTime.
const (
	maxIdleCallers = 256
	callerIdleTime = 10 * time.Second
)

// Local returns the client's local node.
func (c *Client) Local() *worker.Worker { return c.cfg.Local }

// Committee returns the genesis committee the client was configured with. Votes and
// certificates are never checked against it: each block is checked against the
// committee its chain trusts for the block's epoch (see committee.go).
func (c *Client) Committee() *protocol.Committee { return c.cfg.Committee }

type answer[T any] struct {
	v   Validator
	val T
	err error
	// vetted: the fan-out's vet function passed val (fanoutVetted). Answers that came
	// after the quorum was vetted, or from fan-outs without one, are not vetted.
	vetted bool
}

// ErrNoQuorum: not enough validators answered successfully. Class ErrRetryable.
var ErrNoQuorum = fmt.Errorf("%w: no quorum of validators answered", base.ErrRetryable)

// fanout calls fn on every validator of m and returns the answers received by the time a
// quorum of m's committee weight has succeeded plus the grace period (or every answer, if
// no quorum).
func fanout[T any](ctx context.Context, c *Client, m members, fn func(ctx context.Context, v Validator) (T, error), ok func(T) bool) []answer[T] {
	return fanoutVetted(ctx, c, m, fn, ok, nil)
}

// fanoutVetted is fanout with a check deferred until it is worth doing: once the answers
// that succeeded (and that ok accepts) reach a quorum's weight, vet gets the values of
// those not vetted yet, in arrival order, and returns an error for each that fails (nil
// for the others), so that a quorum of signatures is verified in one batch instead of
// one signature per answer. A failed answer takes that error and its weight no longer
// counts: the fan-out waits for more answers and vets them when the quorum is reached
// again. Answers that arrive once the quorum stands (during the grace period) are
// returned unvetted. If no quorum is reached, the answers accepted so far are vetted
// before returning, so that the caller can count them. vet runs on the caller's
// goroutine.
func fanoutVetted[T any](ctx context.Context, c *Client, m members, fn func(ctx context.Context, v Validator) (T, error), ok func(T) bool, vet func([]T) []error) []answer[T] {
	return fanoutStaged(ctx, c, m, fn, ok, vet, nil)
}

// fanoutStaged is fanoutVetted that, with st, asks m's first st.first validators first
// and the others only once the first can no longer reach a quorum (they failed, refused
// or sent votes that vet failed) or have not all answered after st.wait; from then on
// it is a full fan-out. If the first reach the quorum, it returns as soon as they have
// all answered, without a grace period (nobody else was asked).
func fanoutStaged[T any](ctx context.Context, c *Client, m members, fn func(ctx context.Context, v Validator) (T, error), ok func(T) bool, vet func([]T) []error, st *staged) []answer[T] {
	t := tally[T]{committee: m.committee, ok: ok, vet: vet, out: make([]answer[T], 0, len(m.validators))}
	first := len(m.validators)
	if st != nil && st.first < first {
		first = st.first
	}
	if c.cfg.Sequential {
		call := func(vs []Validator) {
			for _, v := range vs {
				cctx, cancel := context.WithTimeout(ctx, c.callTimeout(ctx))
				val, err := fn(cctx, v)
				cancel()
				t.add(answer[T]{v: v, val: val, err: err})
			}
		}
		call(m.validators[:first])
		if !t.reached {
			call(m.validators[first:])
		}
		return t.done()
	}
	// Every call runs under cctx, which the request timeout bounds. The calls still
	// running when fanout returns finish in the background (a certificate broadcast
	// still reaches a slow validator), even if the caller then cancels ctx, as callers
	// do once the block is committed (mica benchmark did, and the slowest validator,
	// its certificate cut off, refused the next block and had to be updated); while
	// fanout waits, ending ctx ends them. The last one to finish cancels cctx, so
	// nothing started here outlives its calls; until this function returns, it holds
	// one count of its own (it may still start calls). The calls run on the client's
	// workers (long-lived goroutines: one started per call grew its stack, by copying,
	// down the gRPC path every time).
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.callTimeout(ctx))
	defer context.AfterFunc(ctx, cancel)()
	ch := make(chan answer[T], len(m.validators))
	var left atomic.Int32
	left.Store(1)
	defer func() {
		if left.Add(-1) == 0 {
			cancel()
		}
	}()
	launched := 0
	var pending uint64 // weight of the validators asked that have not answered
	launch := func(vs []Validator) {
		left.Add(int32(len(vs)))
		launched += len(vs)
		for _, v := range vs {
			pending += m.committee.Weight(v.PublicKey)
			c.inflight.Add(1)
			c.workers.Go(func() {
				defer c.inflight.Done()
				val, err := fn(cctx, v)
				ch <- answer[T]{v: v, val: val, err: err}
				if left.Add(-1) == 0 {
					cancel()
				}
			})
		}
	}
	launch(m.validators[:first])
	start := time.Now()
	var grace, wait <-chan time.Time
	var timer, waitTimer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		if waitTimer != nil {
			waitTimer.Stop()
		}
	}()
	if launched < len(m.validators) {
		waitTimer = time.NewTimer(st.wait)
		wait = waitTimer.C
	}
	rest := func() {
		launch(m.validators[launched:])
		wait = nil
	}
	for len(t.out) < launched {
		select {
		case a := <-ch:
			pending -= m.committee.Weight(a.v.PublicKey)
			reached := t.add(a)
			if reached && grace == nil {
				if launched < len(m.validators) {
					if wait != nil && st.quick != nil {
						st.quick(time.Since(start))
					}
					wait = nil
					continue
				}
				timer = time.NewTimer(max(c.cfg.MinGrace, time.Since(start)/5))
				grace = timer.C
			}
			if !reached && launched < len(m.validators) && t.weight+pending < m.committee.QuorumThreshold() {
				rest()
			}
			continue
		case <-wait:
			if !t.reached {
				if st.quick != nil {
					st.quick(st.wait) // at least that long: the wait grows if subsets are slow
				}
				if st.late != nil {
					answered := make(map[crypto.PublicKey]bool, len(t.out))
					for _, a := range t.out {
						answered[a.v.PublicKey] = true
					}
					var late []Validator
					for _, v := range m.validators[:launched] {
						if !answered[v.PublicKey] {
							late = append(late, v)
						}
					}
					st.late(late)
				}
				rest()
			}
			wait = nil
			continue
		case <-grace:
		case <-ctx.Done():
		}
		break
	}
	// Late answers are dropped (ch has room for all of them).
	return t.done()
}

// tally counts a fan-out's answers towards a quorum of committee (fanoutVetted).
type tally[T any] struct {
	committee *protocol.Committee
	ok        func(T) bool
	vet       func([]T) []error
	out       []answer[T]
	// weight is that of the accepted answers not failed by vet.
	weight uint64
	// reached: weight reached a quorum (of vetted answers, with vet); it stays so.
	reached bool
}

// add records a and reports whether the quorum is reached.
func (t *tally[T]) add(a answer[T]) bool {
	t.out = append(t.out, a)
	if !t.accepted(&a) {
		return t.reached
	}
	t.weight += t.committee.Weight(a.v.PublicKey)
	if !t.reached && t.weight >= t.committee.QuorumThreshold() {
		t.vetPending()
		t.reached = t.weight >= t.committee.QuorumThreshold()
	}
	return t.reached
}

func (t *tally[T]) accepted(a *answer[T]) bool { return a.err == nil && (t.ok == nil || t.ok(a.val)) }

// vetPending vets the accepted answers not vetted yet.
func (t *tally[T]) vetPending() {
	if t.vet == nil {
		return
	}
	idx := make([]int, 0, len(t.out))
	vals := make([]T, 0, len(t.out))
	for i := range t.out {
		if a := &t.out[i]; !a.vetted && t.accepted(a) {
			idx = append(idx, i)
			vals = append(vals, a.val)
		}
	}
	if len(vals) == 0 {
		return
	}
	errs := t.vet(vals) // one per value
	for j, i := range idx {
		a := &t.out[i]
		if errs[j] != nil {
			a.err = errs[j]
			t.weight -= t.committee.Weight(a.v.PublicKey)
			continue
		}
		a.vetted = true
	}
}

// done returns the answers, vetting those accepted if no quorum was reached (so that
// the caller counts only vetted ones either way).
func (t *tally[T]) done() []answer[T] {
	if !t.reached {
		t.vetPending()
	}
	return t.out
}

// firstError summarizes refusals: the most common error message, so that a block refused
// by every honest validator reports why.
func firstError[T any](as []answer[T]) error {
	counts := map[string]int{}
	var best error
	bestN := 0
	for _, a := range as {
		if a.err == nil {
			continue
		}
		m := a.err.Error()
		counts[m]++
		if counts[m] > bestN {
			best, bestN = a.err, counts[m]
		}
	}
	return best
}

// ChainClient drives one chain with one key.
type ChainClient struct {
	c      *Client
	id     base.ChainID
	signer crypto.Signer

	mu sync.Mutex
	// pendingFast is the fast proposal signed for the current height, re-sent unchanged.
	pendingFast *protocol.BlockProposal
	// RejectIncoming makes the chain reject every incoming bundle instead of accepting
	// it (tracked messages then bounce back to their senders).
	RejectIncoming bool
	// certifiedBelow is one more than the highest height of the chain that this client
	// certified (markCertified); 0 if none.
	certifiedBelow atomic.Uint64
	// certCalls holds the certificate broadcast of the chain's latest block, per
	// validator (awaitCertificateCall); guarded by mu.
	certCalls *certificateBroadcast
	// tried is the last request whose block was proposed but not known to be committed
	// (ExecuteOperations); guarded by mu.
	tried *triedRequest
	// shortfall is what the last block prepared with nothing to do could not count of
	// the bundles validators reported (ProcessInboxResult); guarded by mu.
	shortfall *inboxShortfall
	// OnFastProposal, if set, is called with a fast proposal before it is first sent;
	// an error aborts the proposal (the wallet persists it here).
	OnFastProposal func(*protocol.BlockProposal) error
	// OnFastProposalEncoded, if set, is called instead of OnFastProposal, with the
	// proposal's canonical encoding too (made with its signature; the callee must not
	// modify it: the same bytes go to the validators).
	OnFastProposalEncoded func(p *protocol.BlockProposal, enc []byte) error
}

// PersistsFastProposals reports whether a hook (OnFastProposal or
// OnFastProposalEncoded) hears of each fast proposal before it is first sent.
func (cc *ChainClient) PersistsFastProposals() bool {
	return cc.OnFastProposal != nil || cc.OnFastProposalEncoded != nil
}

// Chain returns a client for chain id proposing with signer. pending, if not nil, is a
// fast proposal persisted earlier that must be re-sent before anything else.
func (c *Client) Chain(id base.ChainID, signer crypto.Signer, pending *protocol.BlockProposal) *ChainClient {
	return &ChainClient{c: c, id: id, signer: signer, pendingFast: pending}
}

// ID returns the chain id.
func (cc *ChainClient) ID() base.ChainID { return cc.id }

// Owner returns the signer's owner address.
func (cc *ChainClient) Owner() base.Owner { return cc.signer.Public().Owner() }

// PendingFastProposal returns the fast proposal signed for the current height, if any.
func (cc *ChainClient) PendingFastProposal() *protocol.BlockProposal {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.pendingFast
}

// errorsAs is errors.As with a generic target.
func errorsAs[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}
