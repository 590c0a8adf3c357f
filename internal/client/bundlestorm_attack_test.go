package client_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// inboxFollower does what the node service's follower does with ProcessInbox for each
// incoming-bundle note Listen passes on: sync the chain and ask every validator for its
// pending bundles (coalesced: one run at a time, one more queued at most).
func inboxFollower(ctx context.Context, c *client.Client, id base.ChainID) func(protocol.Notification) {
	kick := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
			}
			if _, err := c.SyncChain(ctx, id); err != nil {
				continue
			}
			_, _ = c.PendingBundles(ctx, id)
		}
	}()
	return func(n protocol.Notification) {
		if n.Kind == protocol.ReasonNewIncomingBundle {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}
}

// TestAttackIncomingBundleStorm: a Byzantine validator announces incoming bundle after
// incoming bundle that nobody sent. Listen passed each note on, and the node service's
// follower synced the chain and asked every validator for the pending bundles once per
// note it could take (coalesced): 40 notes, 80 chain-info queries to each validator.
// Now Listen holds an incoming-bundle note until a sync and a pending listing started
// after it find the bundle pending (f+1 of the weight) and passes on only those; a
// validator whose announced bundle is not found is not listened to for a while, so the
// storm costs the judging once.
func TestAttackIncomingBundleStorm(t *testing.T) {
	alice := prototest.Key("alice")
	bob := prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	honest := &queryCountingNode{deliveringNode: n.node(1)}
	storm := &stormNode{deliveringNode: n.node(0), notes: 40, honest: honest, done: make(chan struct{}),
		note: func(chain base.ChainID, i int) protocol.Notification {
			return protocol.Notification{ChainID: chain, Kind: protocol.ReasonNewIncomingBundle, Height: base.BlockHeight(1000 + i), Origin: n.chains[0]}
		}}
	c, _ := n.byzantineClient(t, map[int]client.ValidatorNode{0: storm, 1: honest}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	var passed atomic.Int64
	follow := inboxFollower(ctx, c, n.chains[1])
	errc := make(chan error, 1)
	go func() {
		errc <- c.Listen(ctx, n.chains[1], func(note protocol.Notification) {
			passed.Add(1)
			follow(note)
		})
	}()
	<-storm.done
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	queries := honest.queries.Load()
	t.Logf("%d notes of bundles never sent: %d passed on, %d chain-info queries to an honest validator", storm.sent.Load(), passed.Load(), queries)
	if passed.Load() > 0 || queries > 6 {
		t.Fatalf("%d notes of bundles never sent: %d passed on and %d chain-info queries, want none passed and at most 6 queries", storm.sent.Load(), passed.Load(), queries)
	}
}

// announcingNode is an honest validator whose notification stream sends the given notes
// once.
type announcingNode struct {
	*deliveringNode
	notes []protocol.Notification
}

func (a *announcingNode) SubscribeNotifications(ctx context.Context, _ []base.ChainID, fn func(protocol.Notification)) error {
	for _, note := range a.notes {
		fn(note)
	}
	<-ctx.Done()
	return nil
}

// TestListenPassesRealIncomingBundle: a bundle that was really sent is announced by two
// validators (f+1); Listen passes the note on once.
func TestListenPassesRealIncomingBundle(t *testing.T) {
	alice := prototest.Key("alice")
	bob := prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sender := n.client()
	cert, err := sender.Chain(n.chains[0], alice, nil).Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.WaitBackground(ctx); err != nil {
		t.Fatal(err)
	}
	note := protocol.Notification{ChainID: n.chains[1], Kind: protocol.ReasonNewIncomingBundle, Height: cert.Height(), Origin: n.chains[0]}
	nodes := map[int]client.ValidatorNode{}
	for i := range n.validators {
		nodes[i] = &announcingNode{deliveringNode: n.node(i), notes: []protocol.Notification{note}}
	}
	c, _ := n.byzantineClient(t, nodes, 0)
	got := make(chan protocol.Notification, 4)
	errc := make(chan error, 1)
	lctx, stop := context.WithCancel(ctx)
	go func() { errc <- c.Listen(lctx, n.chains[1], func(n protocol.Notification) { got <- n }) }()
	select {
	case g := <-got:
		if g != note {
			t.Fatalf("passed on %+v, want %+v", g, note)
		}
	case <-ctx.Done():
		t.Fatal("the note of a bundle really sent was not passed on")
	}
	stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if len(got) > 0 {
		t.Fatalf("the note was passed on more than once: %+v", <-got)
	}
}
