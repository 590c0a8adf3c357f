package consensus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// failSigner is a signer whose device refuses to sign.
type failSigner struct{ crypto.Signer }

func (failSigner) Sign(base.Hash) (crypto.Signature, error) {
	return crypto.Signature{}, errors.New("hardware signer unplugged")
}

// TestInputErrorsLeaveStateUnchanged feeds malformed inputs and failing signers: each call
// returns an error of the documented sentinel and leaves the encoded state unchanged.
func TestInputErrorsLeaveStateUnchanged(t *testing.T) {
	keys := prototest.Validators(4)
	o, _ := leaderOwnership(map[string]uint64{"A": 1, "B": 1}, "S")
	o.MultiLeaderRounds = 2
	fast, err := protocol.SignProposal(ownerKey("S"), testBlock(0, "X").Proposed, base.FastRound, nil)
	if err != nil {
		t.Fatal(err)
	}
	ml, err := protocol.SignProposal(ownerKey("A"), testBlock(0, "Y").Proposed, base.MultiLeader(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	withOutcome := *fast
	withOutcome.Content.Outcome = &testBlock(0, "X").Outcome
	validated := prototest.Certify(protocol.KindValidated, testBlock(0, "X"), nil, base.MultiLeader(0), keys[1:])
	fastValidated := prototest.Certify(protocol.KindValidated, testBlock(0, "X"), nil, base.FastRound, keys[1:])
	confirmed := prototest.Certify(protocol.KindConfirmed, testBlock(0, "X"), nil, base.MultiLeader(0), keys[1:])
	signer := failSigner{keys[0]}

	for _, tc := range []struct {
		name string
		call func(m *Manager) error
		want error
	}{
		{"nil proposal", func(m *Manager) error { _, err := m.CheckProposal(nil); return err }, ErrMalformedInput},
		{"fresh proposal with an outcome", func(m *Manager) error { _, err := m.CheckProposal(&withOutcome); return err }, ErrMalformedInput},
		{"executed block is another block", func(m *Manager) error {
			_, err := m.VoteForProposal(fast, testBlock(0, "Z"), keys[0], 0)
			return err
		}, ErrMalformedInput},
		{"no executed block", func(m *Manager) error { _, err := m.VoteForProposal(fast, nil, keys[0], 0); return err }, ErrMalformedInput},
		{"no signer", func(m *Manager) error { _, err := m.VoteForProposal(fast, executeProposal(fast), nil, 0); return err }, ErrMalformedInput},
		{"failing signer, proposal", func(m *Manager) error {
			_, err := m.VoteForProposal(fast, executeProposal(fast), signer, 0)
			return err
		}, nil},
		{"failing signer, validated certificate", func(m *Manager) error { _, err := m.VoteForValidated(validated, signer, 0); return err }, nil},
		{"failing signer, timeout", func(m *Manager) error {
			_, err := m.VoteTimeout(testChain, 0, base.FastRound, signer, 1<<40)
			return err
		}, nil},
		{"confirmed certificate as validated", func(m *Manager) error { _, err := m.CheckValidatedCertificate(confirmed); return err }, ErrMalformedInput},
		{"validated certificate in the fast round", func(m *Manager) error {
			_, err := m.VoteForValidated(fastValidated, keys[0], 0)
			return err
		}, ErrMalformedInput},
		{"nil certificate", func(m *Manager) error { _, err := m.VoteForValidated(nil, keys[0], 0); return err }, ErrMalformedInput},
		{"block certificate as timeout", func(m *Manager) error { _, err := m.HandleTimeoutCertificate(validated, 0); return err }, ErrMalformedInput},
		{"regular owner during the fast round", func(m *Manager) error { _, err := m.CheckProposal(ml); return err }, ErrWrongRound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := base.TimeDelta(1)
			o := o
			o.Timeouts.FastRoundDuration = &d
			m := NewManager(o, 0, 0)
			before := codec.Marshal(m)
			err := tc.call(m)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !bytes.Equal(codec.Marshal(m), before) {
				t.Fatal("state changed")
			}
		})
	}
}

// TestRepeatedInputsAnswerWithExistingVotes: re-sent proposals and certificates are
// answered with the votes already cast, which are identical to the first answers.
func TestRepeatedInputsAnswerWithExistingVotes(t *testing.T) {
	keys := prototest.Validators(4)
	o, _ := leaderOwnership(map[string]uint64{"A": 1, "B": 1})
	o.MultiLeaderRounds = 2
	m := NewManager(o, 0, 0)
	p, err := protocol.SignProposal(ownerKey("A"), testBlock(0, "X").Proposed, base.MultiLeader(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := m.VoteForProposal(p, executeProposal(p), keys[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := m.CheckProposal(p); err != nil || out != Skip {
		t.Fatalf("re-sent proposal: %v %v", out, err)
	}
	v2, err := m.VoteForProposal(p, executeProposal(p), keys[0], 0)
	if err != nil || !bytes.Equal(codec.Marshal(&v1), codec.Marshal(&v2)) {
		t.Fatalf("re-sent proposal answered with %+v, %v", v2, err)
	}
	c := prototest.Certify(protocol.KindValidated, testBlock(0, "X"), nil, base.MultiLeader(0), keys[1:])
	f1, err := m.VoteForValidated(c, keys[0], 0)
	if err != nil || f1 == nil {
		t.Fatalf("final vote %v, %v", f1, err)
	}
	f2, err := m.VoteForValidated(c, keys[0], 0)
	if err != nil || f2 == nil || !bytes.Equal(codec.Marshal(f1), codec.Marshal(f2)) {
		t.Fatalf("re-sent certificate answered with %v, %v", f2, err)
	}
	// The proposal was handled, and its validated vote superseded by the confirmed vote:
	// re-sending it yields the pending (confirmed) vote.
	v3, err := m.VoteForProposal(p, executeProposal(p), keys[0], 0)
	if err != nil || v3.Value.Kind != protocol.KindConfirmed {
		t.Fatalf("re-sent proposal after confirmation: %+v, %v", v3, err)
	}
	info := m.Info(true)
	if info.PendingVote == nil || info.PendingVote.Value.Kind != protocol.KindConfirmed || info.LockingValidated != c || info.Proposed != nil {
		t.Fatalf("info: %+v", info)
	}
}
