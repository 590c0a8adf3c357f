package worker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// failingStore fails every Write while fail is set.
type failingStore struct {
	kv.Store
	fail atomic.Bool
}

func (s *failingStore) Write(ctx context.Context, b *kv.Batch) error {
	if s.fail.Load() {
		return errors.New("disk full")
	}
	return s.Store.Write(ctx, b)
}

// newStoreWorker returns a worker of validator key over a fresh store holding f's
// genesis, and the store.
func newStoreWorker(t *testing.T, f *fixture, key *crypto.PrivateKey, cfg worker.Config) (*worker.Worker, *failingStore) {
	t.Helper()
	db := &failingStore{Store: memkv.New()}
	t.Cleanup(func() { _ = db.Close() })
	cfg.Storage, cfg.Signer = genesisStore(t, db, f.genesis), key
	if cfg.Clock == nil {
		cfg.Clock = fixedClock{10_000_000}
	}
	return worker.New(cfg), db
}

// reloaded is what a worker that loads chain id afresh from w's store answers about it.
func reloaded(t *testing.T, w *worker.Worker, key *crypto.PrivateKey, id base.ChainID) string {
	t.Helper()
	fresh := worker.New(worker.Config{Storage: w.Storage(), Signer: key, Clock: fixedClock{10_000_000}})
	return snapshot(t, fresh, id)
}

// A refused proposal keeps the chain's in-memory state when the refusal staged nothing,
// and that state answers exactly as a fresh load from the store does; a request that
// fails with changes staged, or whose write fails, drops it.
func TestRefusalKeepsStateEqualToReload(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	key := f.keys[0]
	w, _ := newStoreWorker(t, f, key, worker.Config{})
	id := f.chains[0]
	prev := base.Hash{1}

	// Before and after a vote (the manager then holds it).
	vote := f.propose(t, f.alice, f.transfer(base.Tokens(1), 0, nil), base.FastRound)
	refusals := []struct {
		name string
		p    *protocol.BlockProposal
		want error
	}{
		{"wrong height", f.propose(t, f.alice, f.transfer(base.Tokens(1), 3, &prev), base.FastRound), worker.ErrWrongHeight},
		// Found mid-execution, after the block's changes were staged: they are taken
		// out again (ExecuteDetached), and the chain's state stays as it was.
		{"overdraft", f.propose(t, f.alice, f.transfer(base.Tokens(101), 0, nil), base.FastRound), execution.ErrInsufficientBalance},
		{"vote", vote, nil},
		{"another fast block at a voted height", f.propose(t, f.alice, f.transfer(base.Tokens(2), 0, nil), base.FastRound), base.ErrInvalid},
		{"wrong height after a vote", f.propose(t, f.alice, f.transfer(base.Tokens(1), 3, &prev), base.FastRound), worker.ErrWrongHeight},
	}
	// Loads the chain (a query of a chain not initialized yet reads its initial state
	// without keeping it).
	if err := w.ChainState(ctx, id, func(*chain.State) error { return nil }); err != nil {
		t.Fatal(err)
	}
	warm := worker.LoadedState(w, id)
	if warm == nil {
		t.Fatal("no state loaded")
	}
	for _, c := range refusals {
		_, err := w.HandleBlockProposal(ctx, c.p)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Fatalf("%s: got %v, want %v", c.name, err, c.want)
		}
		if got := worker.LoadedState(w, id); got != warm {
			t.Errorf("%s: the chain's state was dropped (nothing staged)", c.name)
		}
		if got, want := snapshot(t, w, id), reloaded(t, w, key, id); got != want {
			t.Errorf("%s: the kept state differs from a reload:\n kept %x\n load %x", c.name, got, want)
		}
	}

	// A confirmed certificate whose execution (on the chain's own state) stages changes
	// and then fails: the state is dropped, and what is loaded again equals the store.
	block := f.transfer(base.Tokens(1), 0, nil)
	good := executed(t, w, &block)
	bad := *good
	bad.Outcome.StateHash = base.Hash{0xba, 0xd0}
	tampered := protocol.NewBlock(bad.Proposed, bad.Outcome)
	cert := prototest.Certify(protocol.KindConfirmed, tampered, nil, base.FastRound, f.keys)
	if _, err := w.HandleCertificate(ctx, cert); !errors.Is(err, worker.ErrOutcomeMismatch) {
		t.Fatalf("tampered certificate: got %v, want ErrOutcomeMismatch", err)
	}
	if worker.LoadedState(w, id) != nil {
		t.Error("a failure with staged changes kept the chain's state")
	}
	if got, want := snapshot(t, w, id), reloaded(t, w, key, id); got != want {
		t.Errorf("state after a failed execution differs from a reload")
	}

	// The valid certificate still applies on the reloaded state.
	if _, err := w.HandleCertificate(ctx, prototest.Certify(protocol.KindConfirmed, good, nil, base.FastRound, f.keys)); err != nil {
		t.Fatalf("valid certificate after refusals: %v", err)
	}
	if got, want := snapshot(t, w, id), reloaded(t, w, key, id); got != want {
		t.Errorf("state after the confirmed block differs from a reload")
	}
}

