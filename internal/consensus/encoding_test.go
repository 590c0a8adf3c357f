package consensus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// scenarioStates returns the encoding of every manager state the scenario scripts reach.
func scenarioStates(t testing.TB) [][]byte {
	var states [][]byte
	for _, f := range scenarioFiles(t) {
		diff, s, err := replayScenario(f, 0)
		if err != nil || diff != "" {
			t.Fatalf("replay %s: %v %s", f, err, diff)
		}
		states = append(states, s...)
	}
	return states
}

// TestEncodingRoundTrip decodes every state the scenarios reach (the scenario runner
// already round-trips after each command and continues from the decoded copy), and checks
// that the strict decoder refuses truncations, trailing bytes and other versions.
func TestEncodingRoundTrip(t *testing.T) {
	states := scenarioStates(t)
	if len(states) < 50 {
		t.Fatalf("only %d states", len(states))
	}
	for i, b := range states {
		var m Manager
		if err := codec.Unmarshal(b, &m); err != nil {
			t.Fatalf("state %d: %v", i, err)
		}
		if !bytes.Equal(codec.Marshal(&m), b) {
			t.Fatalf("state %d: re-encoding differs", i)
		}
		for _, bad := range [][]byte{b[:len(b)-1], append(bytes.Clone(b), 0), append([]byte{1}, b[1:]...), append([]byte{3}, b[1:]...)} {
			if err := codec.Unmarshal(bad, &m); !errors.Is(err, base.ErrInvalid) {
				t.Fatalf("state %d: corrupted encoding accepted (err %v)", i, err)
			}
		}
	}
}

