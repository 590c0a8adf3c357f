package worker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// TestForgedOwnSignatureRefused: a validator does not verify its own vote in a
// certificate again, but only when the certificate carries, under its key, the very bytes
// it signed for that value, round and kind. A certificate whose entry under the
// validator's key is anything else — a flipped bit, its signature of another block, of the
// same block in another round, or of another kind — is verified and refused, through the
// batch pre-verification of a request and through HandleCertificate, and leaves the chain
// as it was; the genuine certificate is accepted.
func TestForgedOwnSignatureRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	w, me := f.workers[0], f.keys[0]
	proposed := f.transfer(base.Tokens(1), 0, nil)
	p := f.propose(t, f.alice, proposed, base.FastRound)
	var votes []protocol.Vote
	for _, v := range f.workers[:3] {
		info, err := v.HandleBlockProposal(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		votes = append(votes, *info.Manager.PendingVote)
	}
	block := executed(t, w, &proposed)
	genuine := protocol.CertificateFromVotes(protocol.KindConfirmed, block, nil, base.FastRound, votes)

	// withOwn is the genuine certificate with the entry under validator 0's key replaced.
	withOwn := func(sig crypto.Signature) *protocol.Certificate {
		c := *genuine
		c.Signatures = append([]protocol.ValidatorSignature(nil), genuine.Signatures...)
		found := false
		for i := range c.Signatures {
			if c.Signatures[i].Validator == me.Public() {
				c.Signatures[i].Signature = sig
				found = true
			}
		}
		if !found {
			t.Fatal("validator 0 is not in the certificate")
		}
		return &c
	}
	signOwn := func(value base.Hash, round base.Round, kind protocol.CertificateKind) crypto.Signature {
		vote, err := protocol.SignVote(me, protocol.LiteValue{ValueHash: value, ChainID: f.chains[0], Height: 0, Kind: kind}, round)
		if err != nil {
			t.Fatal(err)
		}
		return vote.Signature
	}
	flipped := votes[0].Signature.Bytes()
	flipped[3] ^= 0x10
	flippedSig, err := crypto.NewSignature(crypto.Ed25519, flipped)
	if err != nil {
		t.Fatal(err)
	}
	forged := []struct {
		name string
		cert *protocol.Certificate
	}{
		{"flipped bit", withOwn(flippedSig)},
		{"own signature of another block", withOwn(signOwn(base.Hash{7}, base.FastRound, protocol.KindConfirmed))},
		{"own signature of another round", withOwn(signOwn(block.Hash(), base.MultiLeader(0), protocol.KindConfirmed))},
		{"own signature of another kind", withOwn(signOwn(block.Hash(), base.FastRound, protocol.KindValidated))},
	}
	before := snapshot(t, w, f.chains[0])
	for _, c := range forged {
		w.PreverifyCertificateBatch(ctx, []*protocol.Certificate{c.cert})
		if _, err := w.HandleCertificate(ctx, c.cert); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%s: got %v, want an invalid-input refusal", c.name, err)
		}
		if after := snapshot(t, w, f.chains[0]); after != before {
			t.Errorf("%s: the refused certificate changed the chain", c.name)
		}
	}
	if _, err := w.HandleCertificate(ctx, genuine); err != nil {
		t.Fatalf("genuine certificate: %v", err)
	}
	if err := genuine.Check(prototest.Committee(f.keys)); err != nil {
		t.Fatal(err)
	}
}

// impostor signs with its own key but claims another: its votes do not verify under the
// key it claims.
type impostor struct {
	*crypto.PrivateKey
	claims crypto.PublicKey
}

func (i impostor) Public() crypto.PublicKey { return i.claims }

// TestOwnVoteNotVerifiedAgain shows that a validator takes its own vote in a certificate
// as verified: with a signer whose votes do not verify under the validator's key, the
// validator accepts the certificate holding its vote, and another validator refuses it.
func TestOwnVoteNotVerifiedAgain(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	st := f.workers[0].Storage()
	liar := worker.New(worker.Config{Storage: st, Signer: impostor{PrivateKey: prototest.Key("impostor"), claims: f.keys[0].Public()}, Clock: fixedClock{10_000_000}})
	proposed := f.transfer(base.Tokens(1), 0, nil)
	p := f.propose(t, f.alice, proposed, base.FastRound)
	var votes []protocol.Vote
	for _, v := range []*worker.Worker{liar, f.workers[1], f.workers[2]} {
		info, err := v.HandleBlockProposal(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		votes = append(votes, *info.Manager.PendingVote)
	}
	cert := protocol.CertificateFromVotes(protocol.KindConfirmed, executed(t, liar, &proposed), nil, base.FastRound, votes)
	if _, err := f.workers[3].HandleCertificate(ctx, cert); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("another validator: %v, want the bad vote refused", err)
	}
	if _, err := liar.HandleCertificate(ctx, cert); err != nil {
		t.Fatalf("the validator verified its own vote again: %v", err)
	}
}
