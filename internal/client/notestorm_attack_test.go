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

// queryCountingNode is an honest validator that counts the chain-info queries it answers.
type queryCountingNode struct {
	*deliveringNode
	queries atomic.Int64
}

func (c *queryCountingNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	c.queries.Add(1)
	return c.deliveringNode.HandleChainInfoQuery(ctx, q)
}

// stormNode is a Byzantine validator whose notification stream announces, one after the
// other, new blocks that do not exist (the chain's next height, a new hash each time),
// or the notes note makes if it is set. After each one it waits until the client asked
// the honest validator something (a sync), or a while if it does not, so that every
// note the client acts on is counted.
type stormNode struct {
	*deliveringNode
	notes  int
	note   func(chain base.ChainID, i int) protocol.Notification
	honest *queryCountingNode
	sent   atomic.Int64
	done   chan struct{}
}

func (s *stormNode) SubscribeNotifications(ctx context.Context, chains []base.ChainID, fn func(protocol.Notification)) error {
	for i := range s.notes {
		before := s.honest.queries.Load()
		if s.note != nil {
			fn(s.note(chains[0], i))
		} else {
			fn(protocol.Notification{ChainID: chains[0], Kind: protocol.ReasonNewBlock, Height: 0, Hash: crypto.HashBytes("no such block", []byte{byte(i), byte(i >> 8)})})
		}
		s.sent.Add(1)
		deadline := time.Now().Add(100 * time.Millisecond)
		for s.honest.queries.Load() == before && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
	}
	close(s.done)
	<-ctx.Done()
	return nil
}

// TestAttackNotificationStorm: a Byzantine validator announces block after block that
// does not exist. Each announcement used to make the listening client sync the chain
// (a chain-info query to every validator, and downloads from the liar), as fast as it
// could send them: 100 notes, 100 syncs (40 here). Now a validator whose announced block a sync
// that started after the announcement could not find is not listened to for a while
// (its next notes are dropped), so the storm costs the client a sync or two.
func TestAttackNotificationStorm(t *testing.T) {
	alice := prototest.Key("alice")
	n := newNet(t, []*crypto.PrivateKey{alice}, base.Tokens(100))
	honest := &queryCountingNode{deliveringNode: n.node(1)}
	storm := &stormNode{deliveringNode: n.node(0), notes: 40, honest: honest, done: make(chan struct{})}
	c, _ := n.byzantineClient(t, map[int]client.ValidatorNode{0: storm, 1: honest}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Listen(ctx, n.chains[0], nil) }()
	<-storm.done
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	syncs := honest.queries.Load()
	t.Logf("%d notes of blocks that do not exist, %d syncs", storm.sent.Load(), syncs)
	if syncs > 3 {
		t.Fatalf("%d notes of blocks that do not exist made the client sync %d times, want at most 3", storm.sent.Load(), syncs)
	}
}
