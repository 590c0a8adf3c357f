package nodeservice_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/localnet"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/wallet"
	"github.com/micachain/mica/internal/worker"
)

// errStopped is what a stopped validator's calls fail with: the class the RPC client
// gives an unreachable validator (rpc.ErrUnreachable).
var errStopped = fmt.Errorf("%w: validator stopped", base.ErrRetryable)

// stoppable is a validator that can be stopped and restarted: while stopped, every call
// fails (stopped), or only block proposals do (refusesProposals: the proposal does not
// reach it, queries do).
type stoppable struct {
	*testNode
	stopped          atomic.Bool
	refusesProposals atomic.Bool
}

func (n *stoppable) down() error {
	if n.stopped.Load() {
		return errStopped
	}
	return nil
}

func (n *stoppable) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	if err := n.down(); err != nil || n.refusesProposals.Load() {
		return nil, errStopped
	}
	return n.testNode.HandleBlockProposal(ctx, p)
}

func (n *stoppable) HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	if err := n.down(); err != nil {
		return nil, err
	}
	return n.testNode.HandleCertificate(ctx, c)
}

func (n *stoppable) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	if err := n.down(); err != nil {
		return nil, err
	}
	return n.testNode.HandleChainInfoQuery(ctx, q)
}

func (n *stoppable) HandleBlob(ctx context.Context, b protocol.Blob) error {
	if err := n.down(); err != nil {
		return err
	}
	return n.testNode.HandleBlob(ctx, b)
}

func (n *stoppable) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	if err := n.down(); err != nil {
		return protocol.Blob{}, err
	}
	return n.testNode.ReadBlob(ctx, id)
}

func (n *stoppable) Certificates(ctx context.Context, id base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	if err := n.down(); err != nil {
		return nil, err
	}
	return n.testNode.Certificates(ctx, id, from, to)
}

// commitRig is a wallet owning chains[0] of a 4-validator test network, reached through
// validators that can be stopped.
type commitRig struct {
	t     *testing.T
	n     *testNet
	w     *wallet.Wallet
	cc    *client.ChainClient
	nodes []*stoppable
	calls atomic.Int32 // attempts made (calls of transfer's f)
}

