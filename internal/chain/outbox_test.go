package chain_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
)

// outboxChain is a chain whose blocks each send a transfer to the genesis' second chain,
// which never confirms receiving them: its outbox grows by one height per block.
type outboxChain struct {
	s    *setup
	db   *memkv.Store
	prev *base.Hash
	next base.BlockHeight
}

func newOutboxChain(t testing.TB) *outboxChain {
	db := memkv.New()
	t.Cleanup(func() { db.Close() })
	c := &outboxChain{s: newSetup(t, db), db: db}
	c.s.load(t)
	return c
}

// block executes, confirms and writes the next block and returns its batch.
func (c *outboxChain) block(t testing.TB, cs *chain.State) *kv.Batch {
	t.Helper()
	ctx := context.Background()
	b, err := cs.ExecuteBlock(ctx, c.s.transfers(c.next, c.prev, 1), chain.ExecOptions{Resolver: c.s.st, Policy: &c.s.policy})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.ApplyConfirmed(ctx, b, 1); err != nil {
		t.Fatal(err)
	}
	batch := new(kv.Batch)
	cs.Flush(batch)
	if err := c.s.st.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	h := b.Hash()
	c.prev, c.next = &h, c.next+1
	return batch
}

func (c *outboxChain) recipient() base.ChainID { return c.s.genesis.ChainIDs()[1] }

// outboxBytes is the number of key and value bytes of batch under the outbox's prefixes.
func (c *outboxChain) outboxBytes(batch *kv.Batch) int {
	prefixes := chain.OutboxPrefixes(c.s.st.ChainContext(c.s.desc.ID()))
	n := 0
	for _, op := range batch.Ops() {
		for _, p := range prefixes {
			if bytes.HasPrefix(op.Key, p) {
				n += len(op.Key) + len(op.Value)
			}
		}
	}
	return n
}

// TestLongOutboxWritesConstantBytesPerBlock: with 10,000 undelivered heights, a block
// writes as many bytes (in all, and for the outbox) as the eleventh block did. The outbox
// used to be one value per recipient rewritten whole by every block (8 bytes per height).
func TestLongOutboxWritesConstantBytesPerBlock(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 2_000
	}
	c := newOutboxChain(t)
	cs := c.s.load(t) // one State for the whole run, as a worker caches it
	var firstTotal, firstOutbox int
	for i := range n {
		batch := c.block(t, cs)
		// The queue holds its first heights in its header, rewritten whole (views'
		// queueInlineMax), then one key each: constant from there.
		if i == 10 {
			firstTotal, firstOutbox = batch.Size(), c.outboxBytes(batch)
			if firstOutbox == 0 {
				t.Fatal("a block scheduling a height wrote nothing under the outbox prefixes")
			}
		}
		if i > 10 && (i%1000 == 0 || i == n-1) {
			total, outbox := batch.Size(), c.outboxBytes(batch)
			if outbox != firstOutbox || total > firstTotal+64 {
				t.Fatalf("block %d with %d undelivered heights writes %d bytes (%d for the outbox); block 1 wrote %d (%d)",
					i, i, total, outbox, firstTotal, firstOutbox)
			}
		}
	}
	heights, err := c.s.load(t).OutboxHeights(context.Background(), c.recipient())
	if err != nil || len(heights) != n || heights[0] != 0 || heights[n-1] != base.BlockHeight(n-1) {
		t.Fatalf("outbox after %d blocks: %d heights, err %v", n, len(heights), err)
	}
}

