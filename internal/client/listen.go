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
//
// A validator that announces a block that a sync started after the announcement does
// not find (no validator claims it or serves it) is not listened to for a while
// (listenMute, doubling for each further such announcement): a Byzantine validator
// announcing blocks that do not exist cannot make the client sync without end.
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
	claims := newBlockClaims(len(subs))
	heard := make([]NotificationSubscriber, len(subs))
	for i, sub := range subs {
		heard[i] = subscriberFunc(func(ctx context.Context, chains []base.ChainID, fn func(protocol.Notification)) error {
			return sub.SubscribeNotifications(ctx, chains, func(n protocol.Notification) {
				if claims.heard(i, id, n, c.cfg.Clock.Now()) {
					fn(n)
				}
			})
		})
	}
	syncs := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ListenNotifications(ctx, heard, []base.ChainID{id}, func(n protocol.Notification) {
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
			seq := claims.syncStarts()
			next, err := c.SyncChain(ctx, id)
			if err != nil {
				if ctx.Err() == nil {
					c.log.Debug("sync after a notification failed", "chain", id.Short(), "err", err)
				}
				continue
			}
			for _, i := range claims.synced(seq, next, c.cfg.Clock.Now()) {
				c.log.Debug("validator announced a block no sync found; not listened to for a while", "validator", keys[i], "chain", id.Short(), "next", uint64(next))
			}
		}
	}
}

// subscriberFunc is a NotificationSubscriber made of a function.
type subscriberFunc func(ctx context.Context, chains []base.ChainID, fn func(protocol.Notification)) error

func (f subscriberFunc) SubscribeNotifications(ctx context.Context, chains []base.ChainID, fn func(protocol.Notification)) error {
	return f(ctx, chains, fn)
}

// listenMute is how long Listen ignores a validator after its first announcement of a
// block that no sync found; it doubles with each further one, up to listenMuteMax, and
// starts again after an announcement that a sync confirmed.
const (
	listenMute    = time.Second
	listenMuteMax = time.Minute
)

// blockClaims keeps, for each subscriber of Listen, the highest block it announced
// since the last sync that judged it, and whether it is muted. Safe for concurrent use.
type blockClaims struct {
	mu      sync.Mutex
	started uint64 // syncs started
	subs    []blockClaim
}

type blockClaim struct {
	height  base.BlockHeight // the highest announced block not judged yet
	seq     uint64           // syncs started when it was announced
	pending bool
	strikes int            // announcements in a row that no sync found
	muted   base.Timestamp // ignored until then
}

func newBlockClaims(n int) *blockClaims { return &blockClaims{subs: make([]blockClaim, n)} }

// heard notes notification n from subscriber i at now and reports whether to pass it
// on: not while i is muted.
func (b *blockClaims) heard(i int, id base.ChainID, n protocol.Notification, now base.Timestamp) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &b.subs[i]
	if now < s.muted {
		return false
	}
	if n.Kind == protocol.ReasonNewBlock && n.ChainID == id && (!s.pending || s.height < n.Height) {
		s.height, s.seq, s.pending = n.Height, b.started, true
	}
	return true
}

// syncStarts records that a sync starts and returns its sequence number.
func (b *blockClaims) syncStarts() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.started++
	return b.started
}

// synced judges, after sync seq reached the local next height next at now, the
// announcements made before that sync started: a block at or above next was not found,
// and its announcer is muted. It returns the subscribers it muted.
func (b *blockClaims) synced(seq uint64, next base.BlockHeight, now base.Timestamp) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var muted []int
	for i := range b.subs {
		s := &b.subs[i]
		if !s.pending || s.seq >= seq {
			continue
		}
		s.pending = false
		if s.height < next {
			s.strikes = 0
			continue
		}
		s.muted = now.Add(base.DeltaFromDuration(min(listenMute<<min(s.strikes, 6), listenMuteMax)))
		s.strikes++
		muted = append(muted, i)
	}
	return muted
}
