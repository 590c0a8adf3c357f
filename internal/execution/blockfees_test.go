package execution

import (
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// blockOf wraps executed transactions and their outcomes into a block, as the chain
// layer records them.
func blockOf(id base.ChainID, txs []*protocol.Transaction, outs []*TxOutcome) *protocol.Block {
	p := protocol.ProposedBlock{ChainID: id, Height: 3, Timestamp: 5_000}
	o := protocol.BlockExecutionOutcome{}
	for i, tx := range txs {
		p.Transactions = append(p.Transactions, *tx)
		o.Messages = append(o.Messages, outs[i].Messages)
		o.OracleResponses = append(o.OracleResponses, outs[i].OracleResponses)
		o.Events = append(o.Events, outs[i].Events)
		o.Blobs = append(o.Blobs, outs[i].Blobs)
		o.OperationResults = append(o.OperationResults, outs[i].Result)
	}
	return protocol.NewBlock(p, o)
}

// TestRecordedFeesMatchExecution: the fees recomputed from a block are the fees its
// execution charged, transaction by transaction (operations, messages, bounces, blobs).
func TestRecordedFeesMatchExecution(t *testing.T) {
	n := newNet(t)
	s, id := userChain(t, n)
	blob := protocol.NewBlob(base.BlobData, make([]byte, 100))
	bid := n.res.addBlob(blob)
	policy := feePolicy()
	policy.BlobByte = base.AmountFromAttos(3)
	c := tc(id, &alice)
	c.Policy = policy
	txs := []*protocol.Transaction{
		sysTx(&protocol.Transfer{Owner: alice, Recipient: base.Account{Chain: otherChain, Owner: bob}, Amount: tokens(1)}),
		postedTx(otherChain, protocol.Reject, credit(bob, tokens(1), carol, protocol.Tracked)),
		sysTx(&protocol.PublishDataBlob{Hash: bid.Hash}),
	}
	var outs []*TxOutcome
	var total base.Amount
	for _, tx := range txs {
		out := mustExec(t, s, c, tx, LiveOracles(n.res))
		outs = append(outs, out)
		total, _ = total.Add(out.Fees)
	}
	size := func(h base.Hash) (int, error) {
		if h != bid.Hash {
			return 0, errors.New("unknown blob")
		}
		return blob.Size(), nil
	}
	got, err := RecordedFees(blockOf(id, txs, outs), policy, size)
	if err != nil {
		t.Fatal(err)
	}
	if got.Total != total || total.IsZero() || !got.Exact {
		t.Fatalf("recomputed %s (exact %v), execution charged %s", got.Total, got.Exact, total)
	}
	for i := range outs {
		if got.PerTransaction[i] != outs[i].Fees {
			t.Errorf("transaction %d: recomputed %s, charged %s", i, got.PerTransaction[i], outs[i].Fees)
		}
	}
	// Fuel is not recorded in a block: with a fuel price the figure is a lower bound.
	policy.FuelUnit = base.AmountFromAttos(1)
	if got, _ := RecordedFees(blockOf(id, txs, outs), policy, size); got.Exact {
		t.Fatal("fees with a fuel price reported as exact")
	}
	// No fees: nothing to compute, no blob needed.
	free := protocol.NoFeesPolicy()
	if got, err := RecordedFees(blockOf(id, txs, outs), &free, nil); err != nil || !got.Total.IsZero() {
		t.Fatalf("free policy: %s, %v", got.Total, err)
	}
}

// TestRecordedFeesBadBlock: a block whose outcome does not match its transactions (from a
// corrupt store) is an error, not a panic.
func TestRecordedFeesBadBlock(t *testing.T) {
	b := protocol.NewBlock(protocol.ProposedBlock{Transactions: []protocol.Transaction{*sysTx(&protocol.CloseChain{})}}, protocol.BlockExecutionOutcome{})
	if _, err := RecordedFees(b, feePolicy(), nil); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}
