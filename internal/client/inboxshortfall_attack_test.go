package client_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/protocol"
)

// hidingInbox returns node as a Byzantine validator that reports an empty inbox
// whatever waits in it.
func hidingInbox(node *deliveringNode) *inboxLiar {
	return &inboxLiar{deliveringNode: node, lie: func([]protocol.IncomingBundle) []protocol.IncomingBundle { return nil }}
}

// inventingInbox returns node as a Byzantine validator that reports, besides the real
// pending bundles, lies bundles that were never sent.
func inventingInbox(node *deliveringNode, lies int) *inboxLiar {
	return &inboxLiar{deliveringNode: node, lie: func(real []protocol.IncomingBundle) []protocol.IncomingBundle {
		out := append([]protocol.IncomingBundle(nil), real...)
		for i := range lies {
			out = append(out, neverSent("invented", i, base.Tokens(1_000)))
		}
		return out
	}}
}

// TestAttackInboxShortfallOriginLag: a bundle waits, but of the three validators that
// answer (the fourth is unreachable) one hides it (Byzantine) and one has not received
// the sending block (it was offline then): only one reports it, under f+1. ProcessInbox used to answer
// "nothing to do"; it brings the lagging validator the sending block and receives the
// bundle.
func TestAttackInboxShortfallOriginLag(t *testing.T) {
	ctx := context.Background()
	a := newInboxAttack(t)
	a.n.node(2).off.Store(true)
	if _, err := a.sender.Transfer(ctx, base.ChainOwner, a.victim, base.Tokens(5)); err != nil {
		t.Fatal(err)
	}
	a.n.node(2).off.Store(false)
	receiveHiddenBundle(t, a, base.Tokens(105))
}

// TestAttackInboxShortfallChainLag: a bundle waits and every honest validator has it,
// but one of them missed the receiving chain's last block (it reports the bundle at a
// lower height, which does not count), a Byzantine one hides it and the fourth is
// unreachable. ProcessInbox used to
// answer "nothing to do"; it brings the lagging validator up to date and receives the
// bundle.
func TestAttackInboxShortfallChainLag(t *testing.T) {
	ctx := context.Background()
	a := newInboxAttack(t)
	n := a.n
	n.node(2).off.Store(true)
	if _, err := n.client().Chain(n.chains[1], a.bob, nil).Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1)); err != nil {
		t.Fatal(err)
	}
	n.node(2).off.Store(false)
	if _, err := a.sender.Transfer(ctx, base.ChainOwner, a.victim, base.Tokens(5)); err != nil {
		t.Fatal(err)
	}
	receiveHiddenBundle(t, a, base.Tokens(104))
}

// receiveHiddenBundle processes bob's inbox while validator 1 hides its pending bundles
// and validator 3 is unreachable, and checks that the block receives the one bundle
// waiting and the victim's balance is then want.
func receiveHiddenBundle(t *testing.T, a inboxAttack, want base.Amount) {
	t.Helper()
	n := a.n
	n.node(3).off.Store(true) // unreachable while the inbox is processed
	c, _ := n.byzantineClient(t, map[int]client.ValidatorNode{1: hidingInbox(n.node(1))}, 0)
	cert, err := c.Chain(n.chains[1], a.bob, nil).ProcessInbox(context.Background())
	if err != nil {
		t.Fatalf("process inbox: %v", err)
	}
	if cert == nil {
		t.Fatal("process inbox: nothing to do, while a bundle waits")
	}
	if got := len(cert.Block.Proposed.Bundles()); got != 1 {
		t.Fatalf("the block received %d bundles, want 1", got)
	}
	if got := n.balance(0, a.victim); got != want {
		t.Errorf("victim has %s, want %s", got, want)
	}
}

// TestAttackInboxShortfallInvented: a Byzantine validator that reports bundles nobody
// sent cannot make the client loop, nor fail the command on an honestly empty inbox: the
// client asks again a bounded number of times, commits nothing, returns no error, and
// says how many bundles too few validators report.
func TestAttackInboxShortfallInvented(t *testing.T) {
	ctx := context.Background()
	a := newInboxAttack(t)
	liar := inventingInbox(a.n.node(0), 40)
	c, _ := a.n.byzantineClient(t, map[int]client.ValidatorNode{0: liar}, 0)
	cc := c.Chain(a.n.chains[1], a.bob, nil)
	res, err := cc.ProcessInboxResult(ctx)
	if err != nil {
		t.Fatalf("process inbox: %v", err)
	}
	if res.Last != nil {
		t.Fatalf("committed block %d on an empty inbox", res.Last.Height())
	}
	if res.Waiting == nil {
		t.Fatal("the invented bundles were not reported as uncounted")
	}
	if res.Waiting.Bundles != 40 || res.Waiting.Reporters != 1 || res.Waiting.Validators != 4 {
		t.Errorf("waiting = %+v, want 40 bundles reported by 1 of 4 validators", *res.Waiting)
	}
	// The block's query and two rechecks.
	if q := liar.queries.Load(); q > 3 {
		t.Errorf("the Byzantine validator was asked %d times, want at most 3: the client must bound its retries", q)
	}
	// The plain call is the same, without the report.
	cert, err := cc.ProcessInbox(ctx)
	if err != nil || cert != nil {
		t.Fatalf("ProcessInbox = %v, %v; want nothing to do", cert, err)
	}
}
