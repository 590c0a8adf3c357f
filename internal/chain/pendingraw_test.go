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
)

// pendingAnswers returns the encodings of a chain info answering with s's pending
// bundles (up to limit) decoded and as bytes, from two loads of the state (load), and
// the error of each.
func pendingAnswers(ctx context.Context, load func() *State, limit int) (decoded, raw []byte, errDecoded, errRaw error) {
	bs, errDecoded := load().PendingBundles(ctx, limit, math.MaxInt)
	p, errRaw := load().PendingBundleBytes(ctx, limit, math.MaxInt)
	a := protocol.ChainInfo{ChainID: base.ChainID{1}, RequestedPendingBundles: bs}
	var b protocol.ChainInfo
	b.ChainID = base.ChainID{1}
	b.SetPendingBundleBytes(p)
	return codec.Marshal(&a), codec.Marshal(&b), errDecoded, errRaw
}

// TestPendingBundleBytesAsDecoded: an inbox's pending bundles as bytes make the very
// answer the decoded ones make, for inboxes of every shape: several origins, groups of
// references (resolved from their certificates) and of whole bundles, a group partly
// taken by an earlier block, entries of the layout before groups, any limit (each
// origin's prefix, interleaved), from the state that queued them (cached entries) and
// from a state read back from the store.
func TestPendingBundleBytesAsDecoded(t *testing.T) {
	ctx := context.Background()
	ss := newStateStore(t)
	a, b, c := base.ChainID{2}, base.ChainID{3}, base.ChainID{4}
	heights, certs := threeSendingBlocks(t, ss, c) // c: heights 0 and 2 by reference
	load := loaderWith(ss, certs)
	s := load()
	// c's heights 0 and 1 as the build before groups stored them.
	queueBeforeGroups(t, s, c, heights[:2])
	ss.flush(t, s)
	s = load()
	if _, err := s.ReceiveBundles(ctx, c, epochBundles(heights[2])); err != nil {
		t.Fatal(err)
	}
	// a: 100 by reference, then 10 stored whole (their certificate elsewhere).
	a5 := wideBlock(a, ss.id, 5, 100)
	certs.m[a5.Block.Hash()] = a5
	a6 := wideBlock(a, ss.id, 6, 10).Block.OutgoingBundlesTo(ss.id)
	// b: two groups by reference.
	var bSent []protocol.MessageBundle
	for h, n := range map[base.BlockHeight]int{1: 5, 2: 4} {
		cert := wideBlock(b, ss.id, h, n)
		certs.m[cert.Block.Hash()] = cert
		if h == 1 {
			bSent = append(cert.Block.OutgoingBundlesTo(ss.id), bSent...)
		} else {
			bSent = append(bSent, cert.Block.OutgoingBundlesTo(ss.id)...)
		}
	}
	for origin, bs := range map[base.ChainID][]protocol.MessageBundle{a: append(a5.Block.OutgoingBundlesTo(ss.id), a6...), b: bSent} {
		if _, err := s.ReceiveBundles(ctx, origin, epochBundles(bs)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(stage string, load func() *State) {
		t.Helper()
		for _, limit := range []int{0, 1, 2, 3, 7, 16, 50, 111, 1000} {
			d, r, errD, errR := pendingAnswers(ctx, load, limit)
			if errD != nil || errR != nil {
				t.Fatalf("%s, limit %d: %v, %v", stage, limit, errD, errR)
			}
			if !bytes.Equal(d, r) {
				t.Fatalf("%s, limit %d: the answer with bundles as bytes (%d bytes) differs from the decoded one (%d bytes)", stage, limit, len(r), len(d))
			}
		}
	}
	staged := s
	check("cached", func() *State { return staged })
	ss.flush(t, s)
	check("read back", load)
	// A block takes 30 of a's first group and 2 of c's legacy entries.
	s = load()
	sent := a5.Block.OutgoingBundlesTo(ss.id)
	for i := range 30 {
		if err := s.removeBundle(ctx, &protocol.IncomingBundle{Origin: a, Bundle: sent[i]}, true); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if err := s.removeBundle(ctx, &protocol.IncomingBundle{Origin: c, Bundle: heights[0][i]}, true); err != nil {
			t.Fatal(err)
		}
	}
	ss.flush(t, s)
	check("partly taken", load)
	got, err := load().PendingBundleBytes(ctx, 1000, math.MaxInt)
	if err != nil || got.Len() != 70+10+9+7 {
		t.Fatalf("%d pending bundles as bytes (%v), want %d", got.Len(), err, 70+10+9+7)
	}
}

// corruptStoredGroup replaces, in the store, the value of the one inbox entry of origin
// that batch put, by what corrupt returns for it.
func corruptStoredGroup(t *testing.T, ss *stateStore, batch *kv.Batch, origin base.ChainID, corrupt func([]byte) []byte) {
	t.Helper()
	n := 0
	for _, e := range queuePuts(t, batch, groupsPrefix(ss, origin)) {
		var w kv.Batch
		w.Put(e.key, e.with(corrupt(bytes.Clone(e.value))))
		if err := ss.db.Write(context.Background(), &w); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d inbox entries put, want 1", n)
	}
}

// TestPendingBundleBytesRefusesCorruptStoredBundle: a bundle stored whole whose bytes
// do not decode (its header intact) is corruption for the listing as bytes as for the
// decoded one: the validator never serves bytes its store holds as no bundle.
func TestPendingBundleBytesRefusesCorruptStoredBundle(t *testing.T) {
	ctx := context.Background()
	ss := newStateStore(t)
	origin := base.ChainID{2}
	s := ss.load()
	bs := wideBlock(origin, ss.id, 3, 3).Block.OutgoingBundlesTo(ss.id) // no certificate: stored whole
	if _, err := s.ReceiveBundles(ctx, origin, epochBundles(bs)); err != nil {
		t.Fatal(err)
	}
	batch := ss.flush(t, s)
	if gs := storedGroups(t, batch, ss, origin); len(gs) != 1 || gs[0].byRef {
		t.Fatal("fixture: the bundles are not one entry of whole bundles")
	}
	last := len(codec.Marshal(&bs[2]))
	corruptStoredGroup(t, ss, batch, origin, func(v []byte) []byte {
		// The last bundle's message count (after its 52 header bytes) says 127.
		v[len(v)-last+52] = 0x7f
		return v
	})
	_, _, errD, errR := pendingAnswers(ctx, ss.load, 10)
	if !errors.Is(errD, base.ErrCorrupt) || !errors.Is(errR, base.ErrCorrupt) {
		t.Fatalf("listing a corrupt stored bundle: decoded %v, as bytes %v; want corruption for both", errD, errR)
	}
	// Within the limit, the two bundles before it are served.
	d, r, errD, errR := pendingAnswers(ctx, ss.load, 2)
	if errD != nil || errR != nil || !bytes.Equal(d, r) {
		t.Fatalf("listing the 2 intact bundles: %v, %v, same answer %v", errD, errR, bytes.Equal(d, r))
	}
}

// FuzzPendingBundleBytes: whatever bytes an inbox entry holds on the store, listing the
// pending bundles as bytes never panics, fails exactly when the decoded listing fails
// (with corruption, never serving bytes that are no bundle), and otherwise makes the
// same answer.
func FuzzPendingBundleBytes(f *testing.F) {
	origin := base.ChainID{2}
	cert := wideBlock(origin, base.ChainID{1}, 5, 4)
	bs := cert.Block.OutgoingBundlesTo(base.ChainID{1})
	var w codec.Writer
	groupCodec{}.Encode(&w, groupOf(newQueuedBundle(&bs[0], false)))
	f.Add(bytes.Clone(w.Bytes()))
	g := groupOf(newQueuedBundle(&bs[0], true))
	for i := 1; i < len(bs); i++ {
		g.add(newQueuedBundle(&bs[i], true))
	}
	w.Reset()
	groupCodec{}.Encode(&w, g)
	f.Add(bytes.Clone(w.Bytes()))
	g.byRef = false
	w.Reset()
	groupCodec{}.Encode(&w, g)
	f.Add(bytes.Clone(w.Bytes()))
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, entry []byte) {
		ctx := context.Background()
		ss := newStateStore(t)
		certs := &certMap{m: map[base.Hash]*protocol.Certificate{cert.Block.Hash(): cert}}
		s := ss.load()
		// One entry of one whole bundle, whose value the input replaces.
		if _, err := s.ReceiveBundles(ctx, origin, epochBundles(bs[:1])); err != nil {
			t.Fatal(err)
		}
		batch := ss.flush(t, s)
		corruptStoredGroup(t, ss, batch, origin, func([]byte) []byte { return entry })
		load := loaderWith(ss, certs)
		for _, limit := range []int{1, 3, 100} {
			d, r, errD, errR := pendingAnswers(ctx, load, limit)
			if (errD == nil) != (errR == nil) {
				t.Fatalf("limit %d: decoded listing %v, as bytes %v", limit, errD, errR)
			}
			if errR != nil {
				if !errors.Is(errR, base.ErrCorrupt) {
					t.Fatalf("limit %d: %v, want corruption", limit, errR)
				}
				continue
			}
			if !bytes.Equal(d, r) {
				t.Fatalf("limit %d: answers differ", limit)
			}
			var info protocol.ChainInfo
			if err := codec.Unmarshal(r, &info); err != nil {
				t.Fatalf("limit %d: the answer does not decode: %v", limit, err)
			}
			if n := len(info.RequestedPendingBundles); n > limit {
				t.Fatalf("limit %d: %d bundles served", limit, n)
			}
		}
	})
}
