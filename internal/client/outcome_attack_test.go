package client_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// TestAttackInboxOverOutcomeLimitDefers: a sender fills a chain's inbox with tracked
// transfers, each block of the sender within the policy's MaxBlockOutcomeBytes, whose
// rejection bounces more than one block's outcome may hold. The chain rejects incoming
// bundles (as a closed chain must): its client must leave the bundles past the limit
// for later blocks, not fail to build any block. Before the fix, staging failed on
// the bundle past the limit (already a rejection, so nothing was left to try) and the
// chain could not make a block while those bundles were pending.
func TestAttackInboxOverOutcomeLimitDefers(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	policy := protocol.NoFeesPolicy()
	policy.MaxBlockOutcomeBytes = 8 << 10
	n := &net{t: t, clock: &clock{now: 10_000_000}, keys: prototest.Validators(4)}
	committee, err := protocol.NewCommittee(prototest.Committee(n.keys).Validators, policy)
	if err != nil {
		t.Fatal(err)
	}
	n.committee = committee
	n.genesis = prototest.Genesis(n.committee, []*crypto.PrivateKey{alice, bob}, base.Tokens(1000))
	n.chains = n.genesis.ChainIDs()
	for _, k := range n.keys {
		w := worker.New(worker.Config{Storage: newStore(t, n.genesis), Signer: k, Clock: n.clock})
		n.workers = append(n.workers, w)
		n.validators = append(n.validators, client.Validator{PublicKey: k.Public(), Node: &deliveringNode{w: w}})
	}
	a := n.client().Chain(n.chains[0], alice, nil)
	b := n.client().Chain(n.chains[1], bob, nil)
	b.RejectIncoming = true

	const blocks, perBlock = 3, 40
	for range blocks {
		var ops []protocol.Operation
		for range perBlock {
			ops = append(ops, protocol.SystemOp(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: n.chains[1]}, Amount: base.Tokens(1)}))
		}
		if _, err := a.ExecuteOperations(ctx, ops, nil); err != nil {
			t.Fatalf("sender's block of %d transfers: %v", perBlock, err)
		}
	}
	cert, err := b.ProcessInbox(ctx)
	if err != nil || cert == nil {
		t.Fatalf("the receiver cannot reject its inbox of %d bundles: %v", blocks*perBlock, err)
	}
	t.Logf("the receiver rejected %d bundles in %d blocks", blocks*perBlock, cert.Height()+1)
	if cert.Height() == 0 {
		t.Fatalf("the inbox was rejected in one block of height 0: the test needs bounces over the limit")
	}
	if _, err := a.ProcessInbox(ctx); err != nil {
		t.Fatalf("the sender receives the bounces: %v", err)
	}
	for i := range n.workers {
		if got := n.balance(i, base.Account{Chain: n.chains[0]}); got != base.Tokens(1000) {
			t.Errorf("validator %d: the sender has %s after the bounces, want 1000", i, got)
		}
	}
}
