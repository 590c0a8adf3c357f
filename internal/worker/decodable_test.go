package worker

import (
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestAttackUndecodableBlockGetsNoVote: an execution outcome of many tiny events (a
// contract can emit them) costs more memory to decode than the decoding budget allows,
// so a certificate for it would be refused everywhere. The validator refuses to vote for
// it; ordinary blocks pass the check.
func TestAttackUndecodableBlockGetsNoVote(t *testing.T) {
	events := make([]protocol.Event, 40_000)
	b := &protocol.Block{Outcome: protocol.BlockExecutionOutcome{
		Messages:         [][]protocol.OutgoingMessage{nil},
		OracleResponses:  [][]protocol.OracleResponse{nil},
		Events:           [][]protocol.Event{events},
		Blobs:            [][]protocol.Blob{nil},
		OperationResults: [][]byte{nil},
	}}
	b.Proposed.Transactions = []protocol.Transaction{{Operation: &protocol.Operation{Bytes: []byte{1}}}}
	enc := codec.Marshal(b)
	var d protocol.Block
	if err := codec.Unmarshal(enc, &d); !errors.Is(err, codec.ErrBudget) {
		t.Fatalf("a block of %d tiny events decodes (%v): the test no longer exercises the budget", len(events), err)
	}
	// Whether or not the proposal's size is known (it is when it came from the network).
	for _, proposalSize := range []int{-1, proposalSizeOf(t, b)} {
		if err := checkDecodable(b, proposalSize); !errors.Is(err, base.ErrInvalid) {
			t.Fatalf("checkDecodable(proposal of %d bytes) on a block over the decoding budget: %v, want ErrInvalid", proposalSize, err)
		}
	}
	b.Outcome.Events = [][]protocol.Event{events[:10]}
	if err := checkDecodable(b, -1); err != nil {
		t.Fatalf("ordinary block: %v", err)
	}
}

// proposalSizeOf returns the size of a fast proposal of b's proposed block carrying
// blobs of extra bytes.
func proposalSizeOf(t *testing.T, b *protocol.Block, blobs ...[]byte) int {
	t.Helper()
	var bs []protocol.Blob
	for _, c := range blobs {
		bs = append(bs, protocol.Blob{Content: c})
	}
	p, err := protocol.SignProposal(prototest.Key("decodable"), b.Proposed, base.FastRound, bs)
	if err != nil {
		t.Fatal(err)
	}
	var d protocol.BlockProposal
	enc := codec.Marshal(p)
	if err := codec.Unmarshal(enc, &d); err != nil {
		t.Fatalf("the proposal does not decode: %v", err)
	}
	return len(enc)
}

// An honest large block whose proposal's size is known is checked by decoding its
// outcome only; when the proposal carried more than the proposed block (blobs), so that
// its decoding budget says less about the proposed block's cost, the whole block is
// decoded as before (TestAttackUndecodableBlockGetsNoVote: refused either way).
func TestCheckDecodableFromTheOutcome(t *testing.T) {
	const n = 300
	b := &protocol.Block{}
	o := &b.Outcome
	for i := range n {
		b.Proposed.Transactions = append(b.Proposed.Transactions, protocol.Transaction{Operation: &protocol.Operation{Bytes: make([]byte, 40)}})
		o.Messages = append(o.Messages, nil)
		o.OracleResponses = append(o.OracleResponses, nil)
		o.Events = append(o.Events, []protocol.Event{{Index: uint32(i), Value: make([]byte, 60)}})
		o.Blobs = append(o.Blobs, nil)
		o.OperationResults = append(o.OperationResults, []byte{})
	}
	size := proposalSizeOf(t, b)
	if len(codec.Marshal(b)) < decodeCheckMin {
		t.Fatal("the block is under decodeCheckMin: the test does not exercise the check")
	}
	if fits, small := outcomeFits(b, size); !fits || small {
		t.Fatalf("honest block: outcomeFits = %v, small %v; want decided by the outcome", fits, small)
	}
	if err := checkDecodable(b, size); err != nil {
		t.Fatalf("honest block: %v", err)
	}

	// A proposal padded with blobs bounds its proposed block's cost less tightly: the
	// outcome no longer proves the block decodes, and the whole block is decoded.
	padded := proposalSizeOf(t, b, make([]byte, 400_000))
	if fits, _ := outcomeFits(b, padded); fits {
		t.Fatal("outcomeFits decides for a proposal whose blobs leave the proposed block room beyond its own budget")
	}
	if err := checkDecodable(b, padded); err != nil {
		t.Fatalf("honest block, padded proposal: %v", err)
	}
}
