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
		for _, bad := range [][]byte{b[:len(b)-1], append(bytes.Clone(b), 0), append([]byte{1}, b[1:]...), append([]byte{2}, b[1:]...), append([]byte{3}, b[1:]...), append([]byte{5}, b[1:]...)} {
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
			m.currentRound, m.lockingValidated, m.proposed, m.confirmedVote, m.confirmedProposed = base.MultiLeader(0), nil, nil, nil, nil
			m.hasRoundTimeout = true
		},
		"confirmed block of another height": func(m *Manager) { m.confirmedProposed = &testBlock(4, "X").Proposed },
		"confirmed block of another chain": func(m *Manager) {
			b := testBlock(3, "X").Proposed
			b.ChainID = base.ChainID{1}
			m.confirmedProposed = &b
		},
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

// encodeOld writes m as an earlier layout did: version 1 (every value inline) or version
// 2 (a fast lock equal to the proposal by reference, and confirmed, the block the
// confirmed vote signs, as a reference to the lock's block, as the outcome of the
// proposal's block, or inline, in that order of preference), or version 3 with every
// value inline (inline), which is not canonical. Version 3 is the current encoding with
// the proposal in its canonical layout (confirmed and inline unused).
func encodeOld(m *Manager, version byte, confirmed *protocol.Block, inline bool) []byte {
	if version == encodingVersionV3 {
		return encodeV3(m)
	}
	var w codec.Writer
	encodeHead(&w, m, version)
	if version == encodingVersion {
		w.OptionTag(m.proposed != nil)
		if m.proposed != nil {
			encodeProposal(&w, m.proposed, nil)
		}
	} else {
		encOpt(&w, m.proposed)
	}
	switch {
	case m.lockingValidated != nil:
		w.Tag(lockValidated)
		m.lockingValidated.Encode(&w)
	case m.lockingFast != nil && version == encodingVersionV2 && m.lockingFast == m.proposed:
		w.Tag(lockFastProposed)
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
		switch {
		case inline:
			w.Tag(confirmedInline)
			m.confirmedProposed.Encode(&w)
		case version == encodingVersionV1:
			confirmed.Encode(&w)
		case m.lockingValidated != nil && m.lockingValidated.Block.Hash() == confirmed.Hash():
			w.Tag(confirmedV2OfLock)
		case m.proposed != nil && sameProposedBlock(&m.proposed.Content.Block, &confirmed.Proposed):
			w.Tag(confirmedV2OfProposed)
			confirmed.Outcome.Encode(&w)
		default:
			w.Tag(confirmedV2Inline)
			confirmed.Encode(&w)
		}
	}
	encOpt(&w, m.validatedVote)
	encOpt(&w, m.timeoutVote)
	return w.Bytes()
}

// encodeHead writes what every version writes before the proposal voted on.
func encodeHead(w *codec.Writer, m *Manager, version byte) {
	w.U8(version)
	m.ownership.Encode(w)
	w.U64(uint64(m.height))
	w.Round(m.currentRound)
	w.OptionTag(m.hasRoundTimeout)
	if m.hasRoundTimeout {
		w.U64(uint64(m.roundTimeout))
	}
	encOpt(w, m.signedProposal)
}

// encodeV3 writes m as version 3 did: the current encoding (with no bundle by
// reference) but for the proposal, in its canonical layout.
func encodeV3(m *Manager) []byte {
	var head codec.Writer // what precedes the proposal
	encodeHead(&head, m, encodingVersionV3)
	head.OptionTag(m.proposed != nil)
	var v4 codec.Writer
	if m.proposed != nil {
		encodeProposal(&v4, m.proposed, nil)
	}
	rest := codec.Marshal(m)[head.Len()+v4.Len():]
	if m.proposed != nil {
		m.proposed.Encode(&head)
	}
	return append(head.Bytes(), rest...)
}

