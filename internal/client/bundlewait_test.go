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
