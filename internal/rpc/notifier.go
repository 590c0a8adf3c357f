package rpc

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// DefaultSubscriberBuffer is the number of notifications a subscriber may have
// outstanding before further ones are dropped.
const DefaultSubscriberBuffer = 1000

// minQueue is the capacity a subscription's queue starts at when a notification
// arrives; it doubles up to the subscriber's buffer, and a queue larger than this is
// released when its reader empties it.
const minQueue = 8

// Bounds of the subscriptions strangers open (SubscribeFrom). A subscription's queue
// grows as notifications arrive, up to DefaultSubscriberBuffer notifications of 176
// bytes (176 KiB), and each chain it names is an entry of the notifier's index: without
// a bound, 1,024 connections of 64 streams made a validator allocate 11 GiB for
// requests of a few bytes (when the buffer was allocated as a subscription opened), and
// hold it while the streams stayed open. An idle subscription costs its bookkeeping
// (a few hundred bytes); one whose reader stops reading on a busy chain holds its full
// buffer. One address (an IPv4 address or an IPv6 /64, remoteIP) gets a share of each
// bound, so it cannot take them all. A node's client opens one subscription per
// validator, naming the chains it follows (client.ListenNotifications).
const (
	// maxSubscriptions bounds the open subscriptions: 4,096 × 176 KiB = 704 MiB of
	// queues at most, if every one is full.
	maxSubscriptions = 4096
	// maxSubscriptionsPerAddr is one address's share of maxSubscriptions.
	maxSubscriptionsPerAddr = 1024
	// maxSubscribedEntries bounds the chains named by all open subscriptions
	// (a subscription to every chain names none).
	maxSubscribedEntries = 1 << 18
	// maxSubscribedEntriesPerAddr is one address's share of maxSubscribedEntries.
	maxSubscribedEntriesPerAddr = 1 << 16
)

// Notifier fans notifications out to subscribers. Publish never blocks: a subscriber
// whose queue holds its buffer's worth loses the notification, and the loss is counted so that it can
// be told. Notifications are best-effort (they carry no evidence; clients re-sync from
// certificates). Safe for concurrent use.
type Notifier struct {
	buffer int
	// The bounds of SubscribeFrom (maxSubscriptions..., smaller in tests).
	maxSubs, maxSubsPerAddr, maxEntries, maxEntriesPerAddr int

	mu      sync.Mutex
	all     map[*Subscription]struct{}
	byChain map[base.ChainID]map[*Subscription]struct{}
	// What SubscribeFrom's open subscriptions hold, in all and per address.
	held   subscriptionUse
	byAddr map[netip.Addr]*subscriptionUse // Invariant: entries are non-zero
}

// subscriptionUse counts subscriptions and the chain entries they name.
type subscriptionUse struct{ subs, entries int }

// NewNotifier returns a notifier giving each subscriber a buffer of the given size
// (DefaultSubscriberBuffer if not positive).
func NewNotifier(buffer int) *Notifier {
	if buffer <= 0 {
		buffer = DefaultSubscriberBuffer
	}
	return &Notifier{
		buffer:            buffer,
		maxSubs:           maxSubscriptions,
		maxSubsPerAddr:    maxSubscriptionsPerAddr,
		maxEntries:        maxSubscribedEntries,
		maxEntriesPerAddr: maxSubscribedEntriesPerAddr,
		all:               make(map[*Subscription]struct{}),
		byChain:           make(map[base.ChainID]map[*Subscription]struct{}),
		byAddr:            make(map[netip.Addr]*subscriptionUse),
	}
}

// Subscription receives the notifications of some chains (or of all chains). Its
// reader takes them with Next, and waits for more with Wait.
type Subscription struct {
	n      *Notifier
	chains []base.ChainID // nil: all chains
	// ready holds a token once a notification is queued after the last Wait; Close
	// closes it.
	ready   chan struct{}
	dropped atomic.Uint64
	closed  bool // guarded by n.mu
	// counted: opened by SubscribeFrom for addr, and counted in its bounds.
	counted bool
	addr    netip.Addr

	mu sync.Mutex // after n.mu
	// queue holds the notifications not yet taken, in the order published: a ring of
	// count entries from head. Invariant: count <= len(queue) <= n.buffer.
	queue       []protocol.Notification
	head, count int
}

func (n *Notifier) newSubscription() *Subscription {
	return &Subscription{n: n, ready: make(chan struct{}, 1)}
}

// Next takes the oldest notification queued, or reports false if none is.
func (s *Subscription) Next() (protocol.Notification, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count == 0 {
		return protocol.Notification{}, false
	}
	nt := s.queue[s.head]
	s.queue[s.head] = protocol.Notification{}
	s.head = (s.head + 1) % len(s.queue)
	s.count--
	if s.count == 0 {
		s.head = 0
		if len(s.queue) > minQueue {
			s.queue = nil // a burst's queue is not kept while idle
		}
	}
	return nt, true
}

// Wait blocks until a notification may have been queued since the previous Wait (Next
// may still find none), and reports false once ctx is done or the subscription closed.
func (s *Subscription) Wait(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case _, open := <-s.ready:
		return open
	}
}

// Queued returns the number of notifications waiting to be taken.
func (s *Subscription) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// TakeDropped returns the number of notifications lost since the previous call.
func (s *Subscription) TakeDropped() uint64 { return s.dropped.Swap(0) }

