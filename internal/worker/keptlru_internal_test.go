package worker

import (
	"runtime"
	"testing"
	"weak"
)

// testEntry is a keptEntry naming a value by a weak pointer.
type testEntry struct {
	chain int
	size  int
	value weak.Pointer[[64]byte]
}

func (e *testEntry) keptKey() int  { return e.chain }
func (e *testEntry) keptSize() int { return e.size }
func (e *testEntry) live() bool    { return e.value.Value() != nil }

// testLRU keeps, with a few helpers to keep and look up entries of values held.
type testLRU struct {
	keptLRU[int, *testEntry]
	t      *testing.T
	values map[int]*[64]byte
}

func (c *testLRU) put(chain, size int) bool {
	v := new([64]byte)
	c.values[chain] = v
	return c.keep(chain, size, func() *testEntry { return &testEntry{chain: chain, size: size, value: weak.Make(v)} })
}

func (c *testLRU) has(chain int) bool {
	_, ok := c.lookup(chain, func(e *testEntry) bool { return e.value == weak.Make(c.values[chain]) })
	return ok
}

func (c *testLRU) check(n, bytes int) {
	c.t.Helper()
	if len(c.byChain) != n || c.lru.Len() != n || c.bytes != bytes {
		c.t.Fatalf("%d chains, %d entries of %d bytes kept; want %d of %d bytes", len(c.byChain), c.lru.Len(), c.bytes, n, bytes)
	}
}

func newTestLRU(t *testing.T, max, min int) *testLRU {
	return &testLRU{keptLRU: keptLRU[int, *testEntry]{max: max, min: min}, t: t, values: map[int]*[64]byte{}}
}

// TestKeptLRUBounded: entries add up to at most max bytes, one per chain, the least
// recently used (kept or looked up) dropped first; one outside [min, max] is not kept
// and leaves its chain's entry as it was.
func TestKeptLRUBounded(t *testing.T) {
	c := newTestLRU(t, 100, 10)
	for _, size := range []int{9, 101} {
		if c.put(1, size) {
			t.Fatalf("an entry of %d bytes kept, outside [10, 100]", size)
		}
	}
	c.check(0, 0)
	for chain := range 3 {
		if !c.put(chain, 30) {
			t.Fatalf("entry %d not kept", chain)
		}
	}
	c.check(3, 90)
	if !c.has(0) { // 0 is now the most recently used, 1 the least
		t.Fatal("entry 0 not served")
	}
	c.put(3, 30)
	c.check(3, 90)
	if c.has(1) {
		t.Fatal("the least recently used entry was kept past the bound")
	}
	for _, chain := range []int{2, 0, 3} {
		if !c.has(chain) {
			t.Fatalf("entry %d dropped", chain)
		}
	}
	// The chain's entry is replaced, not added to; 2 is now the least recently used.
	c.put(3, 50)
	c.check(2, 80)
	if c.has(2) || !c.has(0) || !c.has(3) {
		t.Fatal("replacing an entry dropped other than the least recently used")
	}
	// Too small to keep: chain 0's entry stays as it was.
	if c.put(0, 5) || len(c.byChain) != 2 || c.bytes != 80 {
		t.Fatalf("an entry too small to keep changed what is kept: %d entries of %d bytes", len(c.byChain), c.bytes)
	}
	c.drop(3)
	c.drop(3)
	c.check(1, 30)
	if c.put(4, 100); !c.has(4) {
		t.Fatal("an entry of max bytes not kept")
	}
	c.check(1, 100)
}

// TestKeptLRUDropsDeadFirst: an entry whose value was collected goes before any live
// one, however recently used.
func TestKeptLRUDropsDeadFirst(t *testing.T) {
	c := newTestLRU(t, 100, 0)
	c.put(1, 40)
	c.put(2, 40)
	c.has(1) // 2 is now the least recently used, 1 the most
	kept := c.byChain[1].Value.(*testEntry)
	delete(c.values, 1)
	for range 10 {
		if runtime.GC(); kept.value.Value() == nil {
			break
		}
	}
	if kept.live() {
		t.Skip("the value was not collected")
	}
	// Room for 30 more: the dead entry goes, not the least recently used.
	c.put(3, 30)
	c.check(2, 70)
	if _, ok := c.byChain[1]; ok || !c.has(2) || !c.has(3) {
		t.Fatal("a live entry was dropped before the dead one")
	}
	// A dead entry goes at the next insertion even when there is room.
	delete(c.values, 2)
	kept = c.byChain[2].Value.(*testEntry)
	for range 10 {
		if runtime.GC(); !kept.live() {
			break
		}
	}
	if kept.live() {
		t.Skip("the value was not collected")
	}
	c.put(4, 10)
	c.check(2, 40)
}
