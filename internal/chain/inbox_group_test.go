package chain

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/views"
)

// wideBlock is origin's certified block at height h of n transactions, each sending one
// message to `to`: n bundles for it.
func wideBlock(origin, to base.ChainID, h base.BlockHeight, n int) *protocol.Certificate {
	p := protocol.ProposedBlock{ChainID: origin, Height: h, Timestamp: base.Timestamp(1000 + h)}
	var o protocol.BlockExecutionOutcome
	for i := range n {
		p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Amount: base.AmountFromAttos(1)}))
		o.Messages = append(o.Messages, []protocol.OutgoingMessage{{Destination: to, Kind: protocol.Tracked,
			Message: protocol.Message{System: &protocol.Credit{Amount: base.AmountFromAttos(uint64(i + 1))}}}})
		o.OracleResponses = append(o.OracleResponses, nil)
		o.Events = append(o.Events, nil)
		o.Blobs = append(o.Blobs, nil)
		o.OperationResults = append(o.OperationResults, []byte{})
	}
	return &protocol.Certificate{Kind: protocol.KindConfirmed, Block: protocol.NewBlock(p, o)}
}

func epochBundles(bs []protocol.MessageBundle) []protocol.EpochBundle {
	out := make([]protocol.EpochBundle, len(bs))
	for i := range bs {
		out[i] = protocol.EpochBundle{Bundle: bs[i]}
	}
	return out
}

// groupKeys counts the puts and deletes of inbox entries (not headers) under prefix p.
func groupKeys(b *kv.Batch, p []byte) (puts, deletes int) {
	for _, op := range b.Ops() {
		if !bytes.HasPrefix(op.Key, p) || op.Key[len(p)] != 1 {
			continue
		}
		if op.Kind == kv.OpPut {
			puts++
		} else {
			deletes++
		}
	}
	return puts, deletes
}

// checkPending fails unless s lists exactly want as its pending bundles.
func checkPending(t *testing.T, s *State, want []protocol.MessageBundle) {
	t.Helper()
	got, err := s.PendingBundles(context.Background(), 1000, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d pending bundles, want %d", len(got), len(want))
	}
	for i := range got {
		if !codec.Equal(&got[i].Bundle, &want[i]) {
			t.Fatalf("pending bundle %d is %v, want %v", i, got[i].Bundle.Cursor(), want[i].Cursor())
		}
	}
}

// TestInboxGroupsPartialConsumption: the 100 bundles of one sending block are one stored
// entry; blocks taking some of them write no entry (the cursor says how far they took),
// the block taking the last deletes it; after each reload the inbox lists and receives
// exactly the bundles not taken, in order, and reads the certificate once per block.
func TestInboxGroupsPartialConsumption(t *testing.T) {
	ctx := context.Background()
	origin := base.ChainID{2}
	ss := newStateStore(t)
	prefix := groupsPrefix(ss, origin)
	certs := &certMap{m: map[base.Hash]*protocol.Certificate{}}
	c5 := wideBlock(origin, ss.id, 5, 100)
	certs.m[c5.Block.Hash()] = c5
	b5 := c5.Block.OutgoingBundlesTo(ss.id)
	b6 := wideBlock(origin, ss.id, 6, 10).Block.OutgoingBundlesTo(ss.id) // certificate elsewhere: stored whole
	load := func() *State {
		s := ss.load()
		s.UseCertificates(certs)
		return s
	}
	take := func(s *State, bs []protocol.MessageBundle) {
		t.Helper()
		for i := range bs {
			if err := s.removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: bs[i]}, true); err != nil {
				t.Fatalf("receiving %v: %v", bs[i].Cursor(), err)
			}
		}
	}

	// Delivered in two calls of one staging: still one entry.
	s := load()
	for _, part := range [][]protocol.MessageBundle{b5[:60], b5[60:]} {
		if added, err := s.ReceiveBundles(ctx, origin, epochBundles(part)); err != nil || len(added) != len(part) {
			t.Fatalf("delivery: %d added, %v", len(added), err)
		}
	}
	b := ss.flush(t, s)
	if gs := storedGroups(t, b, ss, origin); len(gs) != 1 || !gs[0].byRef || len(gs[0].items) != 100 {
		t.Fatalf("stored %d entries, want one of 100 references", len(gs))
	}
	if added, err := s.ReceiveBundles(ctx, origin, epochBundles(b5[90:])); err != nil || len(added) != 0 || s.HasPendingChanges() {
		t.Fatalf("a duplicate delivery added %d bundles (%v) or staged changes", len(added), err)
	}

	// A block takes 30 of them: no entry written.
	s = load()
	reads := certs.reads
	take(s, b5[:30])
	if certs.reads-reads != 1 {
		t.Fatalf("taking 30 bundles of one entry read the certificate %d times, want 1", certs.reads-reads)
	}
	if puts, dels := groupKeys(ss.flush(t, s), prefix); puts != 0 || dels != 0 {
		t.Fatalf("taking part of an entry wrote %d entries and deleted %d, want none", puts, dels)
	}
	// The next height arrives meanwhile, as its own entry.
	s = load()
	if _, err := s.ReceiveBundles(ctx, origin, epochBundles(b6)); err != nil {
		t.Fatal(err)
	}
	// (A queue held in its header writes its entries again with it: the last is the new one.)
	if gs := storedGroups(t, ss.flush(t, s), ss, origin); len(gs) == 0 || gs[len(gs)-1].byRef || gs[len(gs)-1].height != 6 ||
		(len(gs) == 2 && gs[0].height != 5) || len(gs) > 2 {
		t.Fatal("the next height is not one entry of whole bundles")
	}
	rest := append(append([]protocol.MessageBundle{}, b5[30:]...), b6...)
	checkPending(t, load(), rest)
	if got, err := load().PendingBundles(ctx, 5, math.MaxInt); err != nil || len(got) != 5 || got[0].Bundle.TransactionIndex != 30 {
		t.Fatalf("the first 5 pending bundles: %d, %v", len(got), err)
	}
	// A block can not take a bundle it skips over an unskippable one.
	if err := load().removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: b5[40]}, true); !errors.Is(err, ErrUnskippableBundle) {
		t.Fatalf("skipping bundle 30: %v, want ErrUnskippableBundle", err)
	}
	// A block taking a bundle already taken is refused.
	if err := load().removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: b5[29]}, true); !errors.Is(err, ErrBundleOutOfOrder) {
		t.Fatalf("taking bundle 29 again: %v, want ErrBundleOutOfOrder", err)
	}

	// The rest of height 5 and part of height 6: one entry deleted, none written.
	s = load()
	take(s, rest[:74])
	if puts, dels := groupKeys(ss.flush(t, s), prefix); puts != 0 || dels != 1 {
		t.Fatalf("taking the rest of an entry wrote %d entries and deleted %d, want 0 and 1", puts, dels)
	}
	checkPending(t, load(), b6[4:])
	s = load()
	take(s, b6[4:])
	ss.flush(t, s)
	checkPending(t, load(), nil)
	left := 0
	if err := ss.db.Scan(ctx, prefix, func(_, _ []byte) error { left++; return nil }); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d keys left under the emptied inbox's entries", left)
	}
}