// Close ends the subscription: the notifications queued are dropped, and Wait reports
// false. It is idempotent.
func (s *Subscription) Close() {
	n := s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.counted {
		u := n.byAddr[s.addr]
		n.held.subs--
		n.held.entries -= len(s.chains)
		u.subs--
		u.entries -= len(s.chains)
		if u.subs == 0 {
			delete(n.byAddr, s.addr)
		}
	}
	if s.chains == nil {
		delete(n.all, s)
	}
	for _, id := range s.chains {
		if m := n.byChain[id]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(n.byChain, id)
			}
		}
	}
	s.mu.Lock()
	s.queue, s.head, s.count = nil, 0, 0
	s.mu.Unlock()
	close(s.ready)
}

// Subscribe returns a subscription to the given chains, or to every chain if chains is
// empty, outside the bounds of SubscribeFrom (for a shard's own proxy). The
// subscription may keep chains: the caller must not modify it. The caller must Close it.
func (n *Notifier) Subscribe(chains []base.ChainID) *Subscription {
	chains = uniqueChains(chains)
	s := n.newSubscription()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.add(s, chains)
	return s
}

// ErrTooManySubscriptions: the notifier holds as many subscriptions (or subscribed
// chains) as it may, in all or from the caller's address. It wraps ErrBusy: a
// subscription closed elsewhere makes room.
var ErrTooManySubscriptions = fmt.Errorf("%w: too many subscriptions", ErrBusy)

// SubscribeFrom is Subscribe for a stranger at address addr (remoteIP): it fails with
// ErrTooManySubscriptions, allocating nothing, if the subscription would take the
// notifier's subscriptions or their chain entries past their bounds, in all or for
// addr. Duplicate chains count once. The subscription may keep chains: the caller must
// not modify it.
func (n *Notifier) SubscribeFrom(addr netip.Addr, chains []base.ChainID) (*Subscription, error) {
	chains = uniqueChains(chains)
	n.mu.Lock()
	defer n.mu.Unlock()
	u := n.byAddr[addr]
	if u == nil {
		u = &subscriptionUse{}
	}
	switch {
	case n.held.subs >= n.maxSubs || n.held.entries+len(chains) > n.maxEntries:
		return nil, fmt.Errorf("%w: %d open, %d chains subscribed, at most %d and %d", ErrTooManySubscriptions, n.held.subs, n.held.entries, n.maxSubs, n.maxEntries)
	case u.subs >= n.maxSubsPerAddr || u.entries+len(chains) > n.maxEntriesPerAddr:
		return nil, fmt.Errorf("%w: %d open from this address, %d chains subscribed, at most %d and %d", ErrTooManySubscriptions, u.subs, u.entries, n.maxSubsPerAddr, n.maxEntriesPerAddr)
	}
	if u.subs == 0 {
		n.byAddr[addr] = u
	}
	s := n.newSubscription()
	s.counted, s.addr = true, addr
	n.add(s, chains)
	u.subs++
	u.entries += len(s.chains)
	n.held.subs++
	n.held.entries += len(s.chains)
	return s, nil
}

// uniqueChains returns chains without repetitions (chains itself if it has none), in
// the order of their first occurrence.
func uniqueChains(chains []base.ChainID) []base.ChainID {
	seen := make(map[base.ChainID]struct{}, len(chains))
	for _, id := range chains {
		seen[id] = struct{}{}
	}
	if len(seen) == len(chains) {
		return chains
	}
	out := make([]base.ChainID, 0, len(seen))
	for _, id := range chains {
		if _, ok := seen[id]; ok {
			delete(seen, id)
			out = append(out, id)
		}
	}
	return out
}

// add indexes s under its chains (every chain if none), which have no repetitions
// (uniqueChains); s keeps the slice. n.mu is held.
func (n *Notifier) add(s *Subscription, chains []base.ChainID) {
	if len(chains) == 0 {
		n.all[s] = struct{}{}
		return
	}
	s.chains = chains
	for _, id := range chains {
		m := n.byChain[id]
		if m == nil {
			m = make(map[*Subscription]struct{})
			n.byChain[id] = m
		}
		m[s] = struct{}{}
	}
}

// Publish delivers a notification to every interested subscriber without blocking. Its
// signature fits worker.Config.Notify.
func (n *Notifier) Publish(nt protocol.Notification) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.all {
		s.offer(nt)
	}
	for s := range n.byChain[nt.ChainID] {
		s.offer(nt)
	}
}

// offer queues nt, growing the queue up to the notifier's buffer, or counts it dropped
// if the queue holds that many. n.mu is held.
func (s *Subscription) offer(nt protocol.Notification) {
	s.mu.Lock()
	if s.count == s.n.buffer {
		s.mu.Unlock()
		s.dropped.Add(1)
		return
	}
	if s.count == len(s.queue) {
		grown := make([]protocol.Notification, min(max(2*len(s.queue), minQueue), s.n.buffer))
		k := copy(grown, s.queue[s.head:])
		copy(grown[k:], s.queue[:s.head])
		s.queue, s.head = grown, 0
	}
	s.queue[(s.head+s.count)%len(s.queue)] = nt
	s.count++
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Subscribers returns the number of open subscriptions.
func (n *Notifier) Subscribers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	seen := len(n.all)
	uniq := map[*Subscription]struct{}{}
	for _, m := range n.byChain {
		for s := range m {
			uniq[s] = struct{}{}
		}
	}
	return seen + len(uniq)
}
