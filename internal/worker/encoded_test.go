package worker_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestEncodedRequests: a proposal and a certificate handed over with the bytes they were
// decoded from are handled like the decoded values: the vote is the same, the confirmed
// certificate is stored as exactly those bytes and reads back, and the proposal's size
// is taken from them (an oversized proposal is refused).
func TestEncodedRequests(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	block := f.transfer(base.Tokens(1), 0, nil)
	p := f.propose(t, f.alice, block, base.FastRound)
	enc := codec.Marshal(p)
	var decoded protocol.BlockProposal
	if err := codec.Unmarshal(enc, &decoded); err != nil {
		t.Fatal(err)
	}
	viaBytes, err := f.workers[0].HandleEncodedBlockProposal(ctx, &decoded, enc)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := f.workers[1].HandleBlockProposal(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if viaBytes.Manager.PendingVote == nil || plain.Manager.PendingVote == nil ||
		viaBytes.Manager.PendingVote.Value != plain.Manager.PendingVote.Value {
		t.Fatalf("votes differ: %+v and %+v", viaBytes.Manager.PendingVote, plain.Manager.PendingVote)
	}

	exec := executed(t, f.workers[0], &block)
	cert := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, f.keys)
	certBytes := codec.Marshal(cert)
	var dc protocol.Certificate
	if err := codec.Unmarshal(certBytes, &dc); err != nil {
		t.Fatal(err)
	}
	if _, err := f.workers[0].HandleEncodedCertificate(ctx, &dc, certBytes); err != nil {
		t.Fatal(err)
	}
	stored, err := f.workers[0].Storage().Certificate(ctx, exec.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(codec.Marshal(stored), certBytes) {
		t.Fatal("the stored certificate differs from the bytes it was handed with")
	}

	// The size comes from the bytes: a proposal whose encoding exceeds the policy's
	// block size is refused whatever the decoded value.
	huge := make([]byte, 0, 17<<20)
	huge = append(huge, enc...)
	huge = append(huge, make([]byte, 17<<20-len(enc))...)
	if _, err := f.workers[2].HandleEncodedBlockProposal(ctx, &decoded, huge); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("a proposal of %d bytes: got %v, want a refusal", len(huge), err)
	}
}
