package chain

import (
	"bytes"
	"context"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
)

// Executed is a block executed without changing the State it executed on (a validator's
// vote, a client's staged block: ExecuteDetached), kept so that the confirmed
// certificate of exactly that block, arriving on exactly the tip it was executed on, is
// applied to the chain's State without executing the block again (ApplyExecuted). It
// holds the execution state's changes and the batch they emit.
//
// Why the result is the one a fresh execution would give: a block's execution reads the
// execution state (balances, applications, committees...), which only confirmed blocks
// change, so it is the same as long as the tip is; the certified outcome is the executed
// one (the block hash commits to it). The inbox is the one part of the chain state that
// changes without the tip (deliveries add bundles) and that executing a block changes
// (it removes the bundles it receives): ApplyExecuted removes them from the State's
// current inbox, as the certificate's execution does.
type Executed struct {
	tip     Tip
	hash    base.Hash
	block   *protocol.Block
	changes *execution.Changes
	batch   kv.Batch
}

// Hash returns the hash of the executed block.
func (x *Executed) Hash() base.Hash { return x.hash }

// Block returns the executed block (with its outcome). It must not be mutated.
func (x *Executed) Block() *protocol.Block { return x.block }

// ExecuteDetached executes a proposed block as ExecuteBlock does, on a State with
// nothing staged, and leaves the State as it was: the execution's changes are taken out
// into the returned Executed (for ApplyExecuted) and the inbox's are dropped. The values
// the execution read stay cached, so the next request on the chain (the block's
// certificate, the next proposal) reads them from memory. On error nothing stays staged
// either, and the State may be used again.
func (s *State) ExecuteDetached(ctx context.Context, p *protocol.ProposedBlock, o ExecOptions) (*protocol.Block, *Executed, error) {
	if s.HasPendingChanges() {
		return nil, nil, fmt.Errorf("execute block %d of chain %s: the state has staged changes", p.Height, s.id.Short())
	}
	tip, err := s.tip.Get(ctx)
	if err != nil {
		return nil, nil, err
	}
	block, eb, err := s.executeBlock(ctx, p, o)
	changes := s.exec.TakeChanges()
	s.rollbackInboxes()
	if err != nil {
		return nil, nil, err
	}
	x := &Executed{tip: tip, hash: block.Hash(), block: block, changes: changes}
	x.batch.Append(eb)
	return block, x, nil
}

// rollbackInboxes drops the inbox changes staged by executing a block.
func (s *State) rollbackInboxes() {
	s.inboxes.Rollback()
	for _, q := range s.inboxListed {
		q.added.legacy.Rollback()
		q.added.groups.Rollback()
		q.removed.Rollback()
	}
	s.unlistInboxes()
	s.pendingChanged()
}

// ApplyExecuted stages on s the changes of the kept execution x as ExecuteBlock would for
// the confirmed block whose hash is hash, and reports whether it did: false (and nothing
// staged) unless hash is x's block, s's tip is the one x was executed on and s has no
// execution changes staged. The caller then applies the block (ApplyConfirmed then
// Flush) as after ExecuteBlock, and must not use x again. An error comes from the
// inbox (a bundle the block receives conflicts with the one delivered); staged changes
// may then be partial and the State must be discarded, as after a failed ExecuteBlock.
func (s *State) ApplyExecuted(ctx context.Context, x *Executed, hash base.Hash) (bool, error) {
	if x == nil || x.changes == nil || x.hash != hash {
		return false, nil
	}
	tip, err := s.tip.Get(ctx)
	if err != nil {
		return false, err
	}
	if !sameTip(&tip, &x.tip) || !s.execBatch.Empty() || s.exec.HasPendingChanges() {
		return false, nil
	}
	// The certificate's execution removes the received bundles (replay: a bundle not
	// delivered yet is consumed in anticipation) before executing each transaction; the
	// execution state does not depend on the inbox, so the order does not matter.
	taker := bundleTaker{s: s}
	for i := range x.block.Proposed.Transactions {
		if b := x.block.Proposed.Transactions[i].Bundle; b != nil {
			if err := taker.take(ctx, b, false); err != nil {
				return false, &TxError{Index: i, Err: err}
			}
		}
	}
	if err := taker.finish(ctx); err != nil {
		return false, err
	}
	if err := s.exec.PutChanges(x.changes); err != nil {
		return false, err
	}
	if s.committees != nil && touchesPrefix(&x.batch, s.exec.CommitteesPrefix()) {
		s.committees = nil
	}
	s.execBatch.Append(&x.batch)
	s.execEmitted = true
	x.changes, x.batch = nil, kv.Batch{}
	return true, nil
}

func sameTip(a, b *Tip) bool {
	if (a.BlockHash == nil) != (b.BlockHash == nil) || (a.BlockHash != nil && *a.BlockHash != *b.BlockHash) {
		return false
	}
	return a.NextHeight == b.NextHeight && a.Timestamp == b.Timestamp && a.StateHash == b.StateHash
}

// touchesPrefix reports whether a batch writes or deletes a key under prefix (or a
// prefix of it).
func touchesPrefix(b *kv.Batch, prefix []byte) bool {
	for _, op := range b.Ops() {
		if op.Kind == kv.OpDeletePrefix {
			if bytes.HasPrefix(prefix, op.Key) || bytes.HasPrefix(op.Key, prefix) {
				return true
			}
			continue
		}
		if bytes.HasPrefix(op.Key, prefix) {
			return true
		}
	}
	return false
}
