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

// maxSeenNotifications bounds the notifications ListenNotifications remembers to pass
// each one on once; past it, it forgets them all (a notification may then repeat).
const maxSeenNotifications = 10_000

// ListenNotifications subscribes to the notifications about chains on every subscriber
// and calls fn once per distinct notification, whichever subscriber sent it first (fn is
// never called concurrently). A broken stream is re-opened with backoff (100 ms doubling
// to 5 s, back to 100 ms after a stream that lasted 10 s); broken, if not nil, is told
// which subscriber's stream ended and why. It returns when ctx ends. Notifications are
// hints (a validator may send anything): whatever they trigger must be verified against
// the committee.
func ListenNotifications(ctx context.Context, subs []NotificationSubscriber, chains []base.ChainID, fn func(protocol.Notification), broken func(sub int, err error)) {
	var mu sync.Mutex
	seen := map[protocol.Notification]bool{}
	wanted := make(map[base.ChainID]bool, len(chains))
	for _, id := range chains {
		wanted[id] = true
	}
	handle := func(n protocol.Notification) {
		if !wanted[n.ChainID] {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[n] {
			return
		}
		if len(seen) >= maxSeenNotifications {
			clear(seen)
		}
		seen[n] = true
		fn(n)
	}
	var wg sync.WaitGroup
	for i, sub := range subs {
		wg.Go(func() {
			backoff := 100 * time.Millisecond
			for ctx.Err() == nil {
				start := time.Now()
				err := sub.SubscribeNotifications(ctx, chains, handle)
				if ctx.Err() != nil {
					return
				}
				if broken != nil {
					broken(i, err)
				}
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
		})
	}
	wg.Wait()
}

// Listen subscribes to notifications about a chain from every validator that offers
// them, and reacts: a new block makes the client sync the chain (so its local replica
// follows the validators without polling). Every distinct notification is passed to
// onNote (may be nil) once, whichever validator sent it first (never concurrently).
// Broken streams are re-opened with backoff. Listen returns when ctx ends.
func (c *Client) Listen(ctx context.Context, id base.ChainID, onNote func(protocol.Notification)) error {
	var subs []NotificationSubscriber
	var keys []string
	for _, v := range c.validators() {
		if sub, ok := v.Node.(NotificationSubscriber); ok {
			subs = append(subs, sub)
			keys = append(keys, v.PublicKey.String())
		}
	}
	if len(subs) == 0 {
		return fmt.Errorf("no validator offers notifications")
	}
	syncs := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ListenNotifications(ctx, subs, []base.ChainID{id}, func(n protocol.Notification) {
			if n.Kind == protocol.ReasonNewBlock {
				select {
				case syncs <- struct{}{}:
				default:
				}
			}
			if onNote != nil {
				onNote(n)
			}
		}, func(i int, err error) {
			c.log.Debug("notification stream ended; reconnecting", "validator", keys[i], "err", err)
		})
	}()
	for {
		select {
		case <-ctx.Done():
			<-done
			return nil
		case <-syncs:
			if _, err := c.SyncChain(ctx, id); err != nil && ctx.Err() == nil {
				c.log.Debug("sync after a notification failed", "chain", id.Short(), "err", err)
			}
		}
	}
}
