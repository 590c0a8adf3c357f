package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv/pebblekv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// TestCrossChainWritesSurviveCrash: cross-chain receipts and confirmations are written
// lazily (no fsync). A validator on Pebble confirms six transfers from chain 0 to chain 1
// and delivers them; between the fourth and the fifth, it votes for a block of chain 1
// that receives the first bundle (a durable write). The machine then loses power,
// keeping only synced data (or synced data plus some of the rest). After the restart:
//   - every bundle the vote relied on is still in chain 1's inbox (the durable vote made
//     the earlier lazy receipts durable);
//   - the restarted worker delivers what the crash lost, and chain 1's inbox holds every
//     bundle exactly once, in order;
//   - once delivered, nothing is left to recover.
func TestCrossChainWritesSurviveCrash(t *testing.T) {
	lost := 0
	for seed, unsynced := range []int{0, 0, 50, 100} {
		t.Run(fmt.Sprintf("seed=%d unsynced=%d%%", seed, unsynced), func(t *testing.T) {
			if testCrossChainCrash(t, uint64(seed), unsynced) {
				lost++
			}
		})
	}
	if lost == 0 {
		t.Fatal("no crash lost a lazy write: the test does not exercise recovery")
	}
}

// testCrossChainCrash runs one crash and reports whether it lost a delivery.
func testCrossChainCrash(t *testing.T, seed uint64, unsynced int) (lostDelivery bool) {
	ctx := context.Background()
	f := newFixture(t)
	mem := vfs.NewCrashableMem()
	db, err := pebblekv.Open("db", pebblekv.Options{FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(worker.Config{Storage: genesisStore(t, db, f.genesis), Signer: f.keys[0], Clock: fixedClock{10_000_000}})

	const n = 6
	var prev *base.Hash
	var bundles []protocol.MessageBundle
	for h := range n {
		block := f.transfer(base.AmountFromAttos(uint64(h+1)), base.BlockHeight(h), prev)
		exec := executed(t, w, &block)
		cert := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, f.keys)
		if _, err := w.HandleCertificate(ctx, cert); err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		hash := exec.Hash()
		prev = &hash
		bundles = append(bundles, exec.OutgoingBundles()[f.chains[1]]...)
		if err := w.DeliverPending(ctx); err != nil {
			t.Fatal(err)
		}
		if h == 3 {
			// Bob's block on chain 1 receives the first bundle: the vote is durable.
			bob := prototest.Key("bob")
			o := bob.Public().Owner()
			p := f.propose(t, bob, protocol.ProposedBlock{ChainID: f.chains[1], Height: 0, Timestamp: 5_000_000, AuthenticatedOwner: &o,
				Transactions: []protocol.Transaction{{Bundle: &protocol.IncomingBundle{Origin: f.chains[0], Bundle: bundles[0], Action: protocol.Accept}}}}, base.FastRound)
			if _, err := w.HandleBlockProposal(ctx, p); err != nil {
				t.Fatalf("vote on chain 1: %v", err)
			}
		}
	}
	if w.HasPendingDeliveries() || pendingBundles(t, w, f.chains[1]) != n {
		t.Fatalf("before the crash: %d bundles in chain 1's inbox, want %d", pendingBundles(t, w, f.chains[1]), n)
	}

	clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rand.New(rand.NewPCG(seed, 11))})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := pebblekv.Open("db", pebblekv.Options{FS: clone})
	if err != nil {
		t.Fatalf("open after the crash: %v", err)
	}
	defer db2.Close()
	restarted := worker.New(worker.Config{Storage: storage.New(db2), Signer: f.keys[0], Clock: fixedClock{10_000_000}})
	kept := pendingBundles(t, restarted, f.chains[1])
	if kept < 4 {
		t.Fatalf("after the crash chain 1 holds %d bundles; the 4 delivered before the durable vote must survive", kept)
	}
	if err := restarted.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	lostDelivery = restarted.HasPendingDeliveries()
	for i := 0; i < 10 && restarted.HasPendingDeliveries(); i++ {
		if err := restarted.DeliverPending(ctx); err != nil {
			t.Fatal(err)
		}
	}
	info, err := restarted.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: f.chains[1], RequestPendingBundles: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.RequestedPendingBundles) != n {
		t.Fatalf("after recovery chain 1 holds %d bundles, want %d exactly once", len(info.RequestedPendingBundles), n)
	}
	for i, ib := range info.RequestedPendingBundles {
		if ib.Origin != f.chains[0] || ib.Bundle.Height != base.BlockHeight(i) {
			t.Fatalf("bundle %d is from %s at height %d: not in order", i, ib.Origin.Short(), ib.Bundle.Height)
		}
	}
	again := worker.New(worker.Config{Storage: storage.New(db2), Signer: f.keys[0], Clock: fixedClock{10_000_000}})
	if err := again.Recover(ctx); err != nil || again.HasPendingDeliveries() {
		t.Fatalf("a delivery is still recorded after recovery: %v", err)
	}
	t.Logf("kept %d of %d receipts; recovery re-delivered: %v", kept, n, lostDelivery)
	return lostDelivery
}
