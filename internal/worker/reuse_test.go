package worker_test

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// storeDump returns every key and value of w's store.
func storeDump(t *testing.T, w *worker.Worker) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := w.Storage().DB().Scan(context.Background(), nil, func(k, v []byte) error {
		out[string(k)] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameStores(t *testing.T, what string, a, b *worker.Worker) {
	t.Helper()
	da, db := storeDump(t, a), storeDump(t, b)
	if !maps.Equal(da, db) {
		n := 0
		for k, v := range da {
			if db[k] != v {
				n++
			}
		}
		t.Fatalf("%s: the stores differ (%d and %d keys, %d of the first differ)", what, len(da), len(db), n)
	}
}

// bobTransfer builds bob's block on chain 1 sending amount to chain 0.
func (f *fixture) bobTransfer(amount base.Amount, h base.BlockHeight, prev *base.Hash) protocol.ProposedBlock {
	o := prototest.Key("bob").Public().Owner()
	return protocol.ProposedBlock{ChainID: f.chains[1], Height: h, Timestamp: 4_000_000, PreviousBlockHash: prev, AuthenticatedOwner: &o,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: f.chains[0]}, Amount: amount})}}
}

func vote(t *testing.T, w *worker.Worker, p *protocol.BlockProposal) {
	t.Helper()
	if _, err := w.HandleBlockProposal(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

// executedAgain hands cert to the voter and to the other validator and checks that the
// voter executed it (reused nothing) and ended with the other's store.
func executedAgain(t *testing.T, what string, cert *protocol.Certificate, voter, other *worker.Worker) {
	t.Helper()
	handleAll(t, cert, voter, other)
	if n := worker.ReusedExecutions(voter); n != 0 {
		t.Fatalf("%s: %d executions reused, want 0", what, n)
	}
	sameStores(t, what, voter, other)
}

func handleAll(t *testing.T, cert *protocol.Certificate, ws ...*worker.Worker) {
	t.Helper()
	for i, w := range ws {
		if _, err := w.HandleCertificate(context.Background(), cert); err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
}

// TestConfirmedBlockExecutedOnceAfterVote: a validator that voted for a block applies
// its certificate without executing the block again (with a bundle delivered to the
// chain in between), and its store is then bit-identical to that of a validator that
// did not vote and executed the certificate.
func TestConfirmedBlockExecutedOnceAfterVote(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	voter, other := f.workers[0], f.workers[3]
	bob := f.bobTransfer(base.Tokens(5), 0, nil)
	bobCert := prototest.Certify(protocol.KindConfirmed, executed(t, f.workers[1], &bob), nil, base.FastRound, f.keys)
	handleAll(t, bobCert, voter, other)

	// Alice's block receives nothing yet; bob's bundle reaches chain 0 after the vote.
	block := f.transfer(base.Tokens(1), 0, nil)
	vote(t, voter, f.propose(t, f.alice, block, base.FastRound))
	for _, w := range []*worker.Worker{voter, other} {
		if err := w.DeliverPending(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cert := prototest.Certify(protocol.KindConfirmed, executed(t, f.workers[2], &block), nil, base.FastRound, f.keys)
	handleAll(t, cert, voter, other, f.workers[2])
	if n := worker.ReusedExecutions(voter); n != 1 {
		t.Fatalf("the voter executed the certified block again (%d reused)", n)
	}
	if n := worker.ReusedExecutions(other); n != 0 {
		t.Fatalf("a validator that did not vote reused %d executions", n)
	}
	sameStores(t, "after the first block", voter, other)

	// The next block receives bob's bundle (the inbox part of a reused execution).
	h := cert.Block.Hash()
	next := f.transfer(base.Tokens(2), 1, &h)
	next.Transactions = append(next.Transactions, protocol.Transaction{Bundle: &protocol.IncomingBundle{Origin: f.chains[1], Bundle: bobCert.Block.OutgoingBundles()[f.chains[0]][0], Action: protocol.Accept}})
	vote(t, voter, f.propose(t, f.alice, next, base.FastRound))
	cert2 := prototest.Certify(protocol.KindConfirmed, executed(t, f.workers[2], &next), nil, base.FastRound, f.keys)
	handleAll(t, cert2, voter, other)
	if n := worker.ReusedExecutions(voter); n != 2 {
		t.Fatalf("%d executions reused, want 2", n)
	}
	sameStores(t, "after the block receiving a bundle", voter, other)
	if pendingBundles(t, voter, f.chains[0]) != 0 {
		t.Fatal("the received bundle is still pending")
	}
}

// TestKeptExecutionNotUsedForAnotherBlock: after voting for block A, a certificate for a
// different block B at the same height executes B (the kept A is not applied); then a
// certificate for A is a conflict, and the next height executes as usual.
func TestKeptExecutionNotUsedForAnotherBlock(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	voter, other := f.workers[0], f.workers[3]
	a, certB := f.voteThenAnother(t)
	handleAll(t, certB, voter, other, f.workers[2])
	if n := worker.ReusedExecutions(voter); n != 0 {
		t.Fatalf("a certificate for another block reused the vote's execution (%d)", n)
	}
	sameStores(t, "after the other block", voter, other)

	// The tip moved: the certificate of the block voted for is a conflict now.
	certA := prototest.Certify(protocol.KindConfirmed, executed(t, f.workers[1], &a), nil, base.FastRound, f.keys)
	if _, err := voter.HandleCertificate(ctx, certA); !errors.Is(err, worker.ErrConflictingBlock) {
		t.Fatalf("certificate of the voted block after another was confirmed: %v, want ErrConflictingBlock", err)
	}
	hb := certB.Block.Hash()
	c := f.transfer(base.Tokens(3), 1, &hb)
	certC := prototest.Certify(protocol.KindConfirmed, executed(t, f.workers[2], &c), nil, base.FastRound, f.keys)
	executedAgain(t, "after the next height", certC, voter, other)
}

// TestKeptExecutionAfterFailure: a refusal on the chain after the vote that staged
// nothing keeps the chain's state and the kept execution, which the certificate then
// uses; a failure with changes staged drops both, and the certificate executes.
func TestKeptExecutionAfterFailure(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	voter, other, stager := f.workers[0], f.workers[3], f.workers[2]
	a := f.transfer(base.Tokens(1), 0, nil)
	vote(t, voter, f.propose(t, f.alice, a, base.FastRound))
	prev := base.Hash{1}
	if _, err := voter.HandleBlockProposal(ctx, f.propose(t, f.alice, f.transfer(base.Tokens(1), 3, &prev), base.FastRound)); !errors.Is(err, worker.ErrWrongHeight) {
		t.Fatalf("proposal at a wrong height: %v", err)
	}
	certA := prototest.Certify(protocol.KindConfirmed, executed(t, stager, &a), nil, base.FastRound, f.keys)
	handleAll(t, certA, voter, other, stager)
	if n := worker.ReusedExecutions(voter); n != 1 {
		t.Fatalf("after a refusal: %d executions reused, want 1", n)
	}
	sameStores(t, "after a refusal", voter, other)

	hb := certA.Block.Hash()
	b := f.transfer(base.Tokens(2), 1, &hb)
	vote(t, voter, f.propose(t, f.alice, b, base.FastRound))
	good := executed(t, stager, &b)
	tampered := protocol.NewBlock(good.Proposed, good.Outcome)
	tampered.Outcome.StateHash = base.Hash{0xba, 0xd0}
	tampered = protocol.NewBlock(tampered.Proposed, tampered.Outcome)
	if _, err := voter.HandleCertificate(ctx, prototest.Certify(protocol.KindConfirmed, tampered, nil, base.FastRound, f.keys)); !errors.Is(err, worker.ErrOutcomeMismatch) {
		t.Fatalf("tampered certificate: %v, want ErrOutcomeMismatch", err)
	}
	handleAll(t, prototest.Certify(protocol.KindConfirmed, good, nil, base.FastRound, f.keys), voter, other)
	if n := worker.ReusedExecutions(voter); n != 1 {
		t.Fatalf("after a failure with changes staged: %d executions reused, want still 1", n)
	}
	sameStores(t, "after a failure with changes staged", voter, other)
}

// TestStagedBlockExecutedOnce: a client's local node that staged its block applies the
// block's certificate as staged, and ends with the store of a node that executed it.
func TestStagedBlockExecutedOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	local := attackerNode(t, f.genesis)
	fresh := attackerNode(t, f.genesis)
	block := f.transfer(base.Tokens(1), 0, nil)
	staged := executed(t, local, &block)
	// A failed staging of another block in between (which keeps the state and the kept
	// execution: it staged nothing on the chain's state), then the block staged again.
	if _, err := local.StageBlock(ctx, ptr(f.transfer(base.Tokens(1000), 0, nil)), nil); err == nil {
		t.Fatal("overdraft staged")
	}
	executed(t, local, &block)
	cert := prototest.Certify(protocol.KindConfirmed, staged, nil, base.FastRound, f.keys)
	if _, err := local.HandleVerifiedCertificate(ctx, cert, prototest.Committee(f.keys)); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.HandleCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	if n := worker.ReusedExecutions(local); n != 1 {
		t.Fatalf("%d staged executions reused, want 1", n)
	}
	sameStores(t, "after the certificate", local, fresh)
}

func ptr[T any](v T) *T { return &v }

// TestVerifiedCertificateEntryPoint: HandleVerifiedCertificate skips the signature check
// only for the committee the chain trusts for the block's epoch, and only for confirmed
// certificates; HandleCertificate always checks.
func TestVerifiedCertificateEntryPoint(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	block := f.transfer(base.Tokens(1), 0, nil)
	good := prototest.Certify(protocol.KindConfirmed, executed(t, f.workers[1], &block), nil, base.FastRound, f.keys)
	forged := *good
	forged.Signatures = append([]protocol.ValidatorSignature(nil), good.Signatures...)
	sig := forged.Signatures[0].Signature.Bytes()
	sig[0] ^= 1
	var err error
	if forged.Signatures[0].Signature, err = crypto.NewSignature(forged.Signatures[0].Signature.Scheme(), sig); err != nil {
		t.Fatal(err)
	}
	trusted := prototest.Committee(f.keys)
	strangers := prototest.Committee(prototest.Validators(5))

	w := f.workers[0]
	if _, err := w.HandleCertificate(ctx, &forged); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("HandleCertificate accepted a forged signature: %v", err)
	}
	if _, err := w.HandleVerifiedCertificate(ctx, &forged, strangers); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("a certificate verified against another committee was not checked: %v", err)
	}
	timeout := prototest.Certify(protocol.KindTimeout, nil, &protocol.Timeout{ChainID: f.chains[0]}, base.FastRound, f.keys)
	if _, err := w.HandleVerifiedCertificate(ctx, timeout, trusted); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("a timeout certificate through the verified entry point: %v", err)
	}
	// The caller's word for it, against the trusted committee: the signatures are not
	// verified again (this is the entry point's contract, hence for own certificates only).
	if _, err := w.HandleVerifiedCertificate(ctx, &forged, trusted); err != nil {
		t.Fatalf("verified certificate refused: %v", err)
	}
}
