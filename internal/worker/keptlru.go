package worker

import (
	"container/list"
	"sync"
)

// keptEntry is what keptLRU keeps: a part of an answer made for one chain (keptKey),
// keptSize bytes long (the size it was kept with), made from values the entry names by weak pointers. live reports
// whether those values are all still in memory: an entry whose values were collected
// names values no chain holds any more, and can never be served again.
type keptEntry[K comparable] interface {
	keptKey() K
	keptSize() int
	live() bool
}

// keptLRU is the bookkeeping the worker's kept answer parts share (keptListings,
// encodedValues): at most one entry per chain, least recently used first out, at most
// max bytes in all, none smaller than min (cheaper to make again than to keep). Entries
// no longer live are dropped before any live one. Its methods are safe for concurrent
// use (mu guards the fields); the zero value is empty and keeps nothing (max 0).
type keptLRU[K comparable, E keptEntry[K]] struct {
	mu      sync.Mutex
	byChain map[K]*list.Element // of E
	lru     list.List           // front: most recently used
	bytes   int                 // Invariant: the sum of the entries' keptSize.
	max     int
	min     int
}

// lookup returns the entry kept for chain k if match accepts it, and makes it the most
// recently used.
func (c *keptLRU[K, E]) lookup(k K, match func(E) bool) (E, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var none E
	el := c.byChain[k]
	if el == nil {
		return none, false
	}
	e := el.Value.(E)
	if !match(e) {
		return none, false
	}
	c.lru.MoveToFront(el)
	return e, true
}

// keep keeps the entry that entry makes (of chain k, size bytes) in place of the entry
// the chain had, and reports whether it did: it does if size is within [min, max],
// else it leaves the chain's entry as it was. entry is called only for an entry kept,
// under mu. Room is made by dropping the entries no longer live, then the least
// recently used.
func (c *keptLRU[K, E]) keep(k K, size int, entry func() E) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if size < c.min || size > c.max {
		return false
	}
	if el := c.byChain[k]; el != nil {
		c.remove(el)
	}
	for el := c.lru.Back(); el != nil; {
		prev := el.Prev()
		if !el.Value.(E).live() {
			c.remove(el)
		}
		el = prev
	}
	for c.bytes+size > c.max {
		c.remove(c.lru.Back())
	}
	if c.byChain == nil {
		c.byChain = make(map[K]*list.Element)
	}
	c.byChain[k] = c.lru.PushFront(entry())
	c.bytes += size
	return true
}

// drop drops the entry of chain k, if any.
func (c *keptLRU[K, E]) drop(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.byChain[k]; el != nil {
		c.remove(el)
	}
}

// remove drops the entry el. The caller holds mu.
func (c *keptLRU[K, E]) remove(el *list.Element) {
	e := c.lru.Remove(el).(E)
	delete(c.byChain, e.keptKey())
	c.bytes -= e.keptSize()
}