// TestDecodeRefusesInconsistentStates builds states that break the manager's invariants
// and checks the decoder refuses them.
func TestDecodeRefusesInconsistentStates(t *testing.T) {
	keys := prototest.Validators(4)
	o, _ := leaderOwnership(map[string]uint64{"A": 1, "B": 1})
	o.MultiLeaderRounds = 2
	base0 := func() *Manager {
		m := NewManager(o, 3, 0)
		p, err := protocol.SignProposal(ownerKey("A"), testBlock(3, "X").Proposed, base.MultiLeader(1), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.VoteForProposal(p, executeProposal(p), keys[0], 0); err != nil {
			t.Fatal(err)
		}
		c := prototest.Certify(protocol.KindValidated, testBlock(3, "X"), nil, base.MultiLeader(1), keys[1:])
		if v, err := m.VoteForValidated(c, keys[0], 0); err != nil || v == nil {
			t.Fatalf("vote %v, err %v", v, err)
		}
		return m
	}
	if _, _, err := roundTripManager(base0()); err != nil {
		t.Fatalf("consistent state refused: %v", err)
	}
	for name, breakIt := range map[string]func(m *Manager){
		"current round above the formula": func(m *Manager) { m.currentRound = base.SingleLeader(4) },
		"current round below the formula": func(m *Manager) { m.currentRound = base.MultiLeader(0) },
		"timeout armed in a round without": func(m *Manager) {
			m.currentRound, m.lockingValidated, m.proposed, m.confirmedVote, m.confirmedBlock = base.MultiLeader(0), nil, nil, nil, nil
			m.hasRoundTimeout = true
		},
		"confirmed block of another vote": func(m *Manager) { m.confirmedBlock = testBlock(3, "Y") },
		"vote of another height": func(m *Manager) {
			v := *m.confirmedVote
			v.Value.Height = 4
			m.confirmedVote = &v
		},
		"vote of the wrong kind": func(m *Manager) {
			v := *m.confirmedVote
			m.validatedVote = &v
		},
		"lock of another height": func(m *Manager) {
			m.lockingValidated = prototest.Certify(protocol.KindValidated, testBlock(4, "X"), nil, base.MultiLeader(1), keys[1:])
		},
		"timeout certificate of a block": func(m *Manager) { m.timeoutCert = m.lockingValidated },
		"signed proposal after single-leader(0)": func(m *Manager) {
			p, _ := protocol.SignProposal(ownerKey("A"), testBlock(3, "Z").Proposed, base.SingleLeader(1), nil)
			m.signedProposal = p
		},
	} {
		m := base0()
		breakIt(m)
		var d Manager
		if err := codec.Unmarshal(codec.Marshal(m), &d); !errors.Is(err, codec.ErrMalformed) {
			t.Errorf("%s: decoded (err %v)", name, err)
		}
	}
}

// FuzzManagerDecode: decoding arbitrary bytes never panics, accepted bytes re-encode
// identically, and a decoded manager answers queries and inputs without panicking.
func FuzzManagerDecode(f *testing.F) {
	for _, b := range scenarioStates(f) {
		f.Add(b)
	}
	keys := prototest.Validators(4)
	proposal, err := protocol.SignProposal(ownerKey("A"), testBlock(0, "X").Proposed, base.MultiLeader(0), nil)
	if err != nil {
		f.Fatal(err)
	}
	cert := prototest.Certify(protocol.KindValidated, testBlock(0, "Y"), nil, base.MultiLeader(1), keys[1:])
	tcert := prototest.Certify(protocol.KindTimeout, nil, &protocol.Timeout{ChainID: testChain}, base.MultiLeader(1), keys[1:])
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Manager
		if err := codec.Unmarshal(b, &m); err != nil {
			if !errors.Is(err, base.ErrInvalid) {
				t.Fatalf("decode error %v is not ErrInvalid", err)
			}
			return
		}
		if again := codec.Marshal(&m); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
		}
		_ = m.Info(true)
		r := m.CurrentRound()
		m.Leader(r)
		m.CanPropose(ownerKey("A").Public().Owner(), r)
		if out, err := m.CheckProposal(proposal); err == nil && out == Accept {
			m.RecordSignedProposal(proposal, 1)
			if _, err := m.VoteForProposal(proposal, executeProposal(proposal), keys[0], 1); err != nil {
				t.Fatalf("VoteForProposal after Accept: %v", err)
			}
		}
		if out, err := m.CheckValidatedCertificate(cert); err == nil && out == Accept {
			if _, err := m.VoteForValidated(cert, keys[0], 2); err != nil {
				t.Fatalf("VoteForValidated after Accept: %v", err)
			}
		}
		if _, err := m.HandleTimeoutCertificate(tcert, 3); err != nil && m.Height() == 0 {
			t.Fatalf("timeout certificate: %v", err)
		}
		if v, err := m.VoteTimeout(testChain, 0, m.CurrentRound(), keys[0], base.Timestamp(1<<62)); (v == nil) == (err == nil) {
			t.Fatalf("VoteTimeout returned vote %v and error %v", v, err)
		}
		if msg := m.invariantViolation(); msg != "" {
			t.Fatalf("after inputs: %s", msg)
		}
	})
}

// encodeV1 writes m in the layout of encoding version 1 (everything inline), or with
// version 2 and every value inline (inlineV2): the bytes a store of the earlier layout
// holds, and a non-canonical version-2 encoding.
func encodeV1(m *Manager, inlineV2 bool) []byte {
	var w codec.Writer
	if inlineV2 {
		w.U8(encodingVersion)
	} else {
		w.U8(encodingVersionV1)
	}
	m.ownership.Encode(&w)
	w.U64(uint64(m.height))
	w.Round(m.currentRound)
	w.OptionTag(m.hasRoundTimeout)
	if m.hasRoundTimeout {
		w.U64(uint64(m.roundTimeout))
	}
	encOpt(&w, m.signedProposal)
	encOpt(&w, m.proposed)
	switch {
	case m.lockingValidated != nil:
		w.Tag(lockValidated)
		m.lockingValidated.Encode(&w)
	case m.lockingFast != nil:
		w.Tag(lockFast)
		m.lockingFast.Encode(&w)
	default:
		w.Tag(lockNone)
	}
	encOpt(&w, m.timeoutCert)
	w.OptionTag(m.confirmedVote != nil)
	if m.confirmedVote != nil {
		m.confirmedVote.Encode(&w)
		if inlineV2 {
			w.Tag(confirmedInline)
		}
		m.confirmedBlock.Encode(&w)
	}
	encOpt(&w, m.validatedVote)
	encOpt(&w, m.timeoutVote)
	return w.Bytes()
}

