package client_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// slowDelivery is a validator that has not delivered incoming bundles yet: it refuses
// the first refusals proposals that receive a bundle with ErrMissingBundle, as a
// validator whose cross-chain delivery runs behind does.
type slowDelivery struct {
	client.ValidatorNode
	refusals atomic.Int64
}

func (s *slowDelivery) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	if len(p.Content.Block.Bundles()) > 0 && s.refusals.Add(-1) >= 0 {
		return nil, fmt.Errorf("transaction 0: %w", chain.ErrMissingBundle)
	}
	return s.ValidatorNode.HandleBlockProposal(ctx, p)
}

// TestProposalWaitsForBundleDelivery: when two of four validators have not delivered a
// bundle the block receives when the proposal arrives (it reached the other two), the
// client asks them again after growing pauses instead of giving up after two immediate
// tries, which left the block without a quorum (a WaitForTimeoutError in the fast
// round).
func TestProposalWaitsForBundleDelivery(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	var vs []client.Validator
	var slow []*slowDelivery
	for i, v := range n.validators {
		node := v.Node
		if i >= 2 {
			sd := &slowDelivery{ValidatorNode: v.Node}
			slow = append(slow, sd)
			node = sd
		}
		vs = append(vs, client.Validator{PublicKey: v.PublicKey, Node: node})
	}
	local := worker.New(worker.Config{Storage: newStore(t, n.genesis), Clock: n.clock, Loader: n.loader})
	c := client.New(client.Config{Local: local, Committee: n.committee, Validators: vs, Clock: n.clock})
	a, b := c.Chain(n.chains[0], alice, nil), c.Chain(n.chains[1], bob, nil)
	if _, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1)); err != nil {
		t.Fatal(err)
	}
	for _, sd := range slow {
		sd.refusals.Store(4)
	}
	cert, err := b.ProcessInbox(ctx)
	if err != nil {
		t.Fatalf("receiving while two validators deliver late: %v", err)
	}
	if cert == nil || len(cert.Block.Proposed.Bundles()) != 1 {
		t.Fatalf("the block did not receive the bundle: %v", cert)
	}
	// The quorum (3 of 4) needs at least one slow validator's vote: it must have been
	// asked again past all its refusals. The other may be left behind once the quorum
	// is reached, depending on how the retries interleave.
	voted := 0
	for _, sd := range slow {
		if sd.refusals.Load() < 0 {
			voted++
		}
	}
	if voted == 0 {
		t.Errorf("no slow validator was asked past its refusals (left: %d, %d)", slow[0].refusals.Load()+1, slow[1].refusals.Load()+1)
	}
}

// TestUpdateValidatorOncePerOrigin: a validator that lacks the bundles of a block
// receiving many bundles from one sender's block is updated with one query about that
// sender, not one per bundle (100 round trips per lagging validator for a block of
// `mica benchmark --transactions-per-block 100`).
func TestUpdateValidatorOncePerOrigin(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	var vs []client.Validator
	counted := &countingNode{ValidatorNode: n.validators[3].Node}
	slow := &slowDelivery{ValidatorNode: counted}
	for i, v := range n.validators {
		node := v.Node
		if i == 3 {
			node = slow
		}
		vs = append(vs, client.Validator{PublicKey: v.PublicKey, Node: node})
	}
	local := worker.New(worker.Config{Storage: newStore(t, n.genesis), Clock: n.clock, Loader: n.loader})
	c := client.New(client.Config{Local: local, Committee: n.committee, Validators: vs, Clock: n.clock})
	a, b := c.Chain(n.chains[0], alice, nil), c.Chain(n.chains[1], bob, nil)
	const transfers = 20
	ops := make([]protocol.Operation, transfers)
	for i := range ops {
		ops[i] = protocol.SystemOp(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: n.chains[1]}, Amount: base.AmountFromAttos(1)})
	}
	if _, err := a.ExecuteOperations(ctx, ops, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitBackground(ctx); err != nil {
		t.Fatal(err)
	}
	slow.refusals.Store(1)
	before := counted.queries.Load()
	cert, err := b.ProcessInbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cert == nil || len(cert.Block.Proposed.Bundles()) != transfers {
		t.Fatalf("the block did not receive the %d bundles: %v", transfers, cert)
	}
	if slow.refusals.Load() >= 0 {
		t.Fatal("the lagging validator was not asked: the test shows nothing")
	}
	// The block's chain, the sender's chain, and the chain-state queries of the block.
	if q := counted.queries.Load() - before; q > 6 {
		t.Fatalf("%d chain-info queries to the lagging validator for a block of %d bundles from one sender's block, want at most 6", q, transfers)
	}
}
