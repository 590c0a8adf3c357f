package worker_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

type fixedClock struct{ t base.Timestamp }

func (c fixedClock) Now() base.Timestamp { return c.t }

type fixture struct {
	keys    []*crypto.PrivateKey
	genesis *protocol.GenesisConfig
	workers []*worker.Worker
	chains  []base.ChainID
	alice   *crypto.PrivateKey
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{keys: prototest.Validators(4), alice: prototest.Key("alice")}
	f.genesis = prototest.Genesis(prototest.Committee(f.keys), []*crypto.PrivateKey{f.alice, prototest.Key("bob")}, base.Tokens(100))
	f.chains = f.genesis.ChainIDs()
	for _, k := range f.keys {
		db := memkv.New()
		t.Cleanup(func() { _ = db.Close() })
		st := storage.New(db)
		var b kv.Batch
		storage.PutGenesis(&b, f.genesis)
		if err := st.Write(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		f.workers = append(f.workers, worker.New(worker.Config{Storage: st, Signer: k, Clock: fixedClock{10_000_000}}))
	}
	return f
}

// transfer builds alice's fresh proposal of a transfer at height h.
func (f *fixture) transfer(amount base.Amount, h base.BlockHeight, prev *base.Hash) protocol.ProposedBlock {
	o := f.alice.Public().Owner()
	return protocol.ProposedBlock{ChainID: f.chains[0], Height: h, Timestamp: 5_000_000, PreviousBlockHash: prev, AuthenticatedOwner: &o,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: f.chains[1]}, Amount: amount})}}
}

