package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

func TestTransferBothWays(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	a := n.client().Chain(n.chains[0], alice, nil)
	b := n.client().Chain(n.chains[1], bob, nil)

	cert, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(10))
	if err != nil {
		t.Fatalf("transfer A→B: %v", err)
	}
	if !cert.Round.IsFast() {
		t.Fatalf("single-owner chain committed in %v, want the fast round", cert.Round)
	}
	// The credit sits in B's inbox on every validator until B receives it.
	for i := range n.workers {
		info, err := n.workers[i].HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: n.chains[1], RequestPendingBundles: true})
		if err != nil || len(info.RequestedPendingBundles) != 1 {
			t.Fatalf("validator %d: pending bundles of B = %v, %v", i, info, err)
		}
	}
	if _, err := b.ProcessInbox(ctx); err != nil {
		t.Fatalf("B process inbox: %v", err)
	}
	if _, err := b.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(3)); err != nil {
		t.Fatalf("transfer B→A: %v", err)
	}
	if _, err := a.ProcessInbox(ctx); err != nil {
		t.Fatalf("A process inbox: %v", err)
	}
	for i := range n.workers {
		if got := n.balance(i, base.Account{Chain: n.chains[0]}); got != base.Tokens(93) {
			t.Errorf("validator %d: A balance %s, want 93", i, got)
		}
		if got := n.balance(i, base.Account{Chain: n.chains[1]}); got != base.Tokens(107) {
			t.Errorf("validator %d: B balance %s, want 107", i, got)
		}
	}
	// An overdraft is refused before anything is signed, and changes nothing.
	_, err = a.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1000))
	if !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("overdraft: got %v, want an ErrInvalid", err)
	}
	if got := n.balance(0, base.Account{Chain: n.chains[0]}); got != base.Tokens(93) {
		t.Fatalf("overdraft changed the balance to %s", got)
	}
}

func TestTransferToUnknownChainRefused(t *testing.T) {
	ctx := context.Background()
	alice := prototest.Key("alice")
	n := newNet(t, []*crypto.PrivateKey{alice}, base.Tokens(100))
	a := n.client().Chain(n.chains[0], alice, nil)
	_, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: base.ChainID{0xde, 0xad}}, base.Tokens(1))
	if !errors.Is(err, worker.ErrUnknownChain) {
		t.Fatalf("transfer to an unknown chain: got %v", err)
	}
	if got := n.balance(0, base.Account{Chain: n.chains[0]}); got != base.Tokens(100) {
		t.Fatalf("refused transfer changed the balance to %s", got)
	}
}

// TestTransferToChainIDAsOwnerRefused: a chain id pasted where a recipient's owner goes
// (CHAIN@OTHER_CHAIN) reads as an owner address, and tokens sent there reach an account
// no key controls. The wallet refuses the chains it knows (wallet.ParseRecipient); a
// chain it does not know — opened by someone else, its description only on the
// validators — was paid. Transfer and Claim refuse an owner that is the id of a chain
// the local node or a validator knows, before anything is signed; an owner that is a
// key's address is paid as before.
func TestTransferToChainIDAsOwnerRefused(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	child, _, err := n.client().Chain(n.chains[1], bob, nil).OpenChain(ctx, protocol.SingleSuperOwner(bob.Public().Owner()), base.Tokens(1))
	if err != nil {
		t.Fatalf("open chain: %v", err)
	}
	a := n.client().Chain(n.chains[0], alice, nil)
	for _, id := range []base.ChainID{child, n.chains[1], n.chains[0]} {
		to := base.Account{Chain: n.chains[1], Owner: base.Address32Owner(base.Hash(id))}
		if _, err := a.Transfer(ctx, base.ChainOwner, to, base.Tokens(1)); !errors.Is(err, base.ErrInvalid) || !strings.Contains(err.Error(), "not an owner") {
			t.Errorf("transfer to %s: got %v, want an ErrInvalid naming the chain", to, err)
		}
		if _, err := a.Claim(ctx, alice.Public().Owner(), n.chains[1], to, base.Tokens(1)); !errors.Is(err, base.ErrInvalid) || !strings.Contains(err.Error(), "not an owner") {
			t.Errorf("claim to %s: got %v, want an ErrInvalid naming the chain", to, err)
		}
	}
	if got := n.balance(0, base.Account{Chain: n.chains[0]}); got != base.Tokens(100) {
		t.Fatalf("refused transfers changed the balance to %s", got)
	}
	to := base.Account{Chain: n.chains[1], Owner: bob.Public().Owner()}
	if _, err := a.Transfer(ctx, base.ChainOwner, to, base.Tokens(1)); err != nil {
		t.Fatalf("transfer to %s: %v", to, err)
	}
}
