package worker

import (
	"container/list"
	"sync"
	"weak"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/protocol"
)

const (
	// keptListingsBytes bounds the bytes of the pending-bundle listings a worker keeps:
	// about four full inboxes' (maxPendingBundleBytes each).
	keptListingsBytes = 64 << 20
	// minKeptListing is the smallest listing kept (the bytes of its bundles): a smaller
	// one costs little to list again.
	minKeptListing = 16 << 10
)

// keptListings keeps the pending-bundle listings of recent chain-info answers
// (chain.State.PendingBundleBytes with maxPendingBundles and maxPendingBundleBytes),
// one per chain, least recently used first out, at most max bytes in all. Listing a
// full inbox re-read every bundle it lists from the store and decoded each one to
// check it (about 9,600 reads and 58 MB allocated for a 16 MiB answer), and anyone may
// repeat the query.
//
// A listing is served only to the State it was listed from (by identity: a chain
// loaded anew, after an eviction or a failed request, lists anew) while that State's
// PendingVersion is the one it was listed at: the State changes the version with
// every change to its inbox or its tip, the listing's only inputs, so a kept listing
// is always the one listing again would give (checked under the invariants build tag).
// It is safe for concurrent use; the listings it hands out are read-only (their bytes
// are shared with the inbox's queues).
type keptListings struct {
	mu      sync.Mutex
	byChain map[base.ChainID]*list.Element // of *keptListing
	lru     list.List                      // front: most recently used
	bytes   int
	max     int
	min     int // the smallest listing kept (minKeptListing; tests change it)
}

type keptListing struct {
	chain   base.ChainID
	state   weak.Pointer[chain.State]
	version uint64
	listing protocol.PendingBundleBytes
	size    int // the bytes of the listing's bundles, as an answer encodes them
}

func newKeptListings(max int) *keptListings {
	return &keptListings{byChain: make(map[base.ChainID]*list.Element), max: max, min: minKeptListing}
}

// get returns the listing kept for s at its current version, if any. The caller holds
// the chain's lock.
func (c *keptListings) get(s *chain.State) (protocol.PendingBundleBytes, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.byChain[s.ChainID()]
	if el == nil {
		return protocol.PendingBundleBytes{}, false
	}
	e := el.Value.(*keptListing)
	if e.state != weak.Make(s) || e.version != s.PendingVersion() {
		return protocol.PendingBundleBytes{}, false
	}
	c.lru.MoveToFront(el)
	return e.listing, true
}

// put keeps p, listed from s at its current version, whose bundles' bytes are size,
// in place of the chain's earlier listing. The caller holds the chain's lock.
func (c *keptListings) put(s *chain.State, p protocol.PendingBundleBytes, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.byChain[s.ChainID()]; el != nil {
		c.remove(el)
	}
	if size < c.min || size > c.max {
		return
	}
	// Listings of States no longer in memory go first, then the least recently used.
	for el := c.lru.Back(); el != nil; {
		prev := el.Prev()
		if el.Value.(*keptListing).state.Value() == nil {
			c.remove(el)
		}
		el = prev
	}
	for c.bytes+size > c.max {
		c.remove(c.lru.Back())
	}
	e := &keptListing{chain: s.ChainID(), state: weak.Make(s), version: s.PendingVersion(), listing: p, size: size}
	c.byChain[e.chain] = c.lru.PushFront(e)
	c.bytes += size
}

func (c *keptListings) remove(el *list.Element) {
	e := c.lru.Remove(el).(*keptListing)
	delete(c.byChain, e.chain)
	c.bytes -= e.size
}
