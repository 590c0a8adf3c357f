package rpc

import (
	"context"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestClientListenFollowsChain: a second client that only listens to notifications
// keeps its replica of a chain in sync as the owner commits blocks, without polling.
func TestClientListenFollowsChain(t *testing.T) {
	alice := prototest.Key("alice")
	n := newTestNet(t, []*crypto.PrivateKey{alice, prototest.Key("bob")}, 1)
	owner := n.client(0).Chain(n.chains[0], alice, nil)
	follower := n.client(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var notes []protocol.Notification
	done := make(chan error, 1)
	go func() {
		done <- follower.Listen(ctx, n.chains[0], func(note protocol.Notification) {
			mu.Lock()
			notes = append(notes, note)
			mu.Unlock()
		})
	}()
	// Let the subscriptions reach every validator.
	waitFor(t, "subscriptions", func() bool {
		_, err := follower.SyncChain(ctx, n.chains[0])
		return err == nil
	})
	for i := 0; i < 3; i++ {
		if _, err := owner.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the follower's replica to reach height 3", func() bool {
		tip, err := follower.LocalTip(ctx, n.chains[0])
		return err == nil && tip.NextHeight == 3
	})
	mu.Lock()
	got := len(notes)
	mu.Unlock()
	if got < 3 {
		t.Fatalf("follower saw %d notifications, want at least the 3 new blocks", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Listen: %v", err)
	}
}