// TestEncodingStoresEachValueOnce: a fast vote stores the proposal once and the confirmed
// block's outcome only (version 1 stored the proposal twice and the whole block); a
// confirmed vote after a validated certificate stores the certificate's block once.
// Version-1 bytes still load through DecodeStored and re-encode as the manager's
// version-2 bytes; an inline copy of a value stored by reference is refused by Decode.
func TestEncodingStoresEachValueOnce(t *testing.T) {
	keys := prototest.Validators(4)
	big := func(height base.BlockHeight, name string) protocol.ProposedBlock {
		b := testBlock(height, name).Proposed
		b.Transactions = []protocol.Transaction{protocol.OperationTx(protocol.Operation{Bytes: bytes.Repeat([]byte(name), 20_000)})}
		return b
	}

	// Fast round: a super owner's proposal.
	var fast protocol.ChainOwnership
	fast.SuperOwners = []base.Owner{ownerKey("S").Public().Owner()}
	fast.Timeouts = protocol.DefaultTimeoutConfig()
	mf := NewManager(fast, 0, 0)
	p, err := protocol.SignProposal(ownerKey("S"), big(0, "F"), base.FastRound, nil)
	if err != nil {
		t.Fatal(err)
	}
	fb := executeProposal(p)
	if _, err := mf.VoteForProposal(p, fb, keys[0], 0); err != nil {
		t.Fatal(err)
	}
	if mf.lockingFast == nil || mf.confirmedBlock == nil {
		t.Fatal("fast vote did not lock and confirm")
	}

	// Validated then confirmed, in a multi-leader round.
	o, _ := leaderOwnership(map[string]uint64{"A": 1, "B": 1})
	o.MultiLeaderRounds = 2
	mv := NewManager(o, 3, 0)
	vp, err := protocol.SignProposal(ownerKey("A"), big(3, "V"), base.MultiLeader(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	vb := executeProposal(vp)
	if _, err := mv.VoteForProposal(vp, vb, keys[0], 0); err != nil {
		t.Fatal(err)
	}
	c := prototest.Certify(protocol.KindValidated, vb, nil, base.MultiLeader(1), keys[1:])
	if v, err := mv.VoteForValidated(c, keys[0], 0); err != nil || v == nil {
		t.Fatalf("vote %v, err %v", v, err)
	}

	for name, tc := range map[string]struct {
		m     *Manager
		bound int // the large values the state holds, each once
	}{
		"fast":      {mf, len(codec.Marshal(p)) + len(codec.Marshal(&fb.Outcome))},
		"validated": {mv, len(codec.Marshal(vp)) + len(codec.Marshal(c))},
	} {
		enc := codec.Marshal(tc.m)
		if len(enc) > tc.bound+1024 {
			t.Errorf("%s: %d bytes encoded, want at most %d + 1 KiB (each large value once)", name, len(enc), tc.bound)
		}
		if _, _, err := roundTripManager(tc.m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		old := encodeV1(tc.m, false)
		d, err := DecodeStored(old)
		if err != nil {
			t.Fatalf("%s: version 1 refused: %v", name, err)
		}
		if !bytes.Equal(codec.Marshal(d), enc) {
			t.Errorf("%s: version 1 decoded to another manager", name)
		}
		var strict Manager
		if err := codec.Unmarshal(old, &strict); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%s: Decode accepted version 1 (err %v)", name, err)
		}
		if err := codec.Unmarshal(encodeV1(tc.m, true), &strict); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%s: inline copies accepted (err %v)", name, err)
		}
		if d, err := DecodeStored(enc); err != nil || !bytes.Equal(codec.Marshal(d), enc) {
			t.Errorf("%s: DecodeStored of version 2: %v", name, err)
		}
	}
}
