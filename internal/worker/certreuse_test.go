package worker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// decodeAndHandle decodes the encoded certificate b with w's DecodeCertificate, hands
// it to w with its bytes, and returns the number of held-block decodes it made.
func decodeAndHandle(t *testing.T, w *worker.Worker, b []byte) uint64 {
	t.Helper()
	before := w.HeldBlockDecodes()
	c, err := w.DecodeCertificate(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.HandleEncodedCertificate(context.Background(), c, b); err != nil {
		t.Fatal(err)
	}
	return w.HeldBlockDecodes() - before
}

// TestCertificateDecodedWithVotedBlock: a validator that voted for a block decodes its
// certificate with the block it holds, refuses a non-canonical encoding of the same
// block as before, applies the certificate without executing it again and ends with the
// store of a validator that did not vote (which decoded it in full, as the certificate
// arrived before any vote of its own); the block is then no longer held.
func TestCertificateDecodedWithVotedBlock(t *testing.T) {
	f := newFixture(t)
	voter, other := f.workers[0], f.workers[3]
	block := f.transfer(base.Tokens(1), 0, nil)
	vote(t, voter, f.propose(t, f.alice, block, base.FastRound))
	cert := prototest.Certify(protocol.KindConfirmed, executed(t, f.workers[2], &block), nil, base.FastRound, f.keys)
	b := codec.Marshal(cert)

	bad := prototest.NonMinimalAt(b, prototest.TransactionCountAt(cert.Block))
	if _, err := voter.DecodeCertificate(bad); err == nil {
		t.Fatal("a non-canonical encoding of the voted block was accepted")
	}
	if n := decodeAndHandle(t, other, b); n != 0 {
		t.Fatalf("a validator that holds no block decoded %d certificates with one", n)
	}
	if n := decodeAndHandle(t, voter, b); n != 1 {
		t.Fatalf("the voter decoded the certificate of its block with %d held blocks, want 1", n)
	}
	if n := worker.ReusedExecutions(voter); n != 1 {
		t.Fatalf("%d executions reused, want 1", n)
	}
	sameStores(t, "after the certificate", voter, other)
	if n := decodeAndHandle(t, voter, b); n != 0 {
		t.Fatalf("the block is still held after its certificate (%d)", n)
	}
}

// voteThenAnother makes validator 0 vote for alice's block A at height 0 and returns A
// with the certificate of another block B at that height (executed by validator 2).
func (f *fixture) voteThenAnother(t *testing.T) (protocol.ProposedBlock, *protocol.Certificate) {
	t.Helper()
	a := f.transfer(base.Tokens(1), 0, nil)
	vote(t, f.workers[0], f.propose(t, f.alice, a, base.FastRound))
	b := f.transfer(base.Tokens(7), 0, nil)
	return a, prototest.Certify(protocol.KindConfirmed, executed(t, f.workers[2], &b), nil, base.FastRound, f.keys)
}

// TestCertificateOfAnotherBlockDecodedInFull: after voting for block A, the certificate
// of block B at the same height, and then of an earlier height after the next vote, are
// decoded in full and handled as before (B executed; the earlier block already
// executed), with the store of a validator that did not vote.
func TestCertificateOfAnotherBlockDecodedInFull(t *testing.T) {
	f := newFixture(t)
	voter, other := f.workers[0], f.workers[3]
	a, certB := f.voteThenAnother(t)
	encB := codec.Marshal(certB)
	for _, w := range []*worker.Worker{voter, other} {
		if n := decodeAndHandle(t, w, encB); n != 0 {
			t.Fatalf("the certificate of another block was decoded with the held one (%d)", n)
		}
	}
	sameStores(t, "after the other block", voter, other)
	h := certB.Block.Hash()
	next := f.transfer(base.Tokens(2), 1, &h)
	vote(t, voter, f.propose(t, f.alice, next, base.FastRound))
	if n := decodeAndHandle(t, voter, encB); n != 0 {
		t.Fatalf("the certificate of an earlier height was decoded with the held block (%d)", n)
	}
	// The voted-for block A conflicts with B, whatever the decoding.
	c, err := voter.DecodeCertificate(codec.Marshal(prototest.Certify(protocol.KindConfirmed, executed(t, f.workers[1], &a), nil, base.FastRound, f.keys)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := voter.HandleCertificate(context.Background(), c); !errors.Is(err, worker.ErrConflictingBlock) {
		t.Fatalf("certificate of the block voted for after another was confirmed: %v, want a conflict", err)
	}
}