// TestEncodingStoresEachValueOnce: a fast vote stores the proposal once and nothing of
// the confirmed block (version 1 stored the proposal twice and the whole block, version
// 2 the block's outcome); a confirmed vote after a validated certificate for the
// proposal's block stores that block once (version 2 stored it in the proposal and in
// the certificate). Bytes of versions 1 and 2 still load through DecodeStored
// and re-encode as the manager's version-3 bytes; Decode refuses them, and an inline
// copy of a value stored by reference.
func TestEncodingStoresEachValueOnce(t *testing.T) {
	states := confirmedStates(t, 10_000)
	for i, name := range []string{"fast", "validated"} {
		tc := states[i]
		// The large values the state holds, each once: the proposal, and the validated
		// certificate the second state is locked on but for its block's proposed block,
		// the proposal's.
		bound := len(codec.Marshal(tc.proposal))
		if c := tc.m.lockingValidated; c != nil {
			bound += len(codec.Marshal(c)) - len(codec.Marshal(&c.Block.Proposed))
		}
		enc := codec.Marshal(tc.m)
		if len(enc) > bound+1024 {
			t.Errorf("%s: %d bytes encoded, want at most %d + 1 KiB (each large value once)", name, len(enc), bound)
		}
		if _, _, err := roundTripManager(tc.m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, version := range []byte{encodingVersionV1, encodingVersionV2, encodingVersionV3} {
			old := encodeOld(tc.m, version, tc.confirmed, false)
			d, err := DecodeStored(old, nil)
			if err != nil {
				t.Fatalf("%s: version %d refused: %v", name, version, err)
			}
			if !bytes.Equal(codec.Marshal(d), enc) {
				t.Errorf("%s: version %d decoded to another manager", name, version)
			}
			var strict Manager
			if err := codec.Unmarshal(old, &strict); !errors.Is(err, base.ErrInvalid) {
				t.Errorf("%s: Decode accepted version %d (err %v)", name, version, err)
			}
			if version == encodingVersionV3 {
				continue
			}
			// An old state whose confirmed block is not the one its vote signs is corrupt.
			outcome := tc.confirmed.Outcome
			outcome.StateHash = base.Hash{7}
			other := protocol.NewBlock(tc.confirmed.Proposed, outcome)
			if _, err := DecodeStored(encodeOld(tc.m, version, other, false), nil); !errors.Is(err, base.ErrInvalid) {
				t.Errorf("%s: version %d with another confirmed block accepted (err %v)", name, version, err)
			}
		}
		var strict Manager
		if err := codec.Unmarshal(encodeOld(tc.m, encodingVersion, nil, true), &strict); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%s: inline copies accepted (err %v)", name, err)
		}
		if d, err := DecodeStored(enc, nil); err != nil || !bytes.Equal(codec.Marshal(d), enc) {
			t.Errorf("%s: DecodeStored of version 4: %v", name, err)
		}
	}
}

// confirmedState is a manager holding a confirmed vote, the block it signs and the
// proposal it voted on.
type confirmedState struct {
	m         *Manager
	confirmed *protocol.Block
	proposal  *protocol.BlockProposal
}

// confirmedStates returns a fast vote on a super owner's proposal and a confirmed vote
// after a validated certificate in a multi-leader round, on blocks holding an operation
// of size bytes.
func confirmedStates(t testing.TB, size int) []confirmedState {
	keys := prototest.Validators(4)
	big := func(height base.BlockHeight, name string) protocol.ProposedBlock {
		b := testBlock(height, name).Proposed
		b.Transactions = []protocol.Transaction{protocol.OperationTx(protocol.Operation{Bytes: bytes.Repeat([]byte(name), size)})}
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
	if mf.lockingFast == nil || mf.confirmedProposed == nil {
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
	return []confirmedState{{mf, fb, p}, {mv, vb, vp}}
}

// FuzzDecodeStored: decoding arbitrary bytes as a stored manager of any version never
// panics and fails with ErrInvalid; an accepted manager satisfies the invariants and
// its version-3 encoding decodes strictly to the same bytes.
func FuzzDecodeStored(f *testing.F) {
	for _, st := range confirmedStates(f, 4) { // small inputs: the fuzzer mutates them faster
		for _, v := range []byte{encodingVersionV1, encodingVersionV2, encodingVersionV3} {
			f.Add(encodeOld(st.m, v, st.confirmed, false))
		}
		f.Add(codec.Marshal(st.m))
	}
	for _, b := range scenarioStates(f)[:20] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeStored(b, nil)
		if !checkDecodedStored(t, m, err) {
			return
		}
		enc := codec.Marshal(m)
		var d Manager
		if err := codec.Unmarshal(enc, &d); err != nil {
			t.Fatalf("the version-4 encoding of an accepted state does not decode: %v", err)
		}
		if !bytes.Equal(codec.Marshal(&d), enc) {
			t.Fatal("re-encoding differs")
		}
	})
}

// checkDecodedStored checks what DecodeStored returned: an error of class ErrInvalid, or
// a manager satisfying the invariants (reported true).
func checkDecodedStored(t *testing.T, m *Manager, err error) bool {
	t.Helper()
	if err != nil {
		if !errors.Is(err, base.ErrInvalid) {
			t.Fatalf("decode error %v is not ErrInvalid", err)
		}
		return false
	}
	if msg := m.invariantViolation(); msg != "" {
		t.Fatalf("accepted a state that breaks an invariant: %s", msg)
	}
	return true
}
