package client

import (
	"runtime"
	"slices"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestAttackPendingListOverBoundIgnored: a Byzantine validator answers a pending-bundle
// query with far more bundles than any validator lists (protocol.MaxListedPendingBundles):
// 50,000 bundles never sent. The client counted each by its bytes (a map entry and a copy
// of its encoding) before the f+1 rule dropped them all: about 12 MB allocated for one
// answer here, up to the transport's 64 MiB limit in bundles. An answer over the bound is
// not honest and is not counted at all; the honest bundles still count.
func TestAttackPendingListOverBoundIgnored(t *testing.T) {
	m, id, _, honest := pendingFixture(t)
	vs := m.validators
	msgs := []protocol.PostedMessage{{Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Target: base.ChainOwner, Amount: base.Tokens(1)}}}}
	lies := make([]protocol.IncomingBundle, 50_000)
	for i := range lies {
		origin := base.ChainID(crypto.HashBytes("nowhere", []byte{byte(i), byte(i >> 8), byte(i >> 16)}))
		lies[i] = protocol.IncomingBundle{Origin: origin, Bundle: protocol.MessageBundle{Height: base.BlockHeight(i), Timestamp: 1, Messages: msgs}}
	}
	info := func(l []protocol.IncomingBundle) *protocol.ChainInfo {
		return &protocol.ChainInfo{ChainID: id, NextBlockHeight: 1, RequestedPendingBundles: l}
	}
	as := []answer[*protocol.ChainInfo]{{v: vs[0], val: info(lies)}, {v: vs[1], val: info(honest)}, {v: vs[2], val: info(honest)}, {v: vs[3], val: info(honest)}}
	cc := &ChainClient{id: id}
	cc.pendingBundlesFrom(m, 1, as) // warm-up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := cc.pendingBundlesFrom(m, 1, as)
	runtime.ReadMemStats(&after)
	if len(got) != len(honest) {
		t.Fatalf("%d bundles counted, want the %d honest ones", len(got), len(honest))
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("counting the answers allocated %d bytes: the over-long answer was counted bundle by bundle", n)
	}
}

// TestPendingCountedWithoutAllocationPerBundle: answers that list the same bundles in
// separate slices (decoded without a shared memo, or differing in a few bundles) are
// counted bundle by bundle by their bytes. That cost a copy of every distinct bundle's
// bytes as a map key, an allocation each (108 here); the bytes now go into chunks of a
// few kilobytes (9).
// The count is unchanged: the bundles of f+1 count, a bundle of one validator does not,
// and two reports of one origin and cursor with different bytes are told apart.
func TestPendingCountedWithoutAllocationPerBundle(t *testing.T) {
	m, id, owner, _ := pendingFixture(t)
	vs := m.validators
	sender := prototest.TransferBlock(base.ChainID{8}, 0, nil, owner, base.Account{Chain: id}, 100)
	var honest []protocol.IncomingBundle
	for _, b := range sender.OutgoingBundlesTo(id) {
		honest = append(honest, protocol.IncomingBundle{Origin: sender.ChainID(), Bundle: b})
	}
	if len(honest) != 100 {
		t.Fatalf("fixture: %d bundles, want 100", len(honest))
	}
	// The last validator reports one bundle with other bytes (same origin and cursor).
	forged := slices.Clone(honest)
	forged[0].Bundle.Timestamp++
	info := func(l []protocol.IncomingBundle) *protocol.ChainInfo {
		return &protocol.ChainInfo{ChainID: id, NextBlockHeight: 1, RequestedPendingBundles: slices.Clone(l)}
	}
	as := []answer[*protocol.ChainInfo]{{v: vs[0], val: info(honest)}, {v: vs[1], val: info(honest)}, {v: vs[2], val: info(honest)}, {v: vs[3], val: info(forged)}}
	cc := &ChainClient{id: id}
	got := cc.pendingBundlesFrom(m, 1, as)
	if len(got) != len(honest) {
		t.Fatalf("%d bundles counted, want %d", len(got), len(honest))
	}
	for i := range got {
		if got[i].Bundle.Timestamp != honest[i].Bundle.Timestamp {
			t.Fatalf("bundle %d counted with the forged bytes", i)
		}
	}
	// Two against two: the forged bundle and its honest twin each have f+1 = 2.
	as[2].val = info(forged)
	if got := cc.pendingBundlesFrom(m, 1, as); len(got) != len(honest) || got[0].Bundle.Timestamp != honest[0].Bundle.Timestamp {
		t.Fatalf("two reports of each variant: %d bundles, want %d, the first one seen kept", len(got), len(honest))
	}
	as[2].val = info(honest)
	allocs := testing.AllocsPerRun(20, func() { cc.pendingBundlesFrom(m, 1, as) })
	if allocs > 16 {
		t.Fatalf("%v allocations to count 4 answers of 100 bundles, want at most 16 (not one per bundle)", allocs)
	}
}
