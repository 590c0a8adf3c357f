package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

func TestRejectedTrackedTransferBounces(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	a := n.client().Chain(n.chains[0], alice, nil)
	b := n.client().Chain(n.chains[1], bob, nil)
	b.RejectIncoming = true
	if _, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(10)); err != nil {
		t.Fatal(err)
	}
	cert, err := b.ProcessInbox(ctx)
	if err != nil || cert == nil {
		t.Fatalf("B reject: %v", err)
	}
	if tx := cert.Block.Proposed.Transactions[0]; tx.Bundle == nil || tx.Bundle.Action != protocol.Reject {
		t.Fatalf("B's block does not reject the bundle")
	}
	if _, err := a.ProcessInbox(ctx); err != nil {
		t.Fatalf("A receives the bounce: %v", err)
	}
	for i := range n.workers {
		if got := n.balance(i, base.Account{Chain: n.chains[0]}); got != base.Tokens(100) {
			t.Errorf("validator %d: A has %s after the bounce, want 100", i, got)
		}
		if got := n.balance(i, base.Account{Chain: n.chains[1]}); got != base.Tokens(100) {
			t.Errorf("validator %d: B has %s, want 100", i, got)
		}
	}
}

func TestChildChainProposesRightAway(t *testing.T) {
	ctx := context.Background()
	alice, bob, carol := prototest.Key("alice"), prototest.Key("bob"), prototest.Key("carol")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	a := n.client().Chain(n.chains[0], alice, nil)
	child, _, err := a.OpenChain(ctx, protocol.SingleSuperOwner(carol.Public().Owner()), base.Tokens(20))
	if err != nil {
		t.Fatalf("open chain: %v", err)
	}
	c := n.client().Chain(child, carol, nil)
	cert, err := c.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(5))
	if err != nil {
		t.Fatalf("child's first block: %v", err)
	}
	if cert.Height() != 0 || !cert.Round.IsFast() {
		t.Fatalf("child's first block at height %d round %v, want 0 in the fast round", cert.Height(), cert.Round)
	}
	for i := range n.workers {
		if got := n.balance(i, base.Account{Chain: child}); got != base.Tokens(15) {
			t.Errorf("validator %d: child has %s, want 15", i, got)
		}
		if got := n.balance(i, base.Account{Chain: n.chains[0]}); got != base.Tokens(80) {
			t.Errorf("validator %d: parent has %s, want 80", i, got)
		}
	}
}

// multiOwner opens a chain owned by three keys and returns a client per owner.
func multiOwner(t *testing.T, n *net, funder *client.ChainClient, rounds uint32) (base.ChainID, []*client.ChainClient, []*crypto.PrivateKey) {
	t.Helper()
	keys := []*crypto.PrivateKey{prototest.Key("o1"), prototest.Key("o2"), prototest.Key("o3")}
	owners := []base.Owner{keys[0].Public().Owner(), keys[1].Public().Owner(), keys[2].Public().Owner()}
	id, _, err := funder.OpenChain(context.Background(), protocol.MultiOwner(owners, rounds), base.Tokens(50))
	if err != nil {
		t.Fatalf("open multi-owner chain: %v", err)
	}
	var ccs []*client.ChainClient
	for _, k := range keys {
		ccs = append(ccs, n.client().Chain(id, k, nil))
	}
	return id, ccs, keys
}

