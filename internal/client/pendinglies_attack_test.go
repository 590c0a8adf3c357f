package client_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/protocol"
)

// lyingInbox returns node as a Byzantine validator whose answers list, besides the
// chain's real pending bundles, 20,000 bundles that were never sent (from chains that do
// not exist, dated before everything else so that they would be taken first), a copy of
// each real bundle with a larger amount and the same cursor (it reports the chain's
// height truthfully).
func lyingInbox(node *deliveringNode) *inboxLiar {
	return &inboxLiar{deliveringNode: node, lie: func(real []protocol.IncomingBundle) []protocol.IncomingBundle {
		var lies []protocol.IncomingBundle
		for i := range 20_000 {
			lies = append(lies, neverSent("nowhere", i, base.Tokens(1_000_000)))
		}
		for _, b := range real {
			inflated := b
			inflated.Bundle.Messages = credit(base.Tokens(1_000))
			lies = append(lies, inflated, b)
		}
		return lies
	}}
}

// TestAttackPendingBundleLies: one Byzantine validator's pending bundles (never sent,
// inflated copies of real ones) never reach the client's block: the client takes only
// bundles that f+1 of the weight report, so its block receives exactly the real
// bundles, and the honest validators accept it.
func TestAttackPendingBundleLies(t *testing.T) {
	ctx := context.Background()
	a := newInboxAttack(t)
	n := a.n
	for range 2 {
		if _, err := a.sender.Transfer(ctx, base.ChainOwner, a.victim, base.Tokens(1)); err != nil {
			t.Fatal(err)
		}
	}
	// Sequential: the Byzantine validator, first of the pool, is asked first, so its
	// answer is among those the client counts.
	c, _ := n.byzantineClient(t, map[int]client.ValidatorNode{0: lyingInbox(n.node(0))}, 0)
	cert, err := c.Chain(n.chains[1], a.bob, nil).ProcessInbox(ctx)
	if err != nil {
		t.Fatalf("process inbox: %v", err)
	}
	if got := len(cert.Block.Proposed.Bundles()); got != 2 {
		t.Fatalf("the block received %d bundles, want the 2 real ones", got)
	}
	for i := range n.workers {
		if got := n.balance(i, a.victim); got != base.Tokens(102) {
			t.Errorf("validator %d: victim has %s, want 102", i, got)
		}
	}
}
