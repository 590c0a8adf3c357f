package worker_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// attackerNode is a node the attacker runs for itself, with whatever blobs it likes in
// its confirmed area: it stages the attacker's blocks.
func attackerNode(t *testing.T, g *protocol.GenesisConfig, blobs ...protocol.Blob) *worker.Worker {
	t.Helper()
	db := memkv.New()
	t.Cleanup(func() { _ = db.Close() })
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, g)
	for i := range blobs {
		storage.PutBlob(&b, &blobs[i])
	}
	if err := st.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return worker.New(worker.Config{Storage: st, Clock: fixedClock{10_000_000}})
}

// pendingBundles returns the bundles waiting in a chain's inbox on w.
func pendingBundles(t *testing.T, w *worker.Worker, id base.ChainID) int {
	t.Helper()
	info, err := w.HandleChainInfoQuery(context.Background(), &protocol.ChainInfoQuery{ChainID: id, RequestPendingBundles: true})
	if err != nil {
		t.Fatal(err)
	}
	return len(info.RequestedPendingBundles)
}

// TestAttackMintViaUploadedDescription: an attacker uploads a description of a chain it
// owns with a huge balance and proposes a transfer from it to a real chain. No validator
// may learn the chain, vote, or credit the real chain's inbox.
func TestAttackMintViaUploadedDescription(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	mallory := prototest.Key("mallory")
	desc := protocol.ChainDescription{
		Origin:     protocol.ChainOrigin{IsChild: true, Parent: f.chains[0], Height: 77},
		Timestamp:  1_000_000,
		AdminChain: f.genesis.AdminChainID(),
		Committees: []protocol.EpochCommittee{{Epoch: 0, CommitteeHash: f.genesis.Committee.Hash()}},
		Config:     protocol.InitialChainConfig{Ownership: protocol.SingleSuperOwner(mallory.Public().Owner()), Balance: base.Tokens(1_000_000)},
	}
	fake := desc.ID()
	for i, w := range f.workers {
		if err := w.HandleBlob(ctx, desc.Blob()); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("validator %d: unsolicited description upload: got %v, want a refusal", i, err)
		}
	}
	o := mallory.Public().Owner()
	block := protocol.ProposedBlock{ChainID: fake, Height: 0, Timestamp: 5_000_000, AuthenticatedOwner: &o,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: f.chains[1]}, Amount: base.Tokens(500_000)})}}
	p := f.propose(t, mallory, block, base.FastRound)
	var votes []protocol.Vote
	for i, w := range f.workers {
		info, err := w.HandleBlockProposal(ctx, p)
		if err == nil && info.Manager.PendingVote != nil {
			t.Errorf("validator %d voted for a block of a chain nobody created", i)
			votes = append(votes, *info.Manager.PendingVote)
		}
	}
	if len(votes) >= 3 {
		exec := executed(t, attackerNode(t, f.genesis, desc.Blob()), &block)
		cert := protocol.CertificateFromVotes(protocol.KindConfirmed, exec, nil, base.FastRound, votes)
		if _, err := f.workers[0].HandleCertificate(ctx, cert); err != nil {
			t.Fatal(err)
		}
		if err := f.workers[0].DeliverPending(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := pendingBundles(t, f.workers[0], f.chains[1]); n != 0 {
		t.Fatalf("minted tokens reached a real chain's inbox (%d bundles)", n)
	}
}

// TestAttackImpersonationViaUploadedCommittee: an attacker uploads a committee of its own
// keys and a description trusting it, certifies a block with AuthenticatedOwner set to
// the victim, and claims from the victim's chain.
func TestAttackImpersonationViaUploadedCommittee(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	evilKeys := []*crypto.PrivateKey{prototest.Key("evil")}
	evil := prototest.Committee(evilKeys)
	mallory := prototest.Key("mallory")
	desc := protocol.ChainDescription{
		Origin:     protocol.ChainOrigin{IsChild: true, Parent: f.chains[0], Height: 99},
		Timestamp:  1_000_000,
		AdminChain: f.genesis.AdminChainID(),
		Committees: []protocol.EpochCommittee{{Epoch: 0, CommitteeHash: evil.Hash()}},
		Config:     protocol.InitialChainConfig{Ownership: protocol.SingleSuperOwner(mallory.Public().Owner())},
	}
	w := f.workers[0]
	for _, b := range []protocol.Blob{evil.Blob(), desc.Blob()} {
		if err := w.HandleBlob(ctx, b); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("unsolicited %s upload: got %v, want a refusal", b.Type, err)
		}
	}
	victim := f.alice.Public().Owner()
	block := protocol.ProposedBlock{ChainID: desc.ID(), Height: 0, Timestamp: 5_000_000, AuthenticatedOwner: &victim,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Claim{Owner: victim, Target: f.chains[0], Recipient: base.Account{Chain: desc.ID()}, Amount: base.Tokens(50)})}}
	exec := executed(t, attackerNode(t, f.genesis, evil.Blob(), desc.Blob()), &block)
	cert := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, evilKeys)
	if _, err := w.HandleCertificate(ctx, cert); err == nil {
		t.Error("validator accepted a certificate signed by an uploaded committee")
	}
	if err := w.DeliverPending(ctx); err != nil {
		t.Fatal(err)
	}
	if n := pendingBundles(t, w, f.chains[0]); n != 0 {
		t.Fatalf("an impersonated claim reached the victim's inbox (%d bundles)", n)
	}
}

