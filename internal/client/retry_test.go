package client_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// A command that fails while its block is still pending (no quorum yet) is retried by
// the CLI with the same operations. The retry must finish the pending block, not commit
// the operations a second time: a transfer retried after a timeout moves its amount
// once.

func TestRetryAfterPendingFastProposalExecutesOnce(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	a := n.client().Chain(n.chains[0], alice, nil)
	to := base.Account{Chain: n.chains[1]}

	n.node(2).dropProposals.Store(true)
	n.node(3).dropProposals.Store(true)
	if _, err := a.Transfer(ctx, base.ChainOwner, to, base.Tokens(10)); err == nil {
		t.Fatal("transfer committed without a quorum")
	}
	if a.PendingFastProposal() == nil {
		t.Fatal("no pending fast proposal after the partial quorum")
	}
	n.node(2).dropProposals.Store(false)
	n.node(3).dropProposals.Store(false)

	cert, err := a.Transfer(ctx, base.ChainOwner, to, base.Tokens(10))
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if cert == nil || cert.Height() != 0 {
		t.Fatalf("retry committed %v, want the pending block at height 0", cert)
	}
	for i := range n.workers {
		if got := n.balance(i, base.Account{Chain: n.chains[0]}); got != base.Tokens(90) {
			t.Fatalf("validator %d: sender has %s, want 90 (the transfer ran twice?)", i, got)
		}
	}
	// A different request after that is a new block.
	cert, err = a.Transfer(ctx, base.ChainOwner, to, base.Tokens(10))
	if err != nil || cert.Height() != 1 {
		t.Fatalf("second transfer: %v at %v", err, cert)
	}
	if got := n.balance(0, base.Account{Chain: n.chains[0]}); got != base.Tokens(80) {
		t.Fatalf("sender has %s after two transfers, want 80", got)
	}
}

func TestRetryAfterLostValidatedCertificateExecutesOnce(t *testing.T) {
	ctx := context.Background()
	n, id, cs, to := validatedNotConfirmed(t)
	n.clock.Advance(11_000_000)
	if _, err := cs[0].RequestTimeout(ctx); err != nil {
		t.Fatalf("timeout: %v", err)
	}
	// The same owner retries the same transfer.
	retryTransferOnce(t, n, cs[0], to, id, base.Tokens(43))
}

// TestRetryAfterOtherOwnerFinishedTheBlockExecutesOnce: the owner's block is validated
// but not confirmed, another owner of the chain finishes it (re-proposing the locked
// block before its own), and then the first owner retries the same request: it must get
// the confirmed block, not a second transfer.
func TestRetryAfterOtherOwnerFinishedTheBlockExecutesOnce(t *testing.T) {
	ctx := context.Background()
	n, id, cs, to := validatedNotConfirmed(t)
	// The other owner commits a block of its own; on the way it finishes the locked one.
	var err error
	for try := 0; try < 4; try++ {
		n.clock.Advance(11_000_000)
		_, _ = cs[1].RequestTimeout(ctx)
		if _, err = cs[1].Transfer(ctx, base.ChainOwner, to, base.Tokens(1)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("other owner: %v", err)
	}
	// The first owner retries its request.
	retryTransferOnce(t, n, cs[0], to, id, base.Tokens(42)) // 50 - 7 - 1
}

// validatedNotConfirmed opens a multi-owner chain whose first owner (cs[0]) then
// transfers 7 tokens to n.chains[1] (to) in a block that is validated but whose
// validated certificate reaches only validator 0, so the transfer fails unconfirmed.
func validatedNotConfirmed(t *testing.T) (n *net, id base.ChainID, cs []*client.ChainClient, to base.Account) {
	t.Helper()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n = newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	id, cs, _ = multiOwner(t, n, n.client().Chain(n.chains[0], alice, nil), 2)
	to = base.Account{Chain: n.chains[1]}
	for i := 1; i < 4; i++ {
		n.node(i).dropValidated.Store(true)
	}
	if _, err := cs[0].Transfer(context.Background(), base.ChainOwner, to, base.Tokens(7)); err == nil {
		t.Fatal("block committed although the validated certificate was lost")
	}
	for i := 1; i < 4; i++ {
		n.node(i).dropValidated.Store(false)
	}
	return n, id, cs, to
}

// retryTransferOnce has cc retry the transfer of 7 tokens to `to` (up to three times,
// waiting out a round between tries) and checks that every validator then holds want on
// chain id: a transfer that ran twice leaves 7 less.
func retryTransferOnce(t *testing.T, n *net, cc *client.ChainClient, to base.Account, id base.ChainID, want base.Amount) {
	t.Helper()
	ctx := context.Background()
	var err error
	for try := 0; try < 3; try++ {
		if _, err = cc.Transfer(ctx, base.ChainOwner, to, base.Tokens(7)); err == nil {
			break
		}
		n.clock.Advance(11_000_000)
		_, _ = cc.RequestTimeout(ctx)
	}
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	for i := range n.workers {
		if got := n.balance(i, base.Account{Chain: id}); got != want {
			t.Fatalf("validator %d: multi-owner chain has %s, want %s (the transfer ran twice?)", i, got, want)
		}
	}
}