// A write that fails leaves no flushed-but-unwritten state behind: the next request
// reads the store, not what the failed write would have stored.
func TestFailedWriteDropsState(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	key := f.keys[0]
	w, db := newStoreWorker(t, f, key, worker.Config{})
	id := f.chains[0]
	before := snapshot(t, w, id)
	warm := worker.LoadedState(w, id)
	db.fail.Store(true)
	if _, err := w.HandleBlockProposal(ctx, f.propose(t, f.alice, f.transfer(base.Tokens(1), 0, nil), base.FastRound)); err == nil {
		t.Fatal("a vote was answered although its write failed")
	}
	db.fail.Store(false)
	if got := worker.LoadedState(w, id); got == warm && got != nil {
		t.Error("the state whose write failed was kept")
	}
	if after := snapshot(t, w, id); after != before {
		t.Error("the vote whose write failed shows in the chain's state")
	}
}

// bundleFixture is a worker running its delivery loop, whose delivery of chain 0's
// bundles to chain 1 can be held, and a certified transfer from chain 0 to chain 1.
type bundleFixture struct {
	f       *fixture
	w       *worker.Worker
	cert    *protocol.Certificate
	bob     *crypto.PrivateKey
	waits   atomic.Int32
	held    chan struct{} // receives when a delivery of the pair starts (held)
	release chan struct{} // closed to let it go
}

func newBundleFixture(t *testing.T, wait time.Duration) *bundleFixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := newFixture(t)
	bf := &bundleFixture{f: f, bob: prototest.Key("bob"), held: make(chan struct{}, 16), release: make(chan struct{})}
	bf.w, _ = newStoreWorker(t, f, f.keys[0], worker.Config{BundleWait: wait})
	worker.SetBundleWaitHooks(bf.w, func(base.ChainID, base.ChainID) { bf.waits.Add(1) }, func(s, r base.ChainID) {
		if s == f.chains[0] && r == f.chains[1] {
			bf.held <- struct{}{}
			<-bf.release
		}
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = bf.w.Run(ctx, time.Hour) }()
	for !worker.DeliveryRunning(bf.w) {
		time.Sleep(time.Millisecond)
	}
	t.Cleanup(func() {
		select {
		case <-bf.release:
		default:
			close(bf.release)
		}
		cancel()
		wg.Wait()
	})
	block := f.transfer(base.Tokens(3), 0, nil)
	bf.cert = prototest.Certify(protocol.KindConfirmed, executed(t, bf.w, &block), nil, base.FastRound, f.keys)
	return bf
}

// receive is bob's proposal at height 0 of chain 1 receiving chain 0's bundle at
// height h (the certified one for h = 0).
func (bf *bundleFixture) receive(t *testing.T, h base.BlockHeight) *protocol.BlockProposal {
	t.Helper()
	bundles := bf.cert.Block.OutgoingBundles()[bf.f.chains[1]]
	if len(bundles) != 1 {
		t.Fatalf("certified block sends %d bundles to chain 1", len(bundles))
	}
	b := bundles[0]
	b.Height = h
	o := bf.bob.Public().Owner()
	block := protocol.ProposedBlock{ChainID: bf.f.chains[1], Height: 0, Timestamp: 6_000_000, AuthenticatedOwner: &o,
		Transactions: []protocol.Transaction{protocol.ReceiveTx(protocol.IncomingBundle{Origin: bf.f.chains[0], Bundle: b, Action: protocol.Accept})}}
	return bf.f.propose(t, bf.bob, block, base.FastRound)
}

// confirmHeld handles the certificate and waits until its delivery is held.
func (bf *bundleFixture) confirmHeld(t *testing.T) {
	t.Helper()
	if _, err := bf.w.HandleCertificate(context.Background(), bf.cert); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bf.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery did not start")
	}
}