// TestAttackUnknownChainQueriesDoNotGrowMap queries 100,000 random chain ids: none may
// stay in the map of loaded chains.
func TestAttackUnknownChainQueriesDoNotGrowMap(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	w := f.workers[0]
	for i := 0; i < 100_000; i++ {
		var id base.ChainID
		id[0], id[1], id[2], id[3] = 0xfe, byte(i>>16), byte(i>>8), byte(i)
		if _, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id}); !errors.Is(err, worker.ErrUnknownChain) {
			t.Fatalf("query %d: got %v, want ErrUnknownChain", i, err)
		}
	}
	if n := w.LoadedChains(); n > 0 {
		t.Fatalf("%d entries left in the chain map by queries for unknown chains", n)
	}
}

// TestAttackUnsolicitedBlobRefused: a blob nobody asked for is refused and not stored,
// in either area.
func TestAttackUnsolicitedBlobRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	w := f.workers[0]
	blob := protocol.NewBlob(base.BlobData, bytes.Repeat([]byte("junk"), 1000))
	if err := w.HandleBlob(ctx, blob); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("unsolicited blob: got %v, want a refusal of class ErrInvalid", err)
	}
	if _, err := w.ReadBlob(ctx, blob.ID()); !base.IsNotFound(err) {
		t.Fatalf("unsolicited blob stored: %v", err)
	}
	if n, _, err := w.Storage().PendingStats(ctx); err != nil || n != 0 {
		t.Fatalf("unsolicited blob pending: %d %v", n, err)
	}
}

// publishBlock is alice's block at height 0 publishing the blobs.
func (f *fixture) publishBlock(blobs ...protocol.Blob) protocol.ProposedBlock {
	b := f.transfer(base.Tokens(1), 0, nil)
	for _, blob := range blobs {
		b.Transactions = append(b.Transactions, protocol.SystemTx(&protocol.PublishDataBlob{Hash: blob.ID().Hash}))
	}
	return b
}

