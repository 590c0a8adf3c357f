package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// ring is a validator's worker with n single-owner chains, chain i sending to chain i+1.
type ring struct {
	keys    []*crypto.PrivateKey // the committee
	owners  []*crypto.PrivateKey
	chains  []base.ChainID
	w       *worker.Worker
	tips    []*base.Hash
	heights []base.BlockHeight
}

// genesisStore returns a store over db holding genesis g.
func genesisStore(tb testing.TB, db kv.Store, g *protocol.GenesisConfig) *storage.Storage {
	tb.Helper()
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, g)
	if err := st.Write(context.Background(), &b); err != nil {
		tb.Fatal(err)
	}
	return st
}

func newRing(t *testing.T, n int, router worker.Router) *ring {
	t.Helper()
	r := &ring{keys: prototest.Validators(4)}
	for i := range n {
		r.owners = append(r.owners, prototest.Key(fmt.Sprintf("owner-%d", i)))
	}
	g := prototest.Genesis(prototest.Committee(r.keys), r.owners, base.Tokens(100))
	r.chains = g.ChainIDs()
	db := memkv.New()
	t.Cleanup(func() { _ = db.Close() })
	r.w = worker.New(worker.Config{Storage: genesisStore(t, db, g), Signer: r.keys[0], Clock: fixedClock{10_000_000}, Router: router})
	r.tips = make([]*base.Hash, n)
	r.heights = make([]base.BlockHeight, n)
	return r
}

// send confirms chain i's next block, a transfer to chain i+1 (mod n).
func (r *ring) send(t *testing.T, i int) {
	t.Helper()
	o := r.owners[i].Public().Owner()
	to := r.chains[(i+1)%len(r.chains)]
	p := protocol.ProposedBlock{ChainID: r.chains[i], Height: r.heights[i], Timestamp: 5_000_000, PreviousBlockHash: r.tips[i], AuthenticatedOwner: &o,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: to}, Amount: base.AmountFromAttos(1)})}}
	exec := executed(t, r.w, &p)
	cert := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, r.keys)
	if _, err := r.w.HandleCertificate(context.Background(), cert); err != nil {
		t.Fatalf("chain %d height %d: %v", i, r.heights[i], err)
	}
	h := exec.Hash()
	r.tips[i] = &h
	r.heights[i]++
}

// watchingRouter hands requests to the worker and records, per (sender, recipient), the
// heights of the bundles in arrival order and how many requests of the pair were in
// flight at once. Updates for a recipient in hold wait until it is released.
type watchingRouter struct {
	w *worker.Worker

	mu          sync.Mutex
	heights     map[[2]base.ChainID][]base.BlockHeight
	inflight    map[[2]base.ChainID]int
	maxPair     int // most requests of one pair in flight at once
	total, peak int // requests in flight, and the most at once
	hold        map[base.ChainID]chan struct{}
	delay       time.Duration
	// gate holds every update until that many are in flight at once (for at most 10 s,
	// after which the test fails on peak).
	gate int
}

func (r *watchingRouter) RouteCrossChain(ctx context.Context, req *protocol.CrossChainRequest) error {
	if req.Confirm {
		return r.w.HandleCrossChainRequest(ctx, req)
	}
	pair := [2]base.ChainID{req.Sender, req.Recipient}
	r.mu.Lock()
	r.inflight[pair]++
	r.maxPair = max(r.maxPair, r.inflight[pair])
	r.total++
	r.peak = max(r.peak, r.total)
	hold := r.hold[req.Recipient]
	r.mu.Unlock()
	if hold != nil {
		<-hold
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		r.mu.Lock()
		open := r.peak >= r.gate
		r.mu.Unlock()
		if open {
			break
		}
	}
	time.Sleep(r.delay)
	r.mu.Lock()
	for _, b := range req.Bundles {
		r.heights[pair] = append(r.heights[pair], b.Bundle.Height)
	}
	r.inflight[pair]--
	r.total--
	r.mu.Unlock()
	return r.w.HandleCrossChainRequest(ctx, req)
}

func newWatchingRouter() *watchingRouter {
	return &watchingRouter{heights: map[[2]base.ChainID][]base.BlockHeight{}, inflight: map[[2]base.ChainID]int{}, hold: map[base.ChainID]chan struct{}{}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRunDeliversPairsIndependently: while the delivery to one recipient is stuck (its
// chain busy, or its shard slow), Run still delivers another pair's bundles.
func TestRunDeliversPairsIndependently(t *testing.T) {
	router := newWatchingRouter()
	r := newRing(t, 4, router)
	router.w = r.w
	release := make(chan struct{})
	router.hold[r.chains[1]] = release
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.w.Run(ctx, 50*time.Millisecond) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	r.send(t, 0) // to chain 1: held
	waitFor(t, "the held delivery to start", func() bool { router.mu.Lock(); defer router.mu.Unlock(); return router.total == 1 })
	r.send(t, 2) // to chain 3
	waitFor(t, "chain 3 to receive while chain 1's delivery is held", func() bool { return pendingBundles(t, r.w, r.chains[3]) == 1 })
	if n := pendingBundles(t, r.w, r.chains[1]); n != 0 {
		t.Fatalf("chain 1 holds %d bundles while its delivery is held", n)
	}
	close(release)
	waitFor(t, "chain 1 to receive after the release", func() bool { return pendingBundles(t, r.w, r.chains[1]) == 1 })
	waitFor(t, "no delivery left", func() bool { return !r.w.HasPendingDeliveries() })
}

// TestRunKeepsEachPairInOrder confirms blocks on every chain of a ring, half before Run
// starts and half while it delivers (each request takes a little time, so pairs
// overlap): every pair's bundles arrive exactly once and in height order, no pair ever
// has two requests in flight, and different pairs are delivered at the same time (the
// router holds the first requests until three are in flight).
func TestRunKeepsEachPairInOrder(t *testing.T) {
	const chains, blocks = 6, 8
	router := newWatchingRouter()
	router.delay = time.Millisecond
	router.gate = 3
	r := newRing(t, chains, router)
	router.w = r.w
	for range blocks / 2 {
		for i := range chains {
			r.send(t, i)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.w.Run(ctx, 20*time.Millisecond) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for range blocks - blocks/2 {
		for i := range chains {
			r.send(t, i)
		}
	}
	for i := range chains {
		waitFor(t, fmt.Sprintf("chain %d to receive %d bundles", i, blocks), func() bool { return pendingBundles(t, r.w, r.chains[i]) == blocks })
	}
	waitFor(t, "no delivery left", func() bool { return !r.w.HasPendingDeliveries() })
	router.mu.Lock()
	defer router.mu.Unlock()
	for i := range chains {
		pair := [2]base.ChainID{r.chains[i], r.chains[(i+1)%chains]}
		got := router.heights[pair]
		// A pass may carry a height again only if an earlier request failed; none did.
		if len(got) != blocks {
			t.Fatalf("pair %d: heights %v, want 0..%d once each", i, got, blocks-1)
		}
		for j, h := range got {
			if h != base.BlockHeight(j) {
				t.Fatalf("pair %d: heights %v arrived out of order", i, got)
			}
		}
	}
	if router.maxPair > 1 {
		t.Fatalf("a pair had %d requests in flight at once", router.maxPair)
	}
	t.Logf("at most %d requests in flight at once", router.peak)
	if router.peak < router.gate {
		t.Fatalf("pairs were never delivered at the same time (at most %d request in flight)", router.peak)
	}
}
