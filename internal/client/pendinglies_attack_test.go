package client_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// lyingInboxNode is a Byzantine validator whose answers list, besides the chain's real
// pending bundles, 20,000 bundles that were never sent (from chains that do not exist,
// dated before everything else so that they would be taken first), a copy of each real
// bundle with a larger amount and the same cursor, and report a height beyond the
// quorum's.
type lyingInboxNode struct {
	*deliveringNode
}

func (l *lyingInboxNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	info, err := l.deliveringNode.HandleChainInfoQuery(ctx, q)
	if err != nil || !q.RequestPendingBundles {
		return info, err
	}
	out := *info
	var lies []protocol.IncomingBundle
	for i := range 20_000 {
		origin := base.ChainID(crypto.HashBytes("nowhere", []byte{byte(i), byte(i >> 8)}))
		lies = append(lies, protocol.IncomingBundle{Origin: origin, Bundle: protocol.MessageBundle{
			Height: base.BlockHeight(i), Timestamp: 1, CertificateHash: crypto.HashBytes("never sent", origin[:]),
			Messages: []protocol.PostedMessage{{Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Target: base.ChainOwner, Amount: base.Tokens(1_000_000)}}}},
		}})
	}
	for _, b := range info.RequestedPendingBundles {
		inflated := b
		inflated.Bundle.Messages = []protocol.PostedMessage{{Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Target: base.ChainOwner, Amount: base.Tokens(1_000)}}}}
		lies = append(lies, inflated, b)
	}
	out.RequestedPendingBundles = lies
	return &out, nil
}

// TestAttackPendingBundleLies: one Byzantine validator's pending bundles (never sent,
// inflated copies of real ones) never reach the client's block: the client takes only
// bundles that f+1 of the weight report, so its block receives exactly the real
// bundles, and the honest validators accept it.
func TestAttackPendingBundleLies(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	sender := n.client().Chain(n.chains[0], alice, nil)
	victim := base.Account{Chain: n.chains[1]}
	for range 2 {
		if _, err := sender.Transfer(ctx, base.ChainOwner, victim, base.Tokens(1)); err != nil {
			t.Fatal(err)
		}
	}
	// Sequential: the Byzantine validator, first of the pool, is asked first, so its
	// answer is among those the client counts.
	c, _ := n.byzantineClient(t, map[int]client.ValidatorNode{0: &lyingInboxNode{n.node(0)}}, 0)
	cert, err := c.Chain(n.chains[1], bob, nil).ProcessInbox(ctx)
	if err != nil {
		t.Fatalf("process inbox: %v", err)
	}
	if got := len(cert.Block.Proposed.Bundles()); got != 2 {
		t.Fatalf("the block received %d bundles, want the 2 real ones", got)
	}
	for i := range n.workers {
		if got := n.balance(i, victim); got != base.Tokens(102) {
			t.Errorf("validator %d: victim has %s, want 102", i, got)
		}
	}
}