// TestAttackProposalBlobsStayPending: a proposal's blobs are not confirmed by the vote;
// the confirmed certificate confirms them, and a lagging validator accepts the upload of
// a blob only after the verified certificate asked for it.
func TestAttackProposalBlobsStayPending(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	blob := protocol.NewBlob(base.BlobData, []byte("published data"))
	block := f.publishBlock(blob)
	p, err := protocol.SignProposal(f.alice, block, base.FastRound, []protocol.Blob{blob})
	if err != nil {
		t.Fatal(err)
	}
	var votes []protocol.Vote
	for _, w := range f.workers[:3] {
		info, err := w.HandleBlockProposal(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		votes = append(votes, *info.Manager.PendingVote)
		if _, err := w.ReadBlob(ctx, blob.ID()); !base.IsNotFound(err) {
			t.Fatalf("a proposal's blob was confirmed before its block: %v", err)
		}
	}
	exec, err := f.workers[0].StageBlock(ctx, &block, []protocol.Blob{blob})
	if err != nil {
		t.Fatal(err)
	}
	cert := protocol.CertificateFromVotes(protocol.KindConfirmed, exec, nil, base.FastRound, votes)
	for _, w := range f.workers[:3] {
		if _, err := w.HandleCertificate(ctx, cert); err != nil {
			t.Fatal(err)
		}
		if _, err := w.ReadBlob(ctx, blob.ID()); err != nil {
			t.Fatalf("published blob not confirmed with its certificate: %v", err)
		}
		if n, _, err := w.Storage().PendingStats(ctx); err != nil || n != 0 {
			t.Fatalf("confirmed blob still pending: %d %v", n, err)
		}
	}
	// Validator 3 never saw the proposal: the blob is refused until the certificate asks.
	lag := f.workers[3]
	if err := lag.HandleBlob(ctx, blob); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("blob accepted before any certificate needed it: %v", err)
	}
	_, err = lag.HandleCertificate(ctx, cert)
	if nf, ok := errors.AsType[*worker.BlobsNotFoundError](err); !ok || !nf.Has(blob.ID()) || !errors.Is(err, worker.ErrBlobsNotFound) || !errors.Is(err, base.ErrNotFound) {
		t.Fatalf("got %v, want ErrBlobsNotFound naming %s", err, blob.ID())
	}
	if want := "not found: blobs not found: blob " + blob.ID().String(); err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	if err := lag.HandleBlob(ctx, blob); err != nil {
		t.Fatalf("wanted blob refused: %v", err)
	}
	if _, err := lag.HandleCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	if _, err := lag.ReadBlob(ctx, blob.ID()); err != nil {
		t.Fatal(err)
	}
}

// TestAttackOversizeProposalRefused: a proposal past the policy's MaxBlockSize gets no
// vote (each blob is within MaxBlobSize).
func TestAttackOversizeProposalRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var blobs []protocol.Blob
	for i := 0; i < 3; i++ {
		blobs = append(blobs, protocol.NewBlob(base.BlobData, bytes.Repeat([]byte{byte(i + 1)}, 6<<20)))
	}
	p, err := protocol.SignProposal(f.alice, f.publishBlock(blobs...), base.FastRound, blobs)
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.workers[0].HandleBlockProposal(ctx, p)
	if !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("18 MB proposal: got %v (vote %v), want a refusal", err, info != nil && info.Manager.PendingVote != nil)
	}
	if n, _, err := f.workers[0].Storage().PendingStats(ctx); err != nil || n != 0 {
		t.Fatalf("refused proposal left %d pending blobs (%v)", n, err)
	}
}

// levelRecorder records the highest level logged.
type levelRecorder struct {
	mu  sync.Mutex
	max slog.Level
	n   int
}

func (r *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *levelRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 || rec.Level > r.max {
		r.max = rec.Level
	}
	r.n++
	return nil
}
func (r *levelRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *levelRecorder) WithGroup(string) slog.Handler      { return r }

// TestAttackUnsignedCertificateForExecutedHeight: a certificate without signatures for
// an executed height is invalid, not a data-loss alarm.
func TestAttackUnsignedCertificateForExecutedHeight(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rec := &levelRecorder{}
	st := f.workers[0].Storage()
	w := worker.New(worker.Config{Storage: st, Signer: f.keys[0], Clock: fixedClock{10_000_000}, Logger: slog.New(rec)})
	block := f.transfer(base.Tokens(1), 0, nil)
	cert := prototest.Certify(protocol.KindConfirmed, executed(t, w, &block), nil, base.FastRound, f.keys)
	if _, err := w.HandleCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	other := f.transfer(base.Tokens(2), 0, nil)
	forged := prototest.Certify(protocol.KindConfirmed, executed(t, f.workers[1], &other), nil, base.FastRound, nil)
	_, err := w.HandleCertificate(ctx, forged)
	if !errors.Is(err, base.ErrInvalid) || errors.Is(err, base.ErrCorrupt) {
		t.Fatalf("unsigned conflicting certificate: got %v, want ErrInvalid", err)
	}
	if rec.n > 0 && rec.max >= slog.LevelError {
		t.Fatal("an unsigned certificate raised an ERROR log")
	}
	// A verified conflicting certificate is still the alarm.
	real := prototest.Certify(protocol.KindConfirmed, executed(t, f.workers[1], &other), nil, base.FastRound, f.keys)
	if _, err := w.HandleCertificate(ctx, real); !errors.Is(err, worker.ErrConflictingBlock) {
		t.Fatalf("verified conflicting certificate: got %v, want ErrConflictingBlock", err)
	}
}

