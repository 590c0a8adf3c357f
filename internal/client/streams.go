package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// Event streams on the client side. A chain's subscriptions live in its execution
// state; the client follows only the publisher chains its own chains subscribe to (so
// a stranger's chain is never pulled unless a local chain chose to follow it), syncs
// them from the validators, compares their stream counters with the subscriptions'
// cursors and adds an UpdateStreams operation to the chain's next block.

// MaxEventsPerStreamUpdate bounds how far one block moves one subscription, so that a
// publisher who emitted many events cannot make the subscriber's next block too
// expensive to execute: the rest follows in the next blocks.
const MaxEventsPerStreamUpdate = 64

// MaxStreamBytesPerBlock bounds the event bytes one block's UpdateStreams brings in
// (the values are recorded in the block when the applications read them): at least one
// event per stream is always taken.
const MaxStreamBytesPerBlock = 1 << 20

// LocalSubscriptions returns the subscriptions of a chain, as the local node sees
// them.
func (c *Client) LocalSubscriptions(ctx context.Context, id base.ChainID) ([]execution.Subscription, error) {
	var subs []execution.Subscription
	err := c.cfg.Local.ChainState(ctx, id, func(s *chain.State) error {
		var err error
		subs, err = s.Execution().Subscriptions(ctx)
		return err
	})
	return subs, err
}

// LocalStreamCount returns the number of events of a stream of a chain, as the local
// node sees it (0 for a chain the local node does not know).
func (c *Client) LocalStreamCount(ctx context.Context, id base.ChainID, stream protocol.StreamID) (uint32, error) {
	var n uint32
	err := c.cfg.Local.ChainState(ctx, id, func(s *chain.State) error {
		var err error
		n, err = s.Execution().StreamCount(ctx, &stream)
		return err
	})
	return n, err
}

// streamUpdates returns the UpdateStreams operation the chain's next block needs, or
// nil when no subscribed stream has new events. Publisher chains are synced once per
// synced map (one ProcessInbox call).
func (cc *ChainClient) streamUpdates(ctx context.Context, synced map[base.ChainID]bool) ([]protocol.Operation, error) {
	c := cc.c
	subs, err := c.LocalSubscriptions(ctx, cc.id)
	if errors.Is(err, worker.ErrUnknownChain) {
		return nil, nil // not known locally yet: it has no subscriptions we made
	}
	if err != nil || len(subs) == 0 {
		return nil, err
	}
	// The chain has subscriptions: make sure the cursors are current (another client
	// of the chain may have processed streams).
	if _, err := c.SyncChain(ctx, cc.id); err != nil {
		return nil, err
	}
	if subs, err = c.LocalSubscriptions(ctx, cc.id); err != nil {
		return nil, err
	}
	var updates []protocol.StreamUpdate
	budget := MaxStreamBytesPerBlock
	for i := 0; i < len(subs) && len(updates) < protocol.MaxStreamUpdates && budget > 0; {
		// Subscriptions are sorted by (publisher, stream, application): take the
		// lowest cursor of each stream.
		j := i
		low := subs[i].NextIndex
		for j < len(subs) && subs[j].Publisher == subs[i].Publisher && sameStream(&subs[j].Stream, &subs[i].Stream) {
			low = min(low, subs[j].NextIndex)
			j++
		}
		pub, stream := subs[i].Publisher, subs[i].Stream
		i = j
		if !synced[pub] {
			synced[pub] = true
			if _, err := c.SyncChain(ctx, pub); err != nil {
				c.log.Warn("cannot sync a publisher chain", "chain", pub.String(), "err", err)
				continue
			}
		}
		n, err := c.LocalStreamCount(ctx, pub, stream)
		if err != nil {
			c.log.Warn("cannot read a publisher's stream", "chain", pub.String(), "err", err)
			continue
		}
		if n <= low {
			continue
		}
		next := min(n, low+MaxEventsPerStreamUpdate)
		// Take events while they fit the byte budget (and exist locally).
		end := low
		for ; end < next; end++ {
			v, err := c.ReadLocalEvent(ctx, protocol.EventID{Chain: pub, Stream: stream, Index: end})
			if err != nil || (len(v) > budget && end > low) {
				break
			}
			budget -= len(v)
		}
		if end == low {
			continue
		}
		next = end
		updates = append(updates, protocol.StreamUpdate{Publisher: pub, Stream: stream, NextIndex: next})
	}
	if len(updates) == 0 {
		return nil, nil
	}
	return []protocol.Operation{protocol.SystemOp(&protocol.UpdateStreams{Updates: updates})}, nil
}

func sameStream(a, b *protocol.StreamID) bool {
	if (a.App == nil) != (b.App == nil) || (a.App != nil && *a.App != *b.App) {
		return false
	}
	return string(a.Name) == string(b.Name)
}

// Subscribe subscribes application app of this chain to stream (streamApp, name) of
// chain publisher, with the SubscribeToStream system operation.
func (cc *ChainClient) Subscribe(ctx context.Context, publisher base.ChainID, streamApp base.ApplicationID, name string, app base.ApplicationID) (*protocol.Certificate, error) {
	if err := cc.c.CheckChainExists(ctx, publisher); err != nil {
		return nil, err
	}
	op := &protocol.SubscribeToStream{Publisher: publisher, Stream: protocol.StreamID{App: &streamApp, Name: []byte(name)}, App: app}
	if err := protocol.CheckUserStream(&op.Stream); err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	return cc.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(op)}, nil)
}

// ReadLocalEvent returns an event from the local store.
func (c *Client) ReadLocalEvent(ctx context.Context, id protocol.EventID) ([]byte, error) {
	return c.cfg.Local.Storage().ReadEvent(ctx, id)
}

// maxListenedPublishers bounds the publisher chains ListenStreams listens to.
const maxListenedPublishers = 64

// ListenStreams listens to the notifications of the publisher chains of chain id's
// subscriptions (as the local replica has them when it starts; at most 64 publishers)
// and calls onNew for each NewEvents notification of a subscribed stream, whichever
// validator sent it first. The publishers' local replicas follow their new blocks. It
// returns when ctx ends.
func (c *Client) ListenStreams(ctx context.Context, id base.ChainID, onNew func(protocol.Notification)) error {
	subs, err := c.LocalSubscriptions(ctx, id)
	if err != nil {
		return err
	}
	type stream struct {
		pub  base.ChainID
		app  base.ApplicationID
		name string
	}
	wanted := map[stream]bool{}
	var pubs []base.ChainID
	for _, s := range subs {
		if s.Stream.App == nil {
			continue
		}
		if len(pubs) == 0 || pubs[len(pubs)-1] != s.Publisher {
			if len(pubs) == maxListenedPublishers {
				c.log.Warn("too many publisher chains to listen to; process-inbox still processes them all", "chain", id.Short(), "listened", maxListenedPublishers)
				break
			}
			pubs = append(pubs, s.Publisher)
		}
		wanted[stream{s.Publisher, *s.Stream.App, string(s.Stream.Name)}] = true
	}
	if len(pubs) == 0 {
		return fmt.Errorf("chain %s subscribes to no stream", id.Short())
	}
	errs := make(chan error, len(pubs))
	for _, pub := range pubs {
		go func() {
			errs <- c.Listen(ctx, pub, func(n protocol.Notification) {
				if n.Kind == protocol.ReasonNewEvents && wanted[stream{n.ChainID, n.App, n.StreamName}] {
					onNew(n)
				}
			})
		}()
	}
	var first error
	for range pubs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