func newCommitRig(t *testing.T) *commitRig {
	n := newTestNet(t, twoKeys(), nil)
	w, err := wallet.Create(t.TempDir(), n.genesis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	if err := w.ImportKey(n.owners[0]); err != nil {
		t.Fatal(err)
	}
	owner := n.owners[0].Public().Owner()
	if err := w.AddChain(n.chains[0], &owner); err != nil {
		t.Fatal(err)
	}
	r := &commitRig{t: t, n: n, w: w}
	var vals []client.Validator
	for i, k := range n.keys {
		sn := &stoppable{testNode: n.nodes[i]}
		r.nodes = append(r.nodes, sn)
		vals = append(vals, client.Validator{PublicKey: k.Public(), Node: sn})
	}
	local := worker.New(worker.Config{Storage: newStore(t, n.genesis), Clock: localnet.WallClock{}})
	// Stopped validators fail at once: no test here waits out a call, so the per-call
	// deadline is generous, for a loaded machine.
	c := client.New(client.Config{Local: local, Committee: &n.genesis.Committee, Validators: vals, Clock: localnet.WallClock{}, RequestTimeout: time.Minute})
	if r.cc, err = nodeservice.ChainClient(w, c, n.chains[0]); err != nil {
		t.Fatal(err)
	}
	return r
}

// transfer is a commit's f: amount from chains[0] to chains[1], counting attempts.
func (r *commitRig) transfer(ctx context.Context, amount base.Amount) func() (*protocol.Certificate, error) {
	return func() (*protocol.Certificate, error) {
		r.calls.Add(1)
		return r.cc.Transfer(ctx, base.ChainOwner, base.Account{Chain: r.n.chains[1]}, amount)
	}
}

// validatorState is what validator i holds of chains[0]: its next height and balance.
func (r *commitRig) validatorState(i int) (base.BlockHeight, base.Amount) {
	r.t.Helper()
	info, err := r.n.nodes[i].w.HandleChainInfoQuery(context.Background(), &protocol.ChainInfoQuery{ChainID: r.n.chains[0]})
	if err != nil {
		r.t.Fatal(err)
	}
	return info.NextBlockHeight, info.ChainBalance
}

// checkOneBlock checks that every validator gets chains[0] to height 1 (the certificate
// reaches the last ones after Commit returned), and no further.
func (r *commitRig) checkOneBlock() {
	r.t.Helper()
	for i := range r.n.nodes {
		eventually(r.t, fmt.Sprintf("validator %d has the block", i), func() bool {
			h, _ := r.validatorState(i)
			return h > 0
		})
		if h, _ := r.validatorState(i); h != 1 {
			r.t.Errorf("validator %d: chain at height %d, want 1 (one block)", i, h)
		}
	}
}

// TestCommitRetriesNoQuorum: with a quorum of validators stopped, a transfer fails with
// ErrNoQuorum; Commit reports each retry and, once the validators are back, commits
// the transfer exactly once.
func TestCommitRetriesNoQuorum(t *testing.T) {
	r := newCommitRig(t)
	r.nodes[2].stopped.Store(true)
	r.nodes[3].stopped.Store(true)
	var waits []nodeservice.Wait
	ctx := context.Background()
	cert, err := nodeservice.Commit(ctx, r.w, r.cc, r.transfer(ctx, base.Tokens(1)), nodeservice.Retry{Backoff: 10 * time.Millisecond, OnWait: func(w nodeservice.Wait) {
		waits = append(waits, w)
		if len(waits) == 2 {
			// Restarted after the second failed attempt.
			r.nodes[2].stopped.Store(false)
			r.nodes[3].stopped.Store(false)
		}
	}})
	if err != nil {
		t.Fatalf("commit after the validators restarted: %v (waits %v)", err, waits)
	}
	if cert == nil || cert.Height() != 0 {
		t.Fatalf("certificate %v, want the block at height 0", cert)
	}
	if got := r.calls.Load(); got != 3 || len(waits) != 2 {
		t.Fatalf("%d attempts and %d waits, want 3 and 2", got, len(waits))
	}
	for i, w := range waits {
		if !errors.Is(w.Err, client.ErrNoQuorum) || w.Timeout != nil || w.Attempt != i+2 {
			t.Errorf("wait %d: %+v, want a retry of ErrNoQuorum before attempt %d", i, w, i+2)
		}
	}
	if w := waits[0]; w.Wait != 10*time.Millisecond || waits[1].Wait != 20*time.Millisecond {
		t.Errorf("backoff %v then %v, want 10ms then 20ms", w.Wait, waits[1].Wait)
	}
	if s := waits[0].String(); s != "no quorum of validators answered; retrying in 10ms (attempt 2)" {
		t.Errorf("progress line %q", s)
	}
	r.checkOneBlock()
	if ch, _ := r.w.Chain(r.n.chains[0]); ch.NextHeight != 1 || ch.HasPendingProposal {
		t.Errorf("wallet: %+v, want next height 1 and no pending proposal", ch)
	}
}

// TestCommitRetryResendsPendingProposal: the proposal reaches only two validators of
// four (no quorum of votes), so the fast proposal stays pending; the retry after the
// others restart gets that very block confirmed — the transfer is executed once.
func TestCommitRetryResendsPendingProposal(t *testing.T) {
	r := newCommitRig(t)
	_, before := r.validatorState(0)
	r.nodes[2].refusesProposals.Store(true)
	r.nodes[3].refusesProposals.Store(true)
	var waits []nodeservice.Wait
	var pendingSeen bool
	ctx := context.Background()
	cert, err := nodeservice.Commit(ctx, r.w, r.cc, r.transfer(ctx, base.Tokens(1)), nodeservice.Retry{Backoff: 10 * time.Millisecond, OnWait: func(w nodeservice.Wait) {
		waits = append(waits, w)
		if len(waits) == 1 {
			pendingSeen = r.w.PendingProposal(r.n.chains[0]) != nil
			r.nodes[2].refusesProposals.Store(false)
			r.nodes[3].refusesProposals.Store(false)
		}
	}})
	if err != nil {
		t.Fatalf("commit: %v (waits %v)", err, waits)
	}
	if len(waits) == 0 || !pendingSeen {
		t.Fatalf("the first attempt did not fail with its fast proposal pending (waits %v, pending %v)", waits, pendingSeen)
	}
	if cert == nil || cert.Height() != 0 {
		t.Fatalf("certificate %v, want the block at height 0", cert)
	}
	once, err := before.Sub(base.Tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	twice, err := before.Sub(base.Tokens(2))
	if err != nil {
		t.Fatal(err)
	}
	r.checkOneBlock()
	for i := range r.n.nodes {
		// Fees (well below a token) aside, the balance shows one transfer.
		if _, bal := r.validatorState(i); bal.Compare(once) > 0 || bal.Compare(twice) <= 0 {
			t.Errorf("validator %d: balance %s, want %s minus fees", i, bal, once)
		}
	}
	if ch, _ := r.w.Chain(r.n.chains[0]); ch.HasPendingProposal {
		t.Errorf("wallet still has a pending proposal after the commit: %+v", ch)
	}
}

// TestCommitNonRetryableAtOnce: a failure that is not retryable (an overdraft) returns
// from the first attempt, without waiting.
func TestCommitNonRetryableAtOnce(t *testing.T) {
	r := newCommitRig(t)
	ctx := context.Background()
	waited := false
	_, err := nodeservice.Commit(ctx, r.w, r.cc, r.transfer(ctx, base.Tokens(1_000_000)), nodeservice.Retry{OnWait: func(nodeservice.Wait) { waited = true }})
	if err == nil || errors.Is(err, base.ErrRetryable) {
		t.Fatalf("overdraft: %v, want an error that is not retryable", err)
	}
	if waited || r.calls.Load() != 1 {
		t.Fatalf("overdraft retried: %d attempts", r.calls.Load())
	}
}

// TestCommitGivesUp: with the validators stopped for good, Commit retries for the time
// it is given, then returns the last failure (still ErrNoQuorum) saying so; a Retryable
// that refuses, or Time < 0, return the first failure.
func TestCommitGivesUp(t *testing.T) {
	r := newCommitRig(t)
	for _, n := range r.nodes {
		n.stopped.Store(true)
	}
	ctx := context.Background()
	_, err := nodeservice.Commit(ctx, r.w, r.cc, r.transfer(ctx, base.Tokens(1)), nodeservice.Retry{Time: 200 * time.Millisecond, Backoff: 10 * time.Millisecond})
	if !errors.Is(err, client.ErrNoQuorum) || !strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("validators stopped for good: %v, want ErrNoQuorum after retries", err)
	}
	if n := r.calls.Load(); n < 2 {
		t.Fatalf("%d attempts, want retries", n)
	}

	for _, retry := range []nodeservice.Retry{
		{Retryable: func(err error) bool { return !errors.Is(err, client.ErrNoQuorum) }},
		{Time: -1},
	} {
		r.calls.Store(0)
		_, err = nodeservice.Commit(ctx, r.w, r.cc, r.transfer(ctx, base.Tokens(1)), retry)
		if !errors.Is(err, client.ErrNoQuorum) || strings.Contains(err.Error(), "gave up") || r.calls.Load() != 1 {
			t.Errorf("no retries wanted: %v after %d attempts", err, r.calls.Load())
		}
	}
}

// TestCommitCanceledWhileWaiting: the caller's context ends a wait between attempts.
func TestCommitCanceledWhileWaiting(t *testing.T) {
	r := newCommitRig(t)
	r.nodes[2].stopped.Store(true)
	r.nodes[3].stopped.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := nodeservice.Commit(ctx, r.w, r.cc, r.transfer(ctx, base.Tokens(1)), nodeservice.Retry{Backoff: time.Hour, OnWait: func(nodeservice.Wait) { cancel() }})
	if !errors.Is(err, context.Canceled) || r.calls.Load() != 1 {
		t.Fatalf("canceled during the wait: %v after %d attempts", err, r.calls.Load())
	}
}

// TestCommitWaitsOutRound: a round to wait out is waited for as long as it lasts (not
// the backoff), reported as such, and then the operation runs again; so is any other
// retryable failure (a conflict), after the backoff.
func TestCommitWaitsOutRound(t *testing.T) {
	r := newCommitRig(t)
	ctx := context.Background()
	until := base.Timestamp(time.Now().Add(300 * time.Millisecond).UnixMicro())
	results := []error{
		&client.WaitForTimeoutError{Height: 0, Round: base.FastRound, Until: until},
		fmt.Errorf("propose: %w", client.ErrConflict),
		nil,
	}
	var waits []nodeservice.Wait
	calls := 0
	_, err := nodeservice.Commit(ctx, r.w, r.cc, func() (*protocol.Certificate, error) {
		calls++
		return nil, results[calls-1]
	}, nodeservice.Retry{Backoff: 10 * time.Millisecond, OnWait: func(w nodeservice.Wait) { waits = append(waits, w) }})
	if err != nil || calls != 3 || len(waits) != 2 {
		t.Fatalf("commit: %v after %d attempts, waits %v", err, calls, waits)
	}
	if w := waits[0]; w.Timeout == nil || w.Timeout.Round != base.FastRound || w.Wait < 200*time.Millisecond || w.Wait > 400*time.Millisecond ||
		!strings.HasPrefix(w.String(), "waiting ") || !strings.HasSuffix(w.String(), " to time out (attempt 2)") {
		// The rest of the round (at most 300 ms) and 100 ms, at least 200 ms.
		t.Errorf("round wait %+v (%q), want the rest of the round and 100 ms", w, w)
	}
	if w := waits[1]; w.Timeout != nil || w.Wait != 10*time.Millisecond || w.String() != "another block was confirmed at this height; retrying in 10ms (attempt 3)" {
		t.Errorf("conflict wait %+v (%q), want the first backoff", w, w)
	}
}