// TestAttackPreviousHashMismatchRefused: a confirmed block whose previous_block_hash is
// not the chain's last block is not executed.
func TestAttackPreviousHashMismatchRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	w := f.workers[0]
	b0 := f.transfer(base.Tokens(1), 0, nil)
	if _, err := w.HandleCertificate(ctx, prototest.Certify(protocol.KindConfirmed, executed(t, w, &b0), nil, base.FastRound, f.keys)); err != nil {
		t.Fatal(err)
	}
	wrong := base.Hash{0xba, 0xd}
	b1 := f.transfer(base.Tokens(1), 1, &wrong)
	cert := prototest.Certify(protocol.KindConfirmed, executed(t, w, &b1), nil, base.FastRound, f.keys)
	if _, err := w.HandleCertificate(ctx, cert); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("block with a wrong previous hash: got %v, want ErrInvalid", err)
	}
	tip, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: f.chains[0]})
	if err != nil || tip.NextBlockHeight != 1 {
		t.Fatalf("chain moved past the refused block: %v %v", tip, err)
	}
}

// TestAttackTimeoutFromOldEpochRefused: a chain in epoch 1 that still trusts epoch 0
// accepts timeout certificates only for epoch 1.
func TestAttackTimeoutFromOldEpochRefused(t *testing.T) {
	ctx := context.Background()
	keys := prototest.Validators(4)
	old := prototest.Committee(keys)
	cur := prototest.Committee(keys)
	cur.Policy.MaxPublishedBlobs++ // a different committee blob for epoch 1
	alice := prototest.Key("alice")
	own := protocol.MultiOwner([]base.Owner{alice.Public().Owner(), prototest.Key("bob").Public().Owner()}, 0)
	desc := protocol.ChainDescription{
		Timestamp:  1_000_000,
		Committees: []protocol.EpochCommittee{{Epoch: 0, CommitteeHash: old.Hash()}, {Epoch: 1, CommitteeHash: cur.Hash()}},
		Config:     protocol.InitialChainConfig{Ownership: own, Epoch: 1, Balance: base.Tokens(10)},
	}
	// The test plays genesis: it writes the chain's description and committees.
	db := memkv.New()
	t.Cleanup(func() { _ = db.Close() })
	st := storage.New(db)
	var b kv.Batch
	for _, blob := range []protocol.Blob{old.Blob(), cur.Blob(), desc.Blob()} {
		storage.PutBlob(&b, &blob)
	}
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	w := worker.New(worker.Config{Storage: st, Signer: keys[0], Clock: fixedClock{10_000_000}})
	id := desc.ID()
	before, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
	if err != nil {
		t.Fatal(err)
	}
	cert := prototest.Certify(protocol.KindTimeout, nil, &protocol.Timeout{ChainID: id, Height: 0, Epoch: 0}, before.Manager.CurrentRound, keys)
	if _, err := w.HandleCertificate(ctx, cert); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("timeout certificate of an old epoch: got %v, want ErrInvalid", err)
	}
	after, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
	if err != nil {
		t.Fatal(err)
	}
	if after.Manager.CurrentRound != before.Manager.CurrentRound {
		t.Fatalf("an old epoch's timeout moved the round from %v to %v", before.Manager.CurrentRound, after.Manager.CurrentRound)
	}
	// The current epoch's timeout is accepted.
	cert = prototest.Certify(protocol.KindTimeout, nil, &protocol.Timeout{ChainID: id, Height: 0, Epoch: 1}, before.Manager.CurrentRound, keys)
	if _, err := w.HandleCertificate(ctx, cert); err != nil {
		t.Fatalf("current epoch's timeout: %v", err)
	}
}

