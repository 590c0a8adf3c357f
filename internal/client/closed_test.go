package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// A transfer that reaches a closed chain is rejected by ProcessInbox, so it bounces back
// to its sender instead of staying stuck in the closed chain's inbox.
func TestClosedChainRejectsIncomingTransfers(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	a := n.client().Chain(n.chains[0], alice, nil)
	b := n.client().Chain(n.chains[1], bob, nil)
	if _, err := b.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.CloseChain{})}, nil); err != nil {
		t.Fatalf("close chain: %v", err)
	}
	if _, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(10)); err != nil {
		t.Fatal(err)
	}
	cert, err := b.ProcessInbox(ctx)
	if err != nil || cert == nil {
		t.Fatalf("closed chain's process-inbox: %v", err)
	}
	if tx := cert.Block.Proposed.Transactions[0]; tx.Bundle == nil || tx.Bundle.Action != protocol.Reject {
		t.Fatalf("the closed chain's block does not reject the bundle")
	}
	if _, err := a.ProcessInbox(ctx); err != nil {
		t.Fatalf("A receives the bounce: %v", err)
	}
	for i := range n.workers {
		if got := n.balance(i, base.Account{Chain: n.chains[0]}); got != base.Tokens(100) {
			t.Errorf("validator %d: A has %s after the bounce, want 100", i, got)
		}
	}
}

// After its ownership moves to bob, alice's client says at once that she is no longer an
// owner, instead of waiting for rounds to time out.
func TestFormerOwnerIsToldAtOnce(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	a := n.client().Chain(n.chains[0], alice, nil)
	b := n.client().Chain(n.chains[1], bob, nil)
	own := protocol.SingleSuperOwner(bob.Public().Owner())
	if _, err := a.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.ChangeOwnership{Ownership: own})}, nil); err != nil {
		t.Fatalf("change ownership: %v", err)
	}
	if _, err := b.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1)); err != nil {
		t.Fatal(err)
	}
	_, err := a.ProcessInbox(ctx)
	if !errors.Is(err, client.ErrNotOwner) || !strings.Contains(err.Error(), "not an owner of chain") {
		t.Fatalf("former owner's process-inbox: %v, want ErrNotOwner", err)
	}
	// The new owner receives it.
	if cert, err := n.client().Chain(n.chains[0], bob, nil).ProcessInbox(ctx); err != nil || cert == nil {
		t.Fatalf("new owner's process-inbox: %v", err)
	}
}

// Bob claims tokens from his account on alice's chain into his own chain: the claim
// block on his chain, the withdrawal on alice's, the credit on his.
func TestClaimFromAnotherChain(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	a := n.client().Chain(n.chains[0], alice, nil)
	b := n.client().Chain(n.chains[1], bob, nil)
	bobOnA := base.Account{Chain: n.chains[0], Owner: bob.Public().Owner()}
	if _, err := a.Transfer(ctx, base.ChainOwner, bobOnA, base.Tokens(30)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Claim(ctx, alice.Public().Owner(), n.chains[0], base.Account{Chain: n.chains[1]}, base.Tokens(1)); err == nil {
		t.Fatal("bob's chain signed a claim of alice's tokens")
	}
	if _, err := b.Claim(ctx, bob.Public().Owner(), n.chains[0], base.Account{Chain: n.chains[1]}, base.Tokens(12)); err != nil {
		t.Fatalf("claim: %v", err)
	}
	if _, err := a.ProcessInbox(ctx); err != nil {
		t.Fatalf("A executes the withdrawal: %v", err)
	}
	if _, err := b.ProcessInbox(ctx); err != nil {
		t.Fatalf("B receives the tokens: %v", err)
	}
	for i := range n.workers {
		if got := n.balance(i, bobOnA); got != base.Tokens(18) {
			t.Errorf("validator %d: bob@A has %s, want 18", i, got)
		}
		if got := n.balance(i, base.Account{Chain: n.chains[1]}); got != base.Tokens(112) {
			t.Errorf("validator %d: B has %s, want 112", i, got)
		}
	}
}
