package nodeservice

import (
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// recentNotes bounds the hub's memory of published notifications (for dropping
// duplicates: the local worker and the service's own syncs may both report a block).
const recentNotes = 4096

// Hub fans notifications out to subscribers. Publish never blocks: each subscriber has a
// bounded buffer, and one that falls behind is dropped (its channel closed and its
// Overflowed flag set) rather than slowing the node. Safe for concurrent use.
type Hub struct {
	mu     sync.Mutex
	subs   map[*Subscriber]struct{}
	seen   map[protocol.Notification]struct{}
	order  []protocol.Notification
	closed bool
}

// NewHub makes an empty hub.
func NewHub() *Hub {
	return &Hub{subs: map[*Subscriber]struct{}{}, seen: map[protocol.Notification]struct{}{}}
}

// Subscriber receives the notifications of one chain (or all, when Chain is nil).
type Subscriber struct {
	C     <-chan protocol.Notification
	c     chan protocol.Notification
	chain *base.ChainID
	// overflowed is set (under the hub's lock) when the subscriber was dropped for
	// falling behind.
	overflowed bool
	hub        *Hub
}

// Overflowed reports whether the hub dropped the subscriber because its buffer was full.
func (s *Subscriber) Overflowed() bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.overflowed
}

// Subscribe registers a subscriber with a buffer of n notifications.
func (h *Hub) Subscribe(chain *base.ChainID, n int) *Subscriber {
	c := make(chan protocol.Notification, n)
	s := &Subscriber{C: c, c: c, chain: chain, hub: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(c)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

// Unsubscribe removes a subscriber and closes its channel (idempotent).
func (h *Hub) Unsubscribe(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.c)
	}
}

// Subscribers returns the number of current subscribers.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Publish delivers n to every matching subscriber, once: a notification equal to one of
// the last few thousand published is dropped. It never blocks.
func (h *Hub) Publish(n protocol.Notification) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.seen[n]; dup {
		return
	}
	h.seen[n] = struct{}{}
	h.order = append(h.order, n)
	if len(h.order) > recentNotes {
		delete(h.seen, h.order[0])
		h.order = h.order[1:]
	}
	for s := range h.subs {
		if s.chain != nil && *s.chain != n.ChainID {
			continue
		}
		select {
		case s.c <- n:
		default:
			s.overflowed = true
			delete(h.subs, s)
			close(s.c)
		}
	}
}

// Close closes every subscriber; later subscriptions get a closed channel.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.c)
	}
}