// TestAttackNonMemberRefusesToVote: a validator whose key is not in the committee of the
// block's epoch does not vote and persists nothing.
func TestAttackNonMemberRefusesToVote(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	st := storage.New(memkv.New())
	var b kv.Batch
	storage.PutGenesis(&b, f.genesis)
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	outsider := worker.New(worker.Config{Storage: st, Signer: prototest.Key("outsider"), Clock: fixedClock{10_000_000}})
	block := f.transfer(base.Tokens(1), 0, nil)
	_, err := outsider.HandleBlockProposal(ctx, f.propose(t, f.alice, block, base.FastRound))
	if !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("non-member proposal handling: got %v, want a refusal", err)
	}
	info, err := outsider.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: f.chains[0], RequestManagerValues: true})
	if err != nil {
		t.Fatal(err)
	}
	if info.Manager.PendingVote != nil {
		t.Fatal("a non-member persisted a vote")
	}
	// Validated certificates get no vote either.
	exec := executed(t, outsider, &block)
	cert := prototest.Certify(protocol.KindValidated, exec, nil, base.SingleLeader(0), f.keys)
	if _, err := outsider.HandleCertificate(ctx, cert); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("non-member validated certificate: got %v, want a refusal", err)
	}
}

// TestPreprocessLearnsChildChain: a node behind on a parent chain learns the child chain
// from the verified certificate of the parent's block that opened it, without executing
// the parent up to it; a forged certificate teaches it nothing.
func TestPreprocessLearnsChildChain(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v := f.workers[0]
	b0 := f.transfer(base.Tokens(1), 0, nil)
	c0 := prototest.Certify(protocol.KindConfirmed, executed(t, v, &b0), nil, base.FastRound, f.keys)
	if _, err := v.HandleCertificate(ctx, c0); err != nil {
		t.Fatal(err)
	}
	h := c0.Block.Hash()
	o := f.alice.Public().Owner()
	b1 := protocol.ProposedBlock{ChainID: f.chains[0], Height: 1, Timestamp: 6_000_000, PreviousBlockHash: &h, AuthenticatedOwner: &o,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.OpenChain{Ownership: protocol.SingleSuperOwner(o), Balance: base.Tokens(5)})}}
	exec1 := executed(t, v, &b1)
	created := exec1.CreatedBlobs()
	if len(created) != 1 || created[0].Type != base.BlobChainDescription {
		t.Fatalf("open chain created %v", created)
	}
	child := base.ChainID(created[0].ID().Hash)

	local := attackerNode(t, f.genesis) // a client's local node that never saw block 0
	forged := prototest.Certify(protocol.KindConfirmed, exec1, nil, base.FastRound, []*crypto.PrivateKey{prototest.Key("mallory")})
	if _, err := local.HandleCertificate(ctx, forged); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("forged certificate ahead of the tip: got %v, want ErrInvalid", err)
	}
	if err := local.ChainState(ctx, child, func(*chain.State) error { return nil }); !errors.Is(err, worker.ErrUnknownChain) {
		t.Fatalf("a forged certificate created the child chain: %v", err)
	}
	cert := prototest.Certify(protocol.KindConfirmed, exec1, nil, base.FastRound, f.keys)
	if _, err := local.HandleCertificate(ctx, cert); !errors.Is(err, worker.ErrMissingEarlierBlocks) {
		t.Fatalf("certificate ahead of the tip: got %v, want ErrMissingEarlierBlocks", err)
	}
	var bal base.Amount
	if err := local.ChainState(ctx, child, func(s *chain.State) error {
		var err error
		bal, err = s.Execution().ChainBalance(ctx)
		return err
	}); err != nil {
		t.Fatalf("child chain not learnt from its creating certificate: %v", err)
	}
	if bal != base.Tokens(5) {
		t.Fatalf("child balance %v", bal)
	}
}
