package worker

import (
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
	keptLRU[base.ChainID, *keptListing] // min: minKeptListing (tests change it)
}

type keptListing struct {
	chain   base.ChainID
	state   weak.Pointer[chain.State]
	version uint64
	listing protocol.PendingBundleBytes
	size    int // the bytes of the listing's bundles, as an answer encodes them
}

func (e *keptListing) keptKey() base.ChainID { return e.chain }
func (e *keptListing) keptSize() int         { return e.size }

// live reports whether the State the listing was made from is still in memory.
func (e *keptListing) live() bool { return e.state.Value() != nil }

func newKeptListings(max int) *keptListings {
	return &keptListings{keptLRU: keptLRU[base.ChainID, *keptListing]{max: max, min: minKeptListing}}
}

// get returns the listing kept for s at its current version, if any. The caller holds
// the chain's lock.
func (c *keptListings) get(s *chain.State) (protocol.PendingBundleBytes, bool) {
	e, ok := c.lookup(s.ChainID(), func(e *keptListing) bool {
		return e.state == weak.Make(s) && e.version == s.PendingVersion()
	})
	if !ok {
		return protocol.PendingBundleBytes{}, false
	}
	return e.listing, true
}

// put keeps p, listed from s at its current version, whose bundles' bytes are size,
// in place of the chain's earlier listing. The caller holds the chain's lock.
func (c *keptListings) put(s *chain.State, p protocol.PendingBundleBytes, size int) {
	kept := c.keep(s.ChainID(), size, func() *keptListing {
		return &keptListing{chain: s.ChainID(), state: weak.Make(s), version: s.PendingVersion(), listing: p, size: size}
	})
	if !kept {
		// The chain's earlier listing is of an earlier version: it can never be served.
		// (The caller holds the chain's lock: no listing of it is kept meanwhile.)
		c.drop(s.ChainID())
	}
}
