package worker_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv/kvtest"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// TestAttackFullInboxListedOnce: strangers fill a chain's inbox (10,000 bundles, a 16
// MiB answer) and anyone repeats a chain-info query for its pending bundles (small,
// unauthenticated, no in-flight slot). Each query listed the inbox again: it re-read
// every listed bundle from the store and decoded each one to check it (9,600 reads,
// 75 MB allocated per query with the answer's encoding: 4.40× the answer of 17.1 MB).
// The worker now keeps the listing
// while the chain's inbox and tip stay the same: after the first query, a query reads
// a few keys and allocates about the answer (its encoding).
func TestAttackFullInboxListedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("fills an inbox with 16 MiB of bundles")
	}
	ctx := context.Background()
	db := &kvtest.ReadCounter{Store: memkv.New()}
	r := newValidatorRing(t, 2, db, nil)
	victim := r.ids[0]
	fillInbox(t, r, victim, r.ids[1], 0)
	q := chainInfoQueryWithBundles(victim)
	answer := func() []byte {
		info, err := r.w.HandleChainInfoQuery(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return r.w.EncodeChainInfo(info)
	}
	first := answer()
	if len(first) < 15<<20 {
		t.Fatalf("answer of %d bytes, want a full inbox's", len(first))
	}
	const queries = 4
	var before, after runtime.MemStats
	runtime.GC()
	db.Reset()
	runtime.ReadMemStats(&before)
	for range queries {
		if !bytes.Equal(answer(), first) {
			t.Fatal("the answer changed between queries")
		}
	}
	runtime.ReadMemStats(&after)
	reads, alloc := db.Reads()/queries, (after.TotalAlloc-before.TotalAlloc)/queries
	t.Logf("answer %d bytes; per query after the first: %d store reads (%d bytes), %d bytes allocated (%.2f× the answer)",
		len(first), reads, db.Bytes()/queries, alloc, float64(alloc)/float64(len(first)))
	if worker.CheckKeptListings {
		t.Log("not bounded: the build checks each kept listing served against the inbox listed anew (invariants)")
		return
	}
	if reads > 16 {
		t.Errorf("each query read %d keys of the store (want at most 16): the inbox is listed again per query", reads)
	}
	if limit := uint64(len(first)) + uint64(len(first))/4; alloc > limit {
		t.Errorf("each query allocated %d bytes for an answer of %d (want at most %d)", alloc, len(first), limit)
	}
}

// BenchmarkChainInfoFullInbox measures a repeated chain-info query for the pending
// bundles of a full inbox (TestAttackFullInboxListedOnce), answer encoded.
func BenchmarkChainInfoFullInbox(b *testing.B) {
	ctx := context.Background()
	r := newValidatorRing(b, 2, memkv.New(), nil)
	victim := r.ids[0]
	fillInbox(b, r, victim, r.ids[1], 0)
	q := chainInfoQueryWithBundles(victim)
	if _, err := r.w.HandleChainInfoQuery(ctx, q); err != nil { // the first lists
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		info, err := r.w.HandleChainInfoQuery(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(r.w.EncodeChainInfo(info))))
	}
}

// TestKeptListingFollowsInbox: a kept pending-bundle listing is never served once the
// chain's inbox or tip changed: after deliveries, a block taking bundles, a block
// taking none (the round-robin starts at another origin), a refused proposal (its
// execution took bundles, then was rolled back) and a reload of the chain's state,
// every answer is the one listing the inbox anew makes, byte for byte.
func TestKeptListingFollowsInbox(t *testing.T) {
	ctx := context.Background()
	r := newValidatorRing(t, 3, memkv.New(), nil)
	worker.KeepAllListings(r.w, 64<<20)
	victim, a, b := r.ids[0], r.ids[1], r.ids[2]
	deliver := func(origin base.ChainID, heights ...base.BlockHeight) {
		t.Helper()
		req := &protocol.CrossChainRequest{Sender: origin, Recipient: victim}
		for _, h := range heights {
			req.Bundles = append(req.Bundles, protocol.EpochBundle{Bundle: protocol.MessageBundle{Height: h, Timestamp: 1,
				CertificateHash: base.Hash{byte(h), 7}, Messages: []protocol.PostedMessage{}}})
		}
		if err := r.w.HandleCrossChainRequest(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	var last []byte
	check := func(what string, want int) *protocol.ChainInfo {
		t.Helper()
		var info *protocol.ChainInfo
		for range 2 { // the second answer is the kept listing's
			var err error
			if info, err = r.w.HandleChainInfoQuery(ctx, chainInfoQueryWithBundles(victim)); err != nil {
				t.Fatal(err)
			}
		}
		got := r.w.EncodeChainInfo(info)
		p, err := worker.LoadedState(r.w, victim).PendingBundleBytes(ctx, worker.MaxPendingBundles, worker.MaxPendingBundleBytes)
		if err != nil {
			t.Fatal(err)
		}
		fresh := *info
		fresh.SetPendingBundleBytes(p)
		if !bytes.Equal(got, r.w.EncodeChainInfo(&fresh)) {
			t.Fatalf("%s: the answer differs from the inbox listed anew", what)
		}
		if bs, err := info.PendingBundles(); err != nil || len(bs) != want {
			t.Fatalf("%s: %d pending bundles (%v), want %d", what, len(bs), err, want)
		}
		if n, _ := worker.KeptListings(r.w); n != 1 {
			t.Fatalf("%s: %d listings kept, want 1", what, n)
		}
		if bytes.Equal(got, last) {
			t.Fatalf("%s: the answer did not change", what)
		}
		last = got
		return info
	}
	deliver(a, 0, 1, 2)
	deliver(b, 0, 1)
	check("deliveries", 5)
	deliver(a, 3)
	info := check("a delivery", 6)
	// A block taking the first two bundles listed.
	bs, err := info.PendingBundles()
	if err != nil {
		t.Fatal(err)
	}
	taking := *info
	taking.RequestedPendingBundles = bs[:2]
	taking.SetPendingBundleBytes(protocol.PendingBundleBytes{})
	r.commit(t, 0, &taking, 1, nil)
	check("a block taking bundles", 4)
	// A block taking none: the listing starts at the other origin. It is listed (and
	// kept) before and after each step too, so that only the new tip changes it.
	query := func() {
		if _, err := r.w.HandleChainInfoQuery(ctx, chainInfoQueryWithBundles(victim)); err != nil {
			t.Fatal(err)
		}
	}
	r.commit(t, 0, &protocol.ChainInfo{}, 1, func(f func() error) {
		query()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		query()
	})
	info = check("a block taking no bundle", 4)
	// A proposal taking the first bundle listed, refused: a transfer of more than the
	// chain holds. The listing is the same; the answer is listed anew.
	bs, err = info.PendingBundles()
	if err != nil {
		t.Fatal(err)
	}
	bad := r.proposal(t, 0, &protocol.ChainInfo{RequestedPendingBundles: bs[:1]}, 0)
	p := bad.Content.Block
	p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner,
		Recipient: base.Account{Chain: a}, Amount: base.Tokens(1 << 40)}))
	if bad, err = protocol.SignProposal(r.owners[0], p, base.FastRound, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.w.HandleBlockProposal(ctx, bad); err == nil {
		t.Fatal("a block spending more than the chain holds was voted for")
	}
	last = nil
	check("a refused proposal", 4)
	// The chain's state is dropped and loaded anew.
	worker.DropState(r.w, victim)
	last = nil
	check("a reload", 4)
}