// TestOutboxDelivery checks the outbox's semantics across flushes and reloads: heights in
// order, idempotent scheduling, partial and full delivery, and no keys left behind.
func TestOutboxDelivery(t *testing.T) {
	ctx := context.Background()
	c := newOutboxChain(t)
	r := c.recipient()
	for range 5 {
		c.block(t, c.s.load(t)) // heights 0..4, each from a freshly loaded State
	}
	expect := func(cs *chain.State, want ...base.BlockHeight) {
		t.Helper()
		got, err := cs.OutboxHeights(ctx, r)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("outbox heights %v (%v), want %v", got, err, want)
		}
		all, err := cs.OutboxHeightsAfter(ctx, r, nil, 100)
		if err != nil || !slices.Equal(all, want) {
			t.Fatalf("OutboxHeightsAfter(nil) = %v (%v), want %v", all, err, want)
		}
		if has, err := cs.HasOutbox(ctx, r); err != nil || has != (len(want) > 0) {
			t.Fatalf("HasOutbox = %v (%v) with heights %v", has, err, want)
		}
		rs, err := cs.NonEmptyOutboxes(ctx)
		if err != nil || (len(want) == 0) != (len(rs) == 0) || (len(rs) > 0 && (len(rs) != 1 || rs[0] != r)) {
			t.Fatalf("non-empty outboxes %v (%v) with heights %v", rs, err, want)
		}
	}
	write := func(cs *chain.State) {
		t.Helper()
		var b kv.Batch
		cs.Flush(&b)
		if err := c.s.st.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	mark := func(cs *chain.State, h base.BlockHeight, want bool) {
		t.Helper()
		changed, err := cs.MarkDelivered(ctx, r, h)
		if err != nil || changed != want {
			t.Fatalf("MarkDelivered(%d) = %v, %v; want %v", h, changed, err, want)
		}
	}
	cs := c.s.load(t)
	expect(cs, 0, 1, 2, 3, 4)
	one := base.BlockHeight(1)
	if hs, err := cs.OutboxHeightsAfter(ctx, r, &one, 2); err != nil || !slices.Equal(hs, []base.BlockHeight{2, 3}) {
		t.Fatalf("OutboxHeightsAfter(1, 2) = %v (%v)", hs, err)
	}
	if hs, err := cs.OutboxHeightsAfter(ctx, r, &one, 0); err != nil || len(hs) != 0 {
		t.Fatalf("OutboxHeightsAfter(1, 0) = %v (%v)", hs, err)
	}
	mark(cs, 1, true)
	mark(cs, 1, false) // staged, not flushed: still seen
	expect(cs, 2, 3, 4)
	write(cs)
	cs = c.s.load(t)
	expect(cs, 2, 3, 4)
	mark(cs, 0, false)
	mark(cs, 2, true)
	mark(cs, 3, true)
	expect(cs, 4)
	write(cs)
	// A confirmed block scheduling more heights after a partial delivery.
	c.block(t, cs)
	expect(c.s.load(t), 4, 5)
	cs = c.s.load(t)
	mark(cs, 100, true)
	expect(cs)
	mark(cs, 100, false)
	write(cs)
	expect(c.s.load(t))
	// Nothing is left under the outbox prefixes.
	for _, p := range chain.OutboxPrefixes(c.s.st.ChainContext(c.s.desc.ID())) {
		if err := c.db.Scan(ctx, p, func(k, _ []byte) error {
			t.Errorf("key %x left after delivering everything", k)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// An emptied outbox accepts new heights again.
	c.block(t, c.s.load(t))
	expect(c.s.load(t), 6)
}

// TestOutboxBatchesAreDeterministic: the same blocks and deliveries on two stores give
// byte-identical batches.
func TestOutboxBatchesAreDeterministic(t *testing.T) {
	ctx := context.Background()
	var runs [2][][]kv.Op
	for i := range runs {
		c := newOutboxChain(t)
		for j := range 6 {
			cs := c.s.load(t)
			if j == 4 {
				if _, err := cs.MarkDelivered(ctx, c.recipient(), 2); err != nil {
					t.Fatal(err)
				}
			}
			runs[i] = append(runs[i], slices.Clone(c.block(t, cs).Ops()))
		}
	}
	for j := range runs[0] {
		a, b := runs[0][j], runs[1][j]
		if len(a) != len(b) {
			t.Fatalf("block %d: %d ops vs %d", j, len(a), len(b))
		}
		for k := range a {
			if a[k].Kind != b[k].Kind || !bytes.Equal(a[k].Key, b[k].Key) || !bytes.Equal(a[k].Value, b[k].Value) {
				t.Fatalf("block %d op %d differs: %v %x=%x vs %v %x=%x", j, k, a[k].Kind, a[k].Key, a[k].Value, b[k].Kind, b[k].Key, b[k].Value)
			}
		}
	}
}
