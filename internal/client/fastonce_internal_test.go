package client

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestProposalKeyIsTheEncoding: the fast-proposal weighting counts two reports as one
// proposal exactly when their canonical bytes are equal, as when it keyed them by those
// bytes: the same proposal decoded from two answers shares a key; the same signed
// content carrying other blobs (blobs are not signed) or another round does not.
func TestProposalKeyIsTheEncoding(t *testing.T) {
	alice := prototest.Key("alice")
	owner := alice.Public().Owner()
	block := protocol.ProposedBlock{ChainID: base.ChainID{1}, Timestamp: 1_000_000, AuthenticatedOwner: &owner,
		Transactions: []protocol.Transaction{protocol.OperationTx(protocol.Operation{Bytes: []byte("x")})}}
	blob := protocol.NewBlob(base.BlobData, []byte("content"))
	p, err := protocol.SignProposal(alice, block, base.FastRound, []protocol.Blob{blob})
	if err != nil {
		t.Fatal(err)
	}
	again := new(protocol.BlockProposal)
	if err := codec.Unmarshal(codec.Marshal(p), again); err != nil {
		t.Fatal(err)
	}
	if proposalKey(p) != proposalKey(again) {
		t.Fatal("the same proposal decoded twice has two keys")
	}
	bare := *p
	bare.Blobs = nil
	if proposalKey(p) == proposalKey(&bare) {
		t.Fatal("the proposal without its blobs has the same key")
	}
	other, err := protocol.SignProposal(alice, block, base.MultiLeader(0), []protocol.Blob{blob})
	if err != nil {
		t.Fatal(err)
	}
	if proposalKey(p) == proposalKey(other) {
		t.Fatal("the block proposed in another round has the same key")
	}
}
