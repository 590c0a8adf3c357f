package execution

import (
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// BlockFees is what a confirmed block paid, recomputed from the block and the
// resource policy of its epoch with the same prices ExecuteTransaction charges.
type BlockFees struct {
	// Total is the sum of PerTransaction.
	Total base.Amount
	// PerTransaction is each transaction's fee, in block order.
	PerTransaction []base.Amount
	// Exact is false when the policy prices fuel or bytes written: a block does not
	// record the fuel its contracts burnt nor the bytes they wrote, so Total then
	// leaves those charges out and is a lower bound.
	Exact bool
}

// RecordedFees recomputes the fees of a confirmed block from what it records: per
// operation and operation byte, per outgoing message and message byte (bounces are
// free), per byte of a published data blob (blobSize gives the size of a blob by
// hash), and per recorded HTTP and service-as-oracle response. Every transaction of a
// confirmed block paid these (a transaction that cannot pay fails its block).
func RecordedFees(b *protocol.Block, p *protocol.ResourcePolicy, blobSize func(base.Hash) (int, error)) (BlockFees, error) {
	txs := b.Proposed.Transactions
	out := BlockFees{PerTransaction: make([]base.Amount, len(txs)), Exact: p.FuelUnit.IsZero() && p.ByteWritten.IsZero()}
	if !p.HasFees() {
		return out, nil
	}
	if len(b.Outcome.Messages) != len(txs) || len(b.Outcome.OracleResponses) != len(txs) {
		return out, base.Invalidf("block outcome has %d message lists and %d oracle lists for %d transactions", len(b.Outcome.Messages), len(b.Outcome.OracleResponses), len(txs))
	}
	for i := range txs {
		var fee base.Amount
		add := func(price base.Amount, n int) error {
			c, err := price.MulUint64(uint64(n))
			if err != nil {
				return err
			}
			fee, err = fee.Add(c)
			return err
		}
		if op := txs[i].Operation; op != nil {
			if err := add(p.Operation, 1); err != nil {
				return out, err
			}
			if err := add(p.OperationByte, operationSize(op)); err != nil {
				return out, err
			}
			if pub, ok := op.System.(*protocol.PublishDataBlob); ok && !p.BlobByte.IsZero() {
				n, err := blobSize(pub.Hash)
				if err != nil {
					return out, fmt.Errorf("size of published blob %s: %w", pub.Hash.Short(), err)
				}
				if err := add(p.BlobByte, n); err != nil {
					return out, err
				}
			}
		}
		for _, r := range b.Outcome.OracleResponses[i] {
			var err error
			switch r.Kind {
			case protocol.OracleHTTP:
				err = add(p.HTTPRequest, 1)
			case protocol.OracleService:
				err = add(p.ServiceAsOracleQuery, 1)
			}
			if err != nil {
				return out, err
			}
		}
		for j := range b.Outcome.Messages[i] {
			m := &b.Outcome.Messages[i][j]
			if m.Kind == protocol.Bouncing {
				continue
			}
			if err := add(p.Message, 1); err != nil {
				return out, err
			}
			if err := add(p.MessageByte, messageSize(&m.Message)); err != nil {
				return out, err
			}
		}
		out.PerTransaction[i] = fee
		var err error
		if out.Total, err = out.Total.Add(fee); err != nil {
			return out, err
		}
	}
	return out, nil
}