// TestInboxReadsLayoutBeforeGroups: an inbox stored by a build before groups (one entry
// per bundle, references and whole bundles) is read first, then the groups delivered
// after the upgrade; blocks drain it entry by entry and it ends empty.
func TestInboxReadsLayoutBeforeGroups(t *testing.T) {
	ctx := context.Background()
	origin := base.ChainID{2}
	ss := newStateStore(t)
	heights, certs := threeSendingBlocks(t, ss, origin)
	var want []protocol.MessageBundle
	for _, bs := range heights {
		want = append(want, bs...)
	}
	load := loaderWith(ss, certs)
	s := load()
	queueBeforeGroups(t, s, origin, heights[:2])
	refs := 0
	b := ss.flush(t, s)
	for _, op := range b.Ops() {
		if len(op.Value) == bundleRefLen {
			refs++
		}
	}
	if refs != 3 {
		t.Fatalf("the layout before groups stored %d references, want 3", refs)
	}
	if v := storedCursors(t, b, ss); len(v) != 24 {
		t.Fatalf("the layout before groups stored cursors of %d bytes, want 24", len(v))
	}
	// Height 2 is delivered after the upgrade: a group, and the cursors end with the
	// layout byte, which a build before groups refuses (its decoder reads 24 bytes and
	// rejects trailing ones).
	s = load()
	if _, err := s.ReceiveBundles(ctx, origin, epochBundles(heights[2])); err != nil {
		t.Fatal(err)
	}
	b = ss.flush(t, s)
	if gs := storedGroups(t, b, ss, origin); len(gs) != 1 {
		t.Fatalf("%d groups stored, want 1", len(gs))
	}
	v := storedCursors(t, b, ss)
	if len(v) != 25 || v[24] != inboxLayoutGroupsAfterBundles {
		t.Fatalf("cursors stored after the upgrade: %x, want 24 bytes and layout %d (entries of one bundle first)", v, inboxLayoutGroupsAfterBundles)
	}
	r := codec.NewReader(v)
	decCursor(r)
	decCursor(r)
	if r.Finish() == nil {
		t.Fatal("a decoder of the layout before groups accepts the cursors")
	}
	checkPending(t, load(), want)
	for i := range want {
		s := load()
		if err := s.removeBundle(ctx, &protocol.IncomingBundle{Origin: origin, Bundle: want[i]}, true); err != nil {
			t.Fatalf("receiving bundle %d: %v", i, err)
		}
		b := ss.flush(t, s)
		checkPending(t, load(), want[i+1:])
		// Once the entries of one bundle are taken, the cursors say so: that queue is
		// not read any more.
		layout := inboxLayoutGroupsAfterBundles
		if i >= len(heights[0])+len(heights[1])-1 {
			layout = inboxLayoutGroups
		}
		if v := storedCursors(t, b, ss); v[24] != layout {
			t.Fatalf("after receiving bundle %d the cursors say layout %d, want %d", i, v[24], layout)
		}
	}
	left := 0
	if err := ss.db.Scan(ctx, inboxQueuesContext(ss, origin).Prefix(), func(_, _ []byte) error { left++; return nil }); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d keys left in the emptied inbox's queues", left)
	}
}