// A proposal receiving a bundle whose delivery is under way on this validator waits for
// the delivery and is accepted, instead of being refused as missing.
func TestProposalWaitsForBundleOnItsWay(t *testing.T) {
	bf := newBundleFixture(t, time.Minute)
	bf.confirmHeld(t)
	p := bf.receive(t, 0)
	type result struct {
		info *protocol.ChainInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := bf.w.HandleBlockProposal(context.Background(), p)
		done <- result{info, err}
	}()
	// The proposal waits (it is not refused) while the delivery is held...
	deadline := time.After(10 * time.Second)
	for bf.waits.Load() == 0 {
		select {
		case r := <-done:
			t.Fatalf("the proposal did not wait for the bundle on its way: %v", r.err)
		case <-deadline:
			t.Fatal("the proposal never waited")
		case <-time.After(time.Millisecond):
		}
	}
	// ...and is accepted once it is delivered.
	close(bf.release)
	r := <-done
	if r.err != nil {
		t.Fatalf("proposal refused after the delivery: %v", r.err)
	}
	if r.info.Manager.PendingVote == nil {
		t.Fatal("no vote for the proposal after the delivery")
	}
}

// The wait is bounded: a delivery that does not end within Config.BundleWait leaves the
// proposal refused as missing, as before.
func TestBundleWaitIsBounded(t *testing.T) {
	bf := newBundleFixture(t, 20*time.Millisecond)
	bf.confirmHeld(t)
	_, err := bf.w.HandleBlockProposal(context.Background(), bf.receive(t, 0))
	if !chain.IsMissing(err) {
		t.Fatalf("got %v, want a missing bundle", err)
	}
	if bf.waits.Load() == 0 {
		t.Error("the proposal did not wait for the delivery under way")
	}
}

// Attack: a proposal naming bundles that no delivery here will bring is refused at
// once, without waiting: a sender height this validator has not confirmed (while a real
// delivery of the same pair is under way), and bundles from a chain with nothing to
// deliver.
func TestMissingBundleNotOnItsWayIsRefusedAtOnce(t *testing.T) {
	bf := newBundleFixture(t, time.Hour) // a wait would hang the test
	// Nothing pending yet: refused at once.
	if _, err := bf.w.HandleBlockProposal(context.Background(), bf.receive(t, 0)); !chain.IsMissing(err) {
		t.Fatalf("nothing pending: got %v, want a missing bundle", err)
	}
	bf.confirmHeld(t)
	// The pair is being delivered, but height 7 of chain 0 is not confirmed here.
	if _, err := bf.w.HandleBlockProposal(context.Background(), bf.receive(t, 7)); !chain.IsMissing(err) {
		t.Fatalf("fake height: got %v, want a missing bundle", err)
	}
	if n := bf.waits.Load(); n != 0 {
		t.Errorf("%d waits for bundles that are not on their way", n)
	}
}

// A proposal receiving a bundle whose sender's certificate this validator is handling
// right now waits for it (and for the delivery that follows) instead of being refused.
func TestProposalWaitsForCertificateBeingHandled(t *testing.T) {
	bf := newBundleFixture(t, time.Minute)
	close(bf.release) // deliveries go through
	// Hold the certificate's handling before it takes the sender chain's lock to
	// execute it: its second entry, after the one that verified its signatures.
	var entries atomic.Int32
	entered, letGo := make(chan struct{}), make(chan struct{})
	worker.SetAfterEntry(bf.w, func(id base.ChainID) {
		if id == bf.f.chains[0] && entries.Add(1) == 2 {
			close(entered)
			<-letGo
		}
	})
	certDone := make(chan error, 1)
	go func() {
		_, err := bf.w.HandleCertificate(context.Background(), bf.cert)
		certDone <- err
	}()
	<-entered
	proposed := make(chan error, 1)
	go func() {
		_, err := bf.w.HandleBlockProposal(context.Background(), bf.receive(t, 0))
		proposed <- err
	}()
	deadline := time.After(10 * time.Second)
	for bf.waits.Load() == 0 {
		select {
		case err := <-proposed:
			t.Fatalf("the proposal did not wait for the certificate being handled: %v", err)
		case <-deadline:
			t.Fatal("the proposal never waited")
		case <-time.After(time.Millisecond):
		}
	}
	close(letGo)
	if err := <-certDone; err != nil {
		t.Fatal(err)
	}
	if err := <-proposed; err != nil {
		t.Fatalf("proposal refused after the certificate and its delivery: %v", err)
	}
}
