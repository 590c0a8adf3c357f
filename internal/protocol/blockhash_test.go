package protocol_test

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// richBlock is a block with every part of the header non-trivial: received bundles,
// operations, messages, oracle responses, events, blobs and results.
func richBlock() *protocol.Block {
	owner := prototest.Key("alice").Public().Owner()
	prev := base.Hash{7}
	p := protocol.ProposedBlock{ChainID: base.ChainID{1}, Epoch: 2, Height: 5, Timestamp: 3_000_000, PreviousBlockHash: &prev, AuthenticatedOwner: &owner}
	var o protocol.BlockExecutionOutcome
	for i := range 6 {
		if i%2 == 0 {
			p.Transactions = append(p.Transactions, protocol.ReceiveTx(protocol.IncomingBundle{Origin: base.ChainID{2}, Action: protocol.Accept,
				Bundle: protocol.MessageBundle{Height: base.BlockHeight(i), Timestamp: 2_000_000, CertificateHash: base.Hash{byte(i)}, TransactionIndex: uint32(i),
					Messages: []protocol.PostedMessage{{Kind: protocol.Tracked, Index: 0, Message: protocol.Message{System: &protocol.Credit{Target: owner, Amount: base.Tokens(uint64(i + 1))}}}}}}))
		} else {
			p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: base.ChainID{3}}, Amount: base.AmountFromAttos(uint64(i))}))
		}
		o.Messages = append(o.Messages, []protocol.OutgoingMessage{{Destination: base.ChainID{3}, Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Amount: base.AmountFromAttos(uint64(i))}}}})
		o.OracleResponses = append(o.OracleResponses, []protocol.OracleResponse{{Kind: protocol.OracleHTTP, Status: 200, Value: []byte{byte(i)}}})
		o.Events = append(o.Events, []protocol.Event{{Stream: protocol.StreamID{Name: []byte("s")}, Index: uint32(i), Value: []byte("v")}})
		o.Blobs = append(o.Blobs, []protocol.Blob{protocol.NewBlob(base.BlobData, []byte{byte(i)})})
		o.OperationResults = append(o.OperationResults, []byte{byte(i), 1})
	}
	o.StateHash = base.Hash{9}
	return protocol.NewBlock(p, o)
}

// TestBlockHashIsPinned: the block hash of a fixed block with every part set, computed
// by re-encoding (NewBlock), from the proposal's digest (NewBlockWithDigest, as
// execution does) and from the decoded bytes (Decode) is the same pinned value: the ways
// of computing it agree and none of them changed the hash.
func TestBlockHashIsPinned(t *testing.T) {
	const want = "ea2a75532cd82d628631c24c3f844d33c8cd4d2cfe00dc1b3b9b43242351e9ba" // computed before the digest and decode paths existed
	b := richBlock()
	if got := b.Hash().String(); got != want {
		t.Fatalf("block hash %s, pinned %s", got, want)
	}
	d := b.Proposed.Digest()
	if d.Size != uint64(codec.Size(&b.Proposed)) {
		t.Fatalf("digest size %d, encoding %d", d.Size, codec.Size(&b.Proposed))
	}
	if h := protocol.NewBlockWithDigest(b.Proposed, b.Outcome, d).Hash(); h != b.Hash() {
		t.Fatalf("NewBlockWithDigest: %s", h)
	}
	var decoded protocol.Block
	if err := codec.Unmarshal(codec.Marshal(b), &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.Hash() != b.Hash() {
		t.Fatalf("decoded block hash %s", decoded.Hash())
	}
	h := decoded.Header()
	if h.Hash() != b.Hash() {
		t.Fatalf("re-encoded header of the decoded block: %s", h.Hash())
	}
}
