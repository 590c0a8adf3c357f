package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// NotificationSubscriber is implemented by validator nodes that stream notifications
// (rpc.Node). It calls fn for each notification about the chains until ctx ends or the
// stream breaks.
type NotificationSubscriber interface {
	SubscribeNotifications(ctx context.Context, chains []base.ChainID, fn func(protocol.Notification)) error
}

// Listen subscribes to notifications about a chain from every validator that offers
// them, and reacts: a new block makes the client sync the chain (so its local replica
// follows the validators without polling). Every distinct notification is passed to
// onNote (may be nil) once, whichever validator sent it first. Broken streams are
// re-opened with backoff. Listen returns when ctx ends.
func (c *Client) Listen(ctx context.Context, id base.ChainID, onNote func(protocol.Notification)) error {
	var mu sync.Mutex
	seen := map[protocol.Notification]bool{}
	syncs := make(chan struct{}, 1)
	handle := func(n protocol.Notification) {
		if n.ChainID != id {
			return
		}
		mu.Lock()
		dup := seen[n]
		seen[n] = true
		if len(seen) > 10_000 {
			clear(seen)
		}
		mu.Unlock()
		if dup {
			return
		}
		if n.Kind == protocol.ReasonNewBlock {
			select {
			case syncs <- struct{}{}:
			default:
			}
		}
		if onNote != nil {
			onNote(n)
		}
	}
	var wg sync.WaitGroup
	subscribed := 0
	for _, v := range c.validators() {
		sub, ok := v.Node.(NotificationSubscriber)
		if !ok {
			continue
		}
		subscribed++
		wg.Add(1)
		go func() {
			defer wg.Done()
			backoff := 100 * time.Millisecond
			for ctx.Err() == nil {
				start := time.Now()
				err := sub.SubscribeNotifications(ctx, []base.ChainID{id}, handle)
				if ctx.Err() != nil {
					return
				}
				c.log.Debug("notification stream ended; reconnecting", "validator", v.PublicKey.String(), "err", err)
				if time.Since(start) > 10*time.Second {
					backoff = 100 * time.Millisecond
				}
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
				backoff = min(2*backoff, 5*time.Second)
			}
		}()
	}
	if subscribed == 0 {
		return fmt.Errorf("no validator offers notifications")
	}
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-syncs:
			if _, err := c.SyncChain(ctx, id); err != nil && ctx.Err() == nil {
				c.log.Debug("sync after a notification failed", "chain", id.Short(), "err", err)
			}
		}
	}
}
