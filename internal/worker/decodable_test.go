package worker

import (
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
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
	if err := checkDecodable(b); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("checkDecodable on a block over the decoding budget: %v, want ErrInvalid", err)
	}
	b.Outcome.Events = [][]protocol.Event{events[:10]}
	if err := checkDecodable(b); err != nil {
		t.Fatalf("ordinary block: %v", err)
	}
}
