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
//   - the certificates are written lazily too, so the crash may lose chain 0's blocks
//     after the vote; the client sends them again, as it does to a lagging validator;
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
	mem, db, w := crashableWorker(t, f)
	const n = 6
	var bundles []protocol.MessageBundle
	certs, _ := confirmTransfers(t, f, w, n, func(h int, exec *protocol.Block) {
		bundles = append(bundles, exec.OutgoingBundles()[f.chains[1]]...)
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
	})
	if w.HasPendingDeliveries() || pendingBundles(t, w, f.chains[1]) != n {
		t.Fatalf("before the crash: %d bundles in chain 1's inbox, want %d", pendingBundles(t, w, f.chains[1]), n)
	}

	db2 := crashAndReopen(t, mem, db, unsynced, rand.New(rand.NewPCG(seed, 11)))
	restarted := worker.New(worker.Config{Storage: storage.New(db2), Signer: f.keys[0], Clock: fixedClock{10_000_000}})
	kept := pendingBundles(t, restarted, f.chains[1])
	if kept < 4 {
		t.Fatalf("after the crash chain 1 holds %d bundles; the 4 delivered before the durable vote must survive", kept)
	}
	if tip := nextHeight(t, restarted, f.chains[0]); tip < 4 {
		t.Fatalf("after the crash chain 0 is at height %d; the 4 blocks confirmed before the durable vote must survive", tip)
	}
	resend(t, restarted, certs)
	if err := restarted.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	lostDelivery = restarted.HasPendingDeliveries()
	for i := 0; i < 10 && restarted.HasPendingDeliveries(); i++ {
		if err := restarted.DeliverPending(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wantBundlesInOrder(t, restarted, f.chains[1], f.chains[0], n, "after recovery")
	// A process started on the store now has nothing to deliver: at most a stale
	// pending-delivery record (kept while chain 0 kept sending after the restart), which
	// one pass finds empty and deletes.
	again := worker.New(worker.Config{Storage: storage.New(db2), Signer: f.keys[0], Clock: fixedClock{10_000_000}})
	if err := again.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := again.DeliverPending(ctx); err != nil {
		t.Fatal(err)
	}
	if again.HasPendingDeliveries() || pendingBundles(t, again, f.chains[1]) != n {
		t.Fatalf("after a second recovery: deliveries pending %v, chain 1 holds %d bundles, want %d", again.HasPendingDeliveries(), pendingBundles(t, again, f.chains[1]), n)
	}
	t.Logf("kept %d of %d receipts; recovery re-delivered: %v", kept, n, lostDelivery)
	return lostDelivery
}

// nextHeight returns chain id's next block height on w.
func nextHeight(t *testing.T, w *worker.Worker, id base.ChainID) base.BlockHeight {
	t.Helper()
	info, err := w.HandleChainInfoQuery(context.Background(), &protocol.ChainInfoQuery{ChainID: id})
	if err != nil {
		t.Fatal(err)
	}
	return info.NextBlockHeight
}

// resend hands w every certificate again, as a client does to a validator that reports
// an earlier height: those w holds are answered as known, the others applied.
func resend(t *testing.T, w *worker.Worker, certs []*protocol.Certificate) {
	t.Helper()
	for _, c := range certs {
		if _, err := w.HandleCertificate(context.Background(), c); err != nil {
			t.Fatalf("certificate of height %d sent again: %v", c.Block.Height(), err)
		}
	}
}

// TestConfirmedBlocksLostInACrashLeaveAPrefix: a validator writes a confirmed block lazily
// (its votes are the durable writes; docs/adr/0005). A validator on Pebble confirms six
// transfers from chain 0 to chain 1 and delivers them, with no durable write in between;
// the machine then loses power. After the restart:
//   - chain 0 is at some height t ≤ 6 and chain 1's inbox holds exactly the bundles of
//     heights below t: a crash loses a suffix of the writes, never a block without the
//     writes after it, nor a receipt without its block;
//   - a client sending the certificates again brings chain 0 to height 6 and chain 1's
//     inbox to the six bundles, exactly once, in order;
//   - a durable write (a vote) after the certificates makes every one of them durable.
//
// Some crash must lose a certificate, or the test does not exercise the lazy writes. Block
// 0 always survives: the first delivery to chain 1 loads it for the first time, and
// Worker.load writes a chain's initial state durably, which makes block 0 durable too.
func TestConfirmedBlocksLostInACrashLeaveAPrefix(t *testing.T) {
	lost := 0
	for seed, unsynced := range []int{0, 0, 30, 60, 100} {
		t.Run(fmt.Sprintf("seed=%d unsynced=%d%%", seed, unsynced), func(t *testing.T) {
			if testConfirmedCrash(t, uint64(seed), unsynced, false) < 6 {
				lost++
			}
		})
	}
	if lost == 0 {
		t.Fatal("no crash lost a confirmed block: certificates are not written lazily")
	}
	t.Run("after a vote", func(t *testing.T) {
		if tip := testConfirmedCrash(t, 9, 0, true); tip != 6 {
			t.Fatalf("after a durable vote that followed them, the crash kept %d of 6 blocks", tip)
		}
	})
}

// testConfirmedCrash runs one crash and returns chain 0's next height right after it.
// With vote, alice's chain votes for a block after the six certificates, before the crash.
func testConfirmedCrash(t *testing.T, seed uint64, unsynced int, vote bool) base.BlockHeight {
	ctx := context.Background()
	f := newFixture(t)
	mem, db, w := crashableWorker(t, f)
	const n = 6
	certs, prev := confirmTransfers(t, f, w, n, nil)
	if vote {
		block := f.transfer(base.AmountFromAttos(100), n, prev)
		if _, err := w.HandleBlockProposal(ctx, f.propose(t, f.alice, block, base.FastRound)); err != nil {
			t.Fatalf("vote at height %d: %v", n, err)
		}
	}
	db2 := crashAndReopen(t, mem, db, unsynced, rand.New(rand.NewPCG(seed, 13)))
	restarted := worker.New(worker.Config{Storage: storage.New(db2), Signer: f.keys[0], Clock: fixedClock{10_000_000}})
	tip := nextHeight(t, restarted, f.chains[0])
	if got := pendingBundles(t, restarted, f.chains[1]); got > int(tip) {
		t.Fatalf("after the crash chain 0 is at height %d but chain 1 holds %d of its bundles", tip, got)
	}
	if err := restarted.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	resend(t, restarted, certs)
	for i := 0; i < 10 && restarted.HasPendingDeliveries(); i++ {
		if err := restarted.DeliverPending(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if h := nextHeight(t, restarted, f.chains[0]); h != n {
		t.Fatalf("after the certificates were sent again chain 0 is at height %d, want %d", h, n)
	}
	wantBundlesInOrder(t, restarted, f.chains[1], f.chains[0], n, "after the certificates were sent again")
	t.Logf("the crash kept %d of %d blocks", tip, n)
	return tip
}

// crashAndReopen simulates a power loss of the machine holding db (on mem), keeping the
// synced data and unsynced percent of the rest, and opens the store as it is afterwards.
// The caller closes nothing: db is closed here, the reopened store at the test's end.
func crashAndReopen(t *testing.T, mem *vfs.MemFS, db *pebblekv.Store, unsynced int, rng *rand.Rand) *pebblekv.Store {
	t.Helper()
	clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rng})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := pebblekv.Open("db", pebblekv.Options{FS: clone})
	if err != nil {
		t.Fatalf("open after the crash: %v", err)
	}
	t.Cleanup(func() { _ = db2.Close() })
	return db2
}

// crashableWorker opens a Pebble store holding f's genesis on a crashable in-memory file
// system, and a worker of validator 0 on it.
func crashableWorker(t *testing.T, f *fixture) (*vfs.MemFS, *pebblekv.Store, *worker.Worker) {
	t.Helper()
	mem := vfs.NewCrashableMem()
	db, err := pebblekv.Open("db", pebblekv.Options{FS: mem})
	if err != nil {
		t.Fatal(err)
	}
	return mem, db, worker.New(worker.Config{Storage: genesisStore(t, db, f.genesis), Signer: f.keys[0], Clock: fixedClock{10_000_000}})
}

// confirmTransfers has w confirm n transfers from chain 0 to chain 1 (heights 0 to n-1)
// and deliver each block's bundles, calling after (if set) once each block is delivered.
// It returns the certificates and the hash of the last block.
func confirmTransfers(t *testing.T, f *fixture, w *worker.Worker, n int, after func(h int, exec *protocol.Block)) ([]*protocol.Certificate, *base.Hash) {
	t.Helper()
	ctx := context.Background()
	var prev *base.Hash
	var certs []*protocol.Certificate
	for h := range n {
		block := f.transfer(base.AmountFromAttos(uint64(h+1)), base.BlockHeight(h), prev)
		exec := executed(t, w, &block)
		cert := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, f.keys)
		if _, err := w.HandleCertificate(ctx, cert); err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		if err := w.DeliverPending(ctx); err != nil {
			t.Fatal(err)
		}
		certs = append(certs, cert)
		hash := exec.Hash()
		prev = &hash
		if after != nil {
			after(h, exec)
		}
	}
	return certs, prev
}

// wantBundlesInOrder fails t unless recipient's inbox holds exactly n bundles, those of
// origin's heights 0 to n-1 in order (when: the moment checked, for the message).
func wantBundlesInOrder(t *testing.T, w *worker.Worker, recipient, origin base.ChainID, n int, when string) {
	t.Helper()
	info, err := w.HandleChainInfoQuery(context.Background(), &protocol.ChainInfoQuery{ChainID: recipient, RequestPendingBundles: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.RequestedPendingBundles) != n {
		t.Fatalf("%s, %s holds %d bundles, want %d exactly once", when, recipient.Short(), len(info.RequestedPendingBundles), n)
	}
	for i, ib := range info.RequestedPendingBundles {
		if ib.Origin != origin || ib.Bundle.Height != base.BlockHeight(i) {
			t.Fatalf("%s, bundle %d is from %s at height %d: not in order", when, i, ib.Origin.Short(), ib.Bundle.Height)
		}
	}
}
