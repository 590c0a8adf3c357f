package worker_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// TestAttackPreverifyRefusesBadBatches: PreverifyCertificates accepts a batch of
// genuine certificates, and refuses (class invalid) a batch with one bad signature,
// a certificate of another chain, or too many certificates; a refused batch changes
// nothing, and the genuine certificate still executes.
func TestAttackPreverifyRefusesBadBatches(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	block := f.transfer(base.Tokens(1), 0, nil)
	p := f.propose(t, f.alice, block, base.FastRound)
	var votes []protocol.Vote
	for _, w := range f.workers[:3] {
		info, err := w.HandleBlockProposal(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		votes = append(votes, *info.Manager.PendingVote)
	}
	cert := protocol.CertificateFromVotes(protocol.KindConfirmed, executed(t, f.workers[0], &block), nil, base.FastRound, votes)
	w := f.workers[3]
	before := snapshot(t, w, f.chains[0])

	var bad protocol.Certificate
	if err := codec.Unmarshal(codec.Marshal(cert), &bad); err != nil {
		t.Fatal(err)
	}
	bad.Signatures[0].Signature = bad.Signatures[1].Signature
	for name, batch := range map[string][]*protocol.Certificate{
		"bad signature": {cert, &bad},
		"too many":      make([]*protocol.Certificate, worker.MaxPreverify+1),
		"nil":           {nil},
	} {
		if err := w.PreverifyCertificates(ctx, f.chains[0], batch); !base.IsInvalid(err) {
			t.Errorf("%s: %v, want an invalid-input error", name, err)
		}
	}
	if err := w.PreverifyCertificates(ctx, f.chains[1], []*protocol.Certificate{cert}); !base.IsInvalid(err) {
		t.Errorf("certificate of another chain: %v, want an invalid-input error", err)
	}
	if after := snapshot(t, w, f.chains[0]); after != before {
		t.Fatal("a refused batch changed the chain")
	}
	if err := w.PreverifyCertificates(ctx, f.chains[0], []*protocol.Certificate{cert}); err != nil {
		t.Fatalf("genuine certificate: %v", err)
	}
	if _, err := w.HandleCertificate(ctx, &bad); err == nil {
		t.Fatal("a certificate with a bad signature executed after its genuine twin was preverified")
	}
	if _, err := w.HandleCertificate(ctx, cert); err != nil {
		t.Fatalf("preverified certificate: %v", err)
	}
}
