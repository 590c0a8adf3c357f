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
//
// An incoming-bundle note (NEW_INCOMING_BUNDLE) is held until a sync and a listing of
// the pending bundles (PendingBundles: f+1 of the weight), both started after it, judge
// it: onNote gets it only if its bundle (origin, height) is found pending. A validator
// whose announced bundle is not found, while the chain gained no block since the
// announcement (that block may have received it), is muted as above: a Byzantine
// validator announcing bundles nobody sent costs one such judgement per mute, not
// the work of the consumer (the node service receives the inbox on each note). At most
// maxBundleClaims notes per validator wait for a judgement; more are dropped (the
// consumer's inbox processing takes every pending bundle anyway).
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
	if tip, err := c.LocalTip(ctx, id); err == nil {
		claims.next = tip.NextHeight
	}
	syncs := make(chan struct{}, 1)
	wake := func() {
		select {
		case syncs <- struct{}{}:
		default:
		}
	}
	// pass calls onNote, never concurrently: from the streams (through
	// ListenNotifications) and from the judgement of incoming-bundle notes below.
	var passMu sync.Mutex
	pass := func(n protocol.Notification) {
		if onNote != nil {
			passMu.Lock()
			defer passMu.Unlock()
			onNote(n)
		}
	}
	heard := make([]NotificationSubscriber, len(subs))
	for i, sub := range subs {
		heard[i] = subscriberFunc(func(ctx context.Context, chains []base.ChainID, fn func(protocol.Notification)) error {
			return sub.SubscribeNotifications(ctx, chains, func(n protocol.Notification) {
				switch claims.heard(i, id, n, c.cfg.Clock.Now()) {
				case notePass:
					fn(n)
				case noteHeld:
					wake()
				}
			})
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ListenNotifications(ctx, heard, []base.ChainID{id}, func(n protocol.Notification) {
			if n.Kind == protocol.ReasonNewBlock {
				wake()
			}
			pass(n)
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
			if !claims.bundlesHeldBefore(seq) {
				continue
			}
			pending, err := c.PendingBundles(ctx, id)
			if err != nil {
				if ctx.Err() == nil {
					c.log.Debug("listing the pending bundles after a notification failed", "chain", id.Short(), "err", err)
				}
				continue
			}
			found, muted := claims.judgeBundles(seq, next, pending, c.cfg.Clock.Now())
			for _, i := range muted {
				c.log.Debug("validator announced an incoming bundle not found pending; not listened to for a while", "validator", keys[i], "chain", id.Short())
			}
			for _, n := range found {
				pass(n)
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
// block (or an incoming bundle) that no sync found; it doubles with each further one,
// up to listenMuteMax, and starts again after an announcement that a sync confirmed.
const (
	listenMute    = time.Second
	listenMuteMax = time.Minute
)

// maxBundleClaims bounds the incoming-bundle notes of one validator that Listen holds
// until a judgement.
const maxBundleClaims = 16

// noteAction is what Listen does with a notification it heard.
type noteAction int

const (
	noteDrop noteAction = iota // the validator is muted
	notePass                   // pass it on
	noteHeld                   // an incoming-bundle note, held until judged
)

// blockClaims keeps, for each subscriber of Listen, the highest block it announced
// since the last sync that judged it, the incoming bundles it announced since the last
// pending listing that judged them, and whether it is muted. Safe for concurrent use.
type blockClaims struct {
	mu      sync.Mutex
	started uint64           // syncs started
	next    base.BlockHeight // the local next height after the last sync
	subs    []blockClaim
	// passed holds the incoming-bundle notes already passed on (cleared past
	// maxSeenNotifications).
	passed map[protocol.Notification]bool
}

type blockClaim struct {
	height  base.BlockHeight // the highest announced block not judged yet
	seq     uint64           // syncs started when it was announced
	pending bool
	strikes int            // announcements in a row that no sync found
	muted   base.Timestamp // ignored until then

	bundles       []bundleClaim // incoming-bundle notes held until judged
	bundleStrikes int           // bundle announcements in a row that were not found
}

// bundleClaim is an incoming-bundle note held until judged.
type bundleClaim struct {
	note protocol.Notification
	seq  uint64           // syncs started when it was heard
	next base.BlockHeight // the local next height then (as the last sync left it)
}

func newBlockClaims(n int) *blockClaims {
	return &blockClaims{subs: make([]blockClaim, n), passed: map[protocol.Notification]bool{}}
}

// heard notes notification n from subscriber i at now and says what to do with it:
// drop it while i is muted, hold an incoming-bundle note about chain id until judged
// (drop it if it was passed on already or i has maxBundleClaims notes held), pass the
// others on.
func (b *blockClaims) heard(i int, id base.ChainID, n protocol.Notification, now base.Timestamp) noteAction {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &b.subs[i]
	if now < s.muted {
		return noteDrop
	}
	switch {
	case n.ChainID != id:
	case n.Kind == protocol.ReasonNewBlock && (!s.pending || s.height < n.Height):
		s.height, s.seq, s.pending = n.Height, b.started, true
	case n.Kind == protocol.ReasonNewIncomingBundle:
		if len(s.bundles) >= maxBundleClaims || b.passed[n] {
			// Judged already, or enough of i's notes wait for the judgement that
			// their first one asked for.
			return noteDrop
		}
		s.bundles = append(s.bundles, bundleClaim{note: n, seq: b.started, next: b.next})
		return noteHeld
	}
	return notePass
}

// syncStarts records that a sync starts and returns its sequence number.
func (b *blockClaims) syncStarts() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.started++
	return b.started
}

// mute mutes subscriber s at now for its strikes-th false announcement in a row.
func mute(s *blockClaim, strikes int, now base.Timestamp) {
	s.muted = now.Add(base.DeltaFromDuration(min(listenMute<<min(strikes, 6), listenMuteMax)))
}

// synced judges, after sync seq reached the local next height next at now, the
// announcements made before that sync started: a block at or above next was not found,
// and its announcer is muted. It returns the subscribers it muted.
func (b *blockClaims) synced(seq uint64, next base.BlockHeight, now base.Timestamp) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next = max(b.next, next)
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
		mute(s, s.strikes, now)
		s.strikes++
		muted = append(muted, i)
	}
	return muted
}

// bundlesHeldBefore reports whether an incoming-bundle note heard before sync seq
// started waits for a judgement.
func (b *blockClaims) bundlesHeldBefore(seq uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.subs {
		for _, c := range b.subs[i].bundles {
			if c.seq < seq {
				return true
			}
		}
	}
	return false
}

// judgeBundles judges, after sync seq reached the local next height next and a pending
// listing started after it returned pending, the incoming-bundle notes heard before that
// sync started. A note whose bundle (origin, height) is pending is confirmed: it is
// returned, once, to be passed on. One that is not is false if the chain gained no
// block since it was heard (a block may have received the bundle meanwhile): its
// announcer is muted. It returns the confirmed notes (in the order heard, subscriber by
// subscriber) and the subscribers it muted.
func (b *blockClaims) judgeBundles(seq uint64, next base.BlockHeight, pending []protocol.IncomingBundle, now base.Timestamp) (found []protocol.Notification, muted []int) {
	type key struct {
		origin base.ChainID
		height base.BlockHeight
	}
	there := make(map[key]bool, len(pending))
	for _, p := range pending {
		there[key{p.Origin, p.Bundle.Height}] = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.subs {
		s := &b.subs[i]
		kept := s.bundles[:0]
		lied, told := false, false
		for _, c := range s.bundles {
			switch {
			case c.seq >= seq:
				kept = append(kept, c)
			case there[key{c.note.Origin, c.note.Height}]:
				told = true
				if !b.passed[c.note] {
					if len(b.passed) >= maxSeenNotifications {
						clear(b.passed)
					}
					b.passed[c.note] = true
					found = append(found, c.note)
				}
			case c.next >= next:
				lied = true
			}
		}
		clear(s.bundles[len(kept):])
		s.bundles = kept
		switch {
		case lied:
			mute(s, s.bundleStrikes, now)
			s.bundleStrikes++
			muted = append(muted, i)
		case told:
			s.bundleStrikes = 0
		}
	}
	return found, muted
}
