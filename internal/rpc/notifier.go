package rpc

import (
	"sync"
	"sync/atomic"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// DefaultSubscriberBuffer is the number of notifications a subscriber may have
// outstanding before further ones are dropped.
const DefaultSubscriberBuffer = 1000

// Notifier fans notifications out to subscribers. Publish never blocks: a subscriber
// whose buffer is full loses the notification, and the loss is counted so that it can
// be told. Notifications are best-effort (they carry no evidence; clients re-sync from
// certificates). Safe for concurrent use.
type Notifier struct {
	buffer int

	mu      sync.Mutex
	all     map[*Subscription]struct{}
	byChain map[base.ChainID]map[*Subscription]struct{}
}

// NewNotifier returns a notifier giving each subscriber a buffer of the given size
// (DefaultSubscriberBuffer if not positive).
func NewNotifier(buffer int) *Notifier {
	if buffer <= 0 {
		buffer = DefaultSubscriberBuffer
	}
	return &Notifier{
		buffer:  buffer,
		all:     make(map[*Subscription]struct{}),
		byChain: make(map[base.ChainID]map[*Subscription]struct{}),
	}
}

// Subscription receives the notifications of some chains (or of all chains).
type Subscription struct {
	n       *Notifier
	chains  []base.ChainID // nil: all chains
	ch      chan protocol.Notification
	dropped atomic.Uint64
	closed  bool // guarded by n.mu
}

// C returns the channel of notifications; it is closed by Close.
func (s *Subscription) C() <-chan protocol.Notification { return s.ch }

// TakeDropped returns the number of notifications lost since the previous call.
func (s *Subscription) TakeDropped() uint64 { return s.dropped.Swap(0) }

// Close ends the subscription and closes its channel. It is idempotent.
func (s *Subscription) Close() {
	n := s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
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
	close(s.ch)
}

// Subscribe returns a subscription to the given chains, or to every chain if chains is
// empty. The caller must Close it.
func (n *Notifier) Subscribe(chains []base.ChainID) *Subscription {
	s := &Subscription{n: n, ch: make(chan protocol.Notification, n.buffer)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(chains) == 0 {
		n.all[s] = struct{}{}
		return s
	}
	s.chains = make([]base.ChainID, 0, len(chains))
	for _, id := range chains {
		m := n.byChain[id]
		if m == nil {
			m = make(map[*Subscription]struct{})
			n.byChain[id] = m
		}
		if _, dup := m[s]; !dup {
			m[s] = struct{}{}
			s.chains = append(s.chains, id)
		}
	}
	return s
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

func (s *Subscription) offer(nt protocol.Notification) {
	select {
	case s.ch <- nt:
	default:
		s.dropped.Add(1)
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
