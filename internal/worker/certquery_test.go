package worker_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// certified returns the confirmed certificate of alice's fast block b, voted by every
// validator (which then hold the proposal, not the block).
func (f *fixture) certified(t *testing.T, b protocol.ProposedBlock) *protocol.Certificate {
	t.Helper()
	ctx := context.Background()
	p := f.propose(t, f.alice, b, base.FastRound)
	var votes []protocol.Vote
	for i, w := range f.workers {
		info, err := w.HandleBlockProposal(ctx, p)
		if err != nil || info.Manager.PendingVote == nil {
			t.Fatalf("validator %d: no vote: %v", i, err)
		}
		votes = append(votes, *info.Manager.PendingVote)
	}
	staged, err := f.workers[0].StageBlock(ctx, &b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return protocol.CertificateFromVotes(protocol.KindConfirmed, staged, nil, base.FastRound, votes)
}

// TestCertificateQueryAnswersNextHeight: a confirmed certificate's query is answered
// from the state right after the block, exactly as the query itself would be answered
// then; a certificate already executed answers it from the current state.
func TestCertificateQueryAnswersNextHeight(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	cert := f.certified(t, f.transfer(base.Tokens(3), 0, nil))
	q := &protocol.ChainInfoQuery{ChainID: f.chains[0], RequestPendingBundles: true, RequestManagerValues: true}
	w := f.workers[0]
	info, err := w.HandleCertificateQuery(ctx, cert, nil, q)
	if err != nil {
		t.Fatal(err)
	}
	want, err := w.HandleChainInfoQuery(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if info.NextBlockHeight != 1 || info.BlockHash == nil || *info.BlockHash != cert.Block.Hash() {
		t.Fatalf("answer at height %d, want 1 after the block", info.NextBlockHeight)
	}
	if string(codec.Marshal(info)) != string(codec.Marshal(want)) {
		t.Fatalf("the certificate's answer differs from the query's:\n%+v\n%+v", info, want)
	}
	// Again (already executed): the same answer.
	again, err := w.HandleCertificateQuery(ctx, cert, nil, q)
	if err != nil {
		t.Fatal(err)
	}
	if string(codec.Marshal(again)) != string(codec.Marshal(want)) {
		t.Fatalf("a repeated certificate answers the query differently")
	}
	// Without a query: today's answer.
	plain, err := f.workers[1].HandleCertificate(ctx, cert)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Manager.LockingFast != nil || plain.Manager.Proposed != nil || plain.RequestedPendingBundles != nil {
		t.Fatalf("a certificate without a query answers with requested values")
	}
}

// TestAttackCertificateQueryBounded: the query a certificate carries may only read the
// certificate's own chain, with a confirmed certificate; a query that would sign a
// timeout vote or test the height is refused. A refused query executes nothing.
func TestAttackCertificateQueryBounded(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	cert := f.certified(t, f.transfer(base.Tokens(3), 0, nil))
	h := base.BlockHeight(1)
	for _, tc := range []struct {
		name string
		q    protocol.ChainInfoQuery
	}{
		{"another chain", protocol.ChainInfoQuery{ChainID: f.chains[1], RequestPendingBundles: true}},
		{"timeout vote", protocol.ChainInfoQuery{ChainID: f.chains[0], RequestLeaderTimeout: &protocol.LeaderTimeoutRequest{Height: 1, Round: base.FastRound}}},
		{"height test", protocol.ChainInfoQuery{ChainID: f.chains[0], TestNextBlockHeight: &h}},
	} {
		before := snapshot(t, f.workers[0], f.chains[0])
		if _, err := f.workers[0].HandleCertificateQuery(ctx, cert, nil, &tc.q); !base.IsInvalid(err) {
			t.Fatalf("%s: got %v, want an invalid-input refusal", tc.name, err)
		}
		if after := snapshot(t, f.workers[0], f.chains[0]); after != before {
			t.Fatalf("%s: the refused certificate changed the chain", tc.name)
		}
	}
	timeout := &protocol.Certificate{Kind: protocol.KindTimeout, Timeout: &protocol.Timeout{ChainID: f.chains[0], Height: 0}}
	if err := worker.CheckCertificateQuery(timeout, &protocol.ChainInfoQuery{ChainID: f.chains[0]}); !base.IsInvalid(err) {
		t.Fatalf("a query with a timeout certificate: got %v, want an invalid-input refusal", err)
	}
}