func TestMultiOwnerConflictingProposals(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	id, cs, _ := multiOwner(t, n, n.client().Chain(n.chains[0], alice, nil), 2)
	to := base.Account{Chain: n.chains[1]}

	// Owner 1's proposal reaches only validators 0 and 1: no quorum.
	n.node(2).dropProposals.Store(true)
	n.node(3).dropProposals.Store(true)
	_, err := cs[0].Transfer(ctx, base.ChainOwner, to, base.Tokens(1))
	var wait *client.WaitForTimeoutError
	if !errors.As(err, &wait) {
		t.Fatalf("partial proposal: got %v, want WaitForTimeoutError", err)
	}
	n.node(2).dropProposals.Store(false)
	n.node(3).dropProposals.Store(false)

	// Owner 2 sees the conflicting proposal and moves to the next multi-leader round.
	cert, err := cs[1].Transfer(ctx, base.ChainOwner, to, base.Tokens(2))
	if err != nil {
		t.Fatalf("owner 2: %v", err)
	}
	if cert.Height() != 0 || cert.Round != base.MultiLeader(1) {
		t.Fatalf("owner 2 committed height %d in %v, want height 0 in multi-leader(1)", cert.Height(), cert.Round)
	}
	// Owner 1 retries: height 0 is taken, so its transfer lands at height 1.
	cert1, err := cs[0].Transfer(ctx, base.ChainOwner, to, base.Tokens(1))
	if err != nil {
		t.Fatalf("owner 1 retry: %v", err)
	}
	if cert1.Height() != 1 {
		t.Fatalf("owner 1's block at height %d, want 1", cert1.Height())
	}
	for h := base.BlockHeight(0); h < 2; h++ {
		hs := n.blockHashes(id, h)
		for i := range hs {
			if hs[i] != hs[0] || hs[i].IsZero() {
				t.Fatalf("height %d: validators disagree or miss the block: %v", h, hs)
			}
		}
	}
	if got := n.balance(0, base.Account{Chain: id}); got != base.Tokens(47) {
		t.Fatalf("multi-owner chain has %s, want 47", got)
	}
}

func TestTimeoutAndLockedBlockReproposed(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	id, cs, keys := multiOwner(t, n, n.client().Chain(n.chains[0], alice, nil), 0)
	to := base.Account{Chain: n.chains[1]}

	// Single-leader rounds only: find the leaders of rounds 0 and 1 at height 0.
	owners := []base.Owner{keys[0].Public().Owner(), keys[1].Public().Owner(), keys[2].Public().Owner()}
	m := consensus.NewManager(protocol.MultiOwner(owners, 0), 0, 0)
	leaderOf := func(r base.Round) *client.ChainClient {
		l, ok := m.Leader(r)
		if !ok {
			t.Fatalf("no leader for %v", r)
		}
		for i, o := range owners {
			if o == l {
				return cs[i]
			}
		}
		t.Fatalf("leader %s is not an owner", l)
		return nil
	}
	first, second := leaderOf(base.SingleLeader(0)), leaderOf(base.SingleLeader(1))

	// The leader's block is validated, but the validated certificate reaches only
	// validator 0, which locks on it; no confirmed quorum forms.
	for i := 1; i < 4; i++ {
		n.node(i).dropValidated.Store(true)
	}
	if _, err := first.Transfer(ctx, base.ChainOwner, to, base.Tokens(7)); err == nil {
		t.Fatal("block committed although the validated certificate was lost")
	}
	for i := 1; i < 4; i++ {
		n.node(i).dropValidated.Store(false)
	}
	info, err := n.workers[0].HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id, RequestManagerValues: true})
	if err != nil || info.Manager.LockingValidated == nil {
		t.Fatalf("validator 0 is not locked: %v", err)
	}
	locked := info.Manager.LockingValidated.Block.Hash()

	// Before the deadline, no timeout; after it, the round moves.
	if moved, err := cs[0].RequestTimeout(ctx); err != nil || moved {
		t.Fatalf("timeout before the deadline: moved=%v err=%v", moved, err)
	}
	n.clock.Advance(11_000_000)
	if moved, err := cs[0].RequestTimeout(ctx); err != nil || !moved {
		t.Fatalf("timeout after the deadline: moved=%v err=%v", moved, err)
	}
	for i, w := range n.workers {
		info, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
		if err != nil || info.Manager.CurrentRound != base.SingleLeader(1) {
			t.Fatalf("validator %d round after timeout: %v %v", i, info.Manager.CurrentRound, err)
		}
	}
	// The next leader must re-propose the locked block; it is confirmed at height 0.
	_, err = second.Transfer(ctx, base.ChainOwner, to, base.Tokens(1))
	var wait *client.WaitForTimeoutError
	if err != nil && !errors.As(err, &wait) {
		t.Fatalf("second leader: %v", err)
	}
	for i, h := range n.blockHashes(id, 0) {
		if h != locked {
			t.Fatalf("validator %d: height 0 is %s, want the locked block %s", i, h.Short(), locked.Short())
		}
	}
	cert, err := n.workers[0].Storage().CertificateAt(ctx, id, 0)
	if err != nil || cert.Round != base.SingleLeader(1) {
		t.Fatalf("locked block confirmed in %v (%v), want single-leader(1)", cert.Round, err)
	}
}