func (f *fixture) propose(t *testing.T, signer crypto.Signer, b protocol.ProposedBlock, round base.Round) *protocol.BlockProposal {
	t.Helper()
	p, err := protocol.SignProposal(signer, b, round, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshot is what must not change when a request is refused.
func snapshot(t *testing.T, w *worker.Worker, id base.ChainID) string {
	t.Helper()
	info, err := w.HandleChainInfoQuery(context.Background(), &protocol.ChainInfoQuery{ChainID: id, RequestManagerValues: true, RequestPendingBundles: true})
	if err != nil {
		t.Fatal(err)
	}
	return string(codec.Marshal(info))
}

func TestBadInputIsRefusedWithoutChange(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	w := f.workers[0]
	good := f.propose(t, f.alice, f.transfer(base.Tokens(1), 0, nil), base.FastRound)
	badSig := *good
	sig := good.Signature.Bytes()
	sig[0] ^= 1
	var err error
	if badSig.Signature, err = crypto.NewSignature(good.Signature.Scheme(), sig); err != nil {
		t.Fatal(err)
	}
	mallory := prototest.Key("mallory")
	unknown := f.transfer(base.Tokens(1), 0, nil)
	unknown.ChainID = base.ChainID{0xee}
	prev := base.Hash{1}

	cases := []struct {
		name string
		p    *protocol.BlockProposal
		want error
	}{
		{"bad signature", &badSig, base.ErrInvalid},
		{"signed by a non-owner", f.propose(t, mallory, withOwner(f.transfer(base.Tokens(1), 0, nil), mallory), base.FastRound), consensus.ErrNotAllowedToPropose},
		{"wrong height", f.propose(t, f.alice, f.transfer(base.Tokens(1), 3, &prev), base.FastRound), worker.ErrWrongHeight},
		{"unknown chain", f.propose(t, f.alice, unknown, base.FastRound), worker.ErrUnknownChain},
		{"overdraft", f.propose(t, f.alice, f.transfer(base.Tokens(101), 0, nil), base.FastRound), execution.ErrInsufficientBalance},
		{"maximal amount", f.propose(t, f.alice, f.transfer(base.MaxAmount, 0, nil), base.FastRound), execution.ErrInsufficientBalance},
		{"zero amount", f.propose(t, f.alice, f.transfer(base.ZeroAmount, 0, nil), base.FastRound), base.ErrInvalid},
		{"empty block", f.propose(t, f.alice, emptied(f.transfer(base.Tokens(1), 0, nil)), base.FastRound), base.ErrInvalid},
		{"timestamp far in the future", f.propose(t, f.alice, future(f.transfer(base.Tokens(1), 0, nil)), base.FastRound), worker.ErrInvalidTimestamp},
	}
	before := snapshot(t, w, f.chains[0])
	for _, c := range cases {
		_, err := w.HandleBlockProposal(ctx, c.p)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if err != nil && err.Error() == "" {
			t.Errorf("%s: empty error message", c.name)
		}
		if after := snapshot(t, w, f.chains[0]); after != before {
			t.Errorf("%s: the refused proposal changed the chain", c.name)
		}
	}
	// A nil proposal is a programming error upstream; it must be an error, not a crash.
	if _, err := w.HandleBlockProposal(ctx, nil); err == nil {
		t.Error("nil proposal accepted")
	}
	// Malformed bytes never decode into a proposal.
	raw := codec.Marshal(good)
	for _, b := range [][]byte{nil, {0xff}, raw[:len(raw)/2], append(append([]byte(nil), raw...), 0)} {
		var p protocol.BlockProposal
		if err := codec.Unmarshal(b, &p); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("malformed bytes (%d) decoded: %v", len(b), err)
		}
	}
	// Amounts that overflow are refused where they are parsed and where they are added.
	if _, err := base.ParseAmount("340282366920938463464"); !errors.Is(err, base.ErrInvalid) {
		t.Errorf("overflowing amount parsed: %v", err)
	}
	if _, err := base.MaxAmount.Add(base.OneToken); !errors.Is(err, base.ErrAmountOverflow) {
		t.Errorf("overflowing addition: %v", err)
	}
	// The good proposal still works afterwards.
	if _, err := w.HandleBlockProposal(ctx, good); err != nil {
		t.Fatalf("valid proposal after refusals: %v", err)
	}
}

func withOwner(b protocol.ProposedBlock, k *crypto.PrivateKey) protocol.ProposedBlock {
	o := k.Public().Owner()
	b.AuthenticatedOwner = &o
	return b
}

func emptied(b protocol.ProposedBlock) protocol.ProposedBlock { b.Transactions = nil; return b }

func future(b protocol.ProposedBlock) protocol.ProposedBlock { b.Timestamp = 999_000_000_000; return b }

// executed returns the block a proposal produces, as the client would stage it.
func executed(t *testing.T, w *worker.Worker, p *protocol.ProposedBlock) *protocol.Block {
	t.Helper()
	b, err := w.StageBlock(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFastRoundCommitsWithThreeOfFour(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	block := f.transfer(base.Tokens(1), 0, nil)
	p := f.propose(t, f.alice, block, base.FastRound)
	var votes []protocol.Vote
	for _, w := range f.workers[:3] { // validator 3 is down
		info, err := w.HandleBlockProposal(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		v := info.Manager.PendingVote
		if v == nil || v.Value.Kind != protocol.KindConfirmed || !v.Round.IsFast() {
			t.Fatalf("fast proposal got vote %+v, want a confirmed vote in the fast round", v)
		}
		votes = append(votes, *v)
	}
	b := executed(t, f.workers[0], &block)
	cert := protocol.CertificateFromVotes(protocol.KindConfirmed, b, nil, base.FastRound, votes)
	if err := cert.Check(prototest.Committee(f.keys)); err != nil {
		t.Fatalf("3 of 4 fast votes do not certify: %v", err)
	}
	for i, w := range f.workers {
		if _, err := w.HandleCertificate(ctx, cert); err != nil {
			t.Fatalf("validator %d refused the certificate: %v", i, err)
		}
	}

	// A second, different fast proposal at the next height after a vote for a first
	// one gets no quorum: every validator that voted refuses it.
	h := b.Hash()
	first := f.propose(t, f.alice, f.transfer(base.Tokens(2), 1, &h), base.FastRound)
	second := f.propose(t, f.alice, f.transfer(base.Tokens(3), 1, &h), base.FastRound)
	for _, w := range f.workers {
		if _, err := w.HandleBlockProposal(ctx, first); err != nil {
			t.Fatal(err)
		}
	}
	var weight int
	for i, w := range f.workers {
		info, err := w.HandleBlockProposal(ctx, second)
		if err == nil {
			if v := info.Manager.PendingVote; v != nil && v.Value.ValueHash == executed(t, w, &second.Content.Block).Hash() {
				weight++
			}
			continue
		}
		if !errors.Is(err, consensus.ErrIncompatibleConfirmedVote) && !errors.Is(err, base.ErrInvalid) {
			t.Errorf("validator %d: unexpected error %v", i, err)
		}
	}
	if weight >= 3 {
		t.Fatalf("second fast proposal got %d votes", weight)
	}
}

// TestVotePersistedBeforeReply restarts a validator after it voted and checks that it
// does not vote for a different fast block at the same height.
func TestVotePersistedBeforeReply(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	db := memkv.New()
	defer db.Close()
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, f.genesis)
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	w := worker.New(worker.Config{Storage: st, Signer: f.keys[0], Clock: fixedClock{10_000_000}})
	if _, err := w.HandleBlockProposal(ctx, f.propose(t, f.alice, f.transfer(base.Tokens(1), 0, nil), base.FastRound)); err != nil {
		t.Fatal(err)
	}
	restarted := worker.New(worker.Config{Storage: storage.New(db), Signer: f.keys[0], Clock: fixedClock{10_000_000}})
	_, err := restarted.HandleBlockProposal(ctx, f.propose(t, f.alice, f.transfer(base.Tokens(2), 0, nil), base.FastRound))
	if !errors.Is(err, consensus.ErrIncompatibleConfirmedVote) && !errors.Is(err, consensus.ErrNotNewerThanLock) {
		t.Fatalf("restarted validator: got %v, want a refusal by the consensus rules", err)
	}
}

// TestConcurrentChains hammers different chains and one chain concurrently under the
// race detector.
func TestConcurrentChains(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	w := f.workers[0]
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if _, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: f.chains[j%2], RequestPendingBundles: true}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		p := f.propose(t, f.alice, f.transfer(base.Tokens(1), 0, nil), base.FastRound)
		if _, err := w.HandleBlockProposal(ctx, p); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
}

// TestDeliveryResumesAfterRestart confirms a cross-chain transfer on a validator whose
// worker stops before delivering, and checks a new worker on the same store delivers it.
func TestDeliveryResumesAfterRestart(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	db := memkv.New()
	defer db.Close()
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, f.genesis)
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	w := worker.New(worker.Config{Storage: st, Signer: f.keys[0], Clock: fixedClock{10_000_000}})
	block := f.transfer(base.Tokens(4), 0, nil)
	exec := executed(t, w, &block)
	cert := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, f.keys)
	if _, err := w.HandleCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	// Crash before DeliverPending; restart on the same store.
	restarted := worker.New(worker.Config{Storage: storage.New(db), Signer: f.keys[0], Clock: fixedClock{10_000_000}})
	if err := restarted.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := restarted.DeliverPending(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := restarted.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: f.chains[1], RequestPendingBundles: true})
	if err != nil || len(info.RequestedPendingBundles) != 1 {
		t.Fatalf("bundle not delivered after restart: %v %v", info, err)
	}
	// Once confirmed, nothing is left to recover.
	again := worker.New(worker.Config{Storage: storage.New(db), Signer: f.keys[0], Clock: fixedClock{10_000_000}})
	if err := again.Recover(ctx); err != nil || again.HasPendingDeliveries() {
		t.Fatalf("delivery still recorded after confirmation: %v", err)
	}
}
