// Package boundedset provides Set, a set that holds at most a fixed number of keys and
// forgets the oldest one to make room for a new one (FIFO eviction). It is for
// remembered facts that save work and cost only a repetition when forgotten: a
// certificate verified against a committee (worker), a blob found confirmed (storage).
// Its memory is bounded whatever keys the network sends.
package boundedset

import "sync"

// Set is a bounded set of keys with FIFO eviction. Safe for concurrent use.
type Set[K comparable] struct {
	mu sync.Mutex
	m  map[K]struct{}
	// ring holds the keys in the order they were added. Until it is full the oldest is
	// ring[0]; after, ring[next] is the oldest, the one the next Add replaces.
	// Invariant: len(ring) == len(m) <= max, and ring holds the keys of m.
	ring []K
	next int
	max  int
}

// New returns an empty set of at most capacity keys (at least one). Its memory grows
// with the keys added, up to capacity: a short-lived set costs little.
func New[K comparable](capacity int) *Set[K] {
	return &Set[K]{m: map[K]struct{}{}, max: max(capacity, 1)}
}

// Has reports whether k is in the set.
func (s *Set[K]) Has(k K) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[k]
	return ok
}

// Add adds k, forgetting the oldest key if the set is full. Adding a key already in
// the set changes nothing (its age included).
func (s *Set[K]) Add(k K) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		return
	}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, k)
	} else {
		delete(s.m, s.ring[s.next])
		s.ring[s.next] = k
		s.next = (s.next + 1) % s.max
	}
	s.m[k] = struct{}{}
}

// Len returns the number of keys in the set.
func (s *Set[K]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
