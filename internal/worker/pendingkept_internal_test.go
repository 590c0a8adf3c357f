package worker

import (
	"runtime"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
)

// listingOf returns a listing of n bundles of size bytes each from origin 9.
func listingOf(t *testing.T, n, size int) protocol.PendingBundleBytes {
	t.Helper()
	var p protocol.PendingBundleBytes
	for range n {
		if err := p.Append(base.ChainID{9}, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestKeptListingsOnlyForTheirState: a listing is served to the State it was listed
// from at the version it was listed at, never to another State of the chain (one loaded
// anew starts at the same version) nor once the State was collected.
func TestKeptListingsOnlyForTheirState(t *testing.T) {
	st := storage.New(memkv.New())
	id := base.ChainID{1}
	c := newKeptListings(1 << 20)
	c.min = 0
	s := chain.Load(id, st.ChainContext(id))
	c.put(s, listingOf(t, 2, 100), 200)
	if p, ok := c.get(s); !ok || p.Len() != 2 {
		t.Fatalf("the listing of a State is not served to it: %v, %d bundles", ok, p.Len())
	}
	reloaded := chain.Load(id, st.ChainContext(id))
	if reloaded.PendingVersion() != s.PendingVersion() {
		t.Fatal("a State loaded anew is not at the version of the first")
	}
	if _, ok := c.get(reloaded); ok {
		t.Fatal("the listing of a State is served to another State of the chain")
	}
	kept := c.byChain[id].Value.(*keptListing)
	s = nil
	for range 10 {
		if runtime.GC(); kept.state.Value() == nil {
			break
		}
	}
	c.put(chain.Load(base.ChainID{2}, st.ChainContext(base.ChainID{2})), listingOf(t, 1, 100), 100)
	if n := len(c.byChain); n != 1 || c.bytes != 100 {
		t.Fatalf("%d listings of %d bytes kept, want the collected State's dropped", n, c.bytes)
	}
}

// TestKeptListingsBounded: the listings kept add up to at most max bytes, the least
// recently used dropped first; one too small or too large is not kept.
func TestKeptListingsBounded(t *testing.T) {
	st := storage.New(memkv.New())
	c := newKeptListings(3 * minKeptListing)
	var states []*chain.State
	for i := range 5 {
		id := base.ChainID{byte(i + 1)}
		states = append(states, chain.Load(id, st.ChainContext(id)))
	}
	keep := func(i, size int) { c.put(states[i], listingOf(t, 1, size), size) }
	keep(0, minKeptListing-1)
	keep(1, 3*minKeptListing+1)
	if len(c.byChain) != 0 || c.bytes != 0 {
		t.Fatalf("%d listings of %d bytes kept, want none", len(c.byChain), c.bytes)
	}
	for i := range 3 {
		keep(i, minKeptListing)
	}
	if _, ok := c.get(states[0]); !ok { // 0 is now the most recently used
		t.Fatal("a listing kept is not served")
	}
	keep(3, minKeptListing)
	if _, ok := c.get(states[1]); ok {
		t.Fatal("the least recently used listing was kept past the bound")
	}
	for _, i := range []int{0, 2, 3} {
		if _, ok := c.get(states[i]); !ok {
			t.Fatalf("listing %d dropped", i)
		}
	}
	keep(4, 2*minKeptListing)
	if c.bytes > c.max || len(c.byChain) != 2 {
		t.Fatalf("%d listings of %d bytes kept, want 2 of at most %d", len(c.byChain), c.bytes, c.max)
	}
	runtime.KeepAlive(states)
}