// storedCursors returns the inbox cursors value b puts (there must be one).
func storedCursors(t *testing.T, b *kv.Batch, ss *stateStore) []byte {
	t.Helper()
	p := views.NewContext(ss.db, []byte("c")).Sub(tagInboxes).Prefix()
	var out [][]byte
	for _, op := range b.Ops() {
		if op.Kind == kv.OpPut && bytes.HasPrefix(op.Key, p) {
			out = append(out, op.Value)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%d inbox cursor values written, want 1", len(out))
	}
	return out[0]
}

// An inbox whose cursors name a layout this build does not know is refused as
// corruption, never read as if it were empty.
func TestInboxRefusesUnknownLayout(t *testing.T) {
	ctx := context.Background()
	origin := base.ChainID{2}
	ss := newStateStore(t)
	s := ss.load()
	if _, err := s.ReceiveBundles(ctx, origin, []protocol.EpochBundle{{Bundle: bundle(1, 0, protocol.Tracked)}}); err != nil {
		t.Fatal(err)
	}
	b := ss.flush(t, s)
	p := views.NewContext(ss.db, []byte("c")).Sub(tagInboxes).Prefix()
	for _, op := range b.Ops() {
		if op.Kind == kv.OpPut && bytes.HasPrefix(op.Key, p) {
			v := append(append([]byte{}, op.Value[:24]...), 4)
			var w kv.Batch
			w.Put(op.Key, v)
			if err := ss.db.Write(ctx, &w); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := ss.load().PendingBundles(ctx, 10, math.MaxInt); !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("listing an inbox of layout 4: %v, want corruption", err)
	}
	if _, err := ss.load().ReceiveBundles(ctx, origin, []protocol.EpochBundle{{Bundle: bundle(2, 0, protocol.Tracked)}}); !errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("delivering to an inbox of layout 4: %v, want corruption", err)
	}
}

// A block taking bundles of two senders interleaved (one bundleTaker, as ExecuteBlock
// and ApplyExecuted use it) leaves each sender's inbox as taking them one by one would.
func TestBundleTakerInterleavesSenders(t *testing.T) {
	ctx := context.Background()
	ss := newStateStore(t)
	a, b := base.ChainID{2}, base.ChainID{3}
	certs := &certMap{m: map[base.Hash]*protocol.Certificate{}}
	sent := map[base.ChainID][]protocol.MessageBundle{}
	s := ss.load()
	s.UseCertificates(certs)
	for _, origin := range []base.ChainID{a, b} {
		c := wideBlock(origin, ss.id, 4, 3)
		certs.m[c.Block.Hash()] = c
		sent[origin] = c.Block.OutgoingBundlesTo(ss.id)
		if _, err := s.ReceiveBundles(ctx, origin, epochBundles(sent[origin])); err != nil {
			t.Fatal(err)
		}
	}
	ss.flush(t, s)
	s = ss.load()
	s.UseCertificates(certs)
	taker := bundleTaker{s: s}
	for _, in := range []protocol.IncomingBundle{
		{Origin: a, Bundle: sent[a][0]}, {Origin: b, Bundle: sent[b][0]}, {Origin: a, Bundle: sent[a][1]},
		{Origin: b, Bundle: sent[b][1]}, {Origin: a, Bundle: sent[a][2]},
	} {
		if err := taker.take(ctx, &in, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := taker.finish(ctx); err != nil {
		t.Fatal(err)
	}
	ss.flush(t, s)
	s = ss.load()
	s.UseCertificates(certs)
	checkPending(t, s, sent[b][2:])
	if err := s.removeBundle(ctx, &protocol.IncomingBundle{Origin: a, Bundle: sent[a][2]}, true); !errors.Is(err, ErrBundleOutOfOrder) {
		t.Fatalf("taking a's last bundle again: %v, want ErrBundleOutOfOrder", err)
	}
	s = ss.load()
	s.UseCertificates(certs)
	if err := s.removeBundle(ctx, &protocol.IncomingBundle{Origin: b, Bundle: sent[b][2]}, true); err != nil {
		t.Fatalf("taking b's last bundle: %v", err)
	}
}
