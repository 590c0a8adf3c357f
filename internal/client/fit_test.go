package client

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

func bundle(origin byte, height uint64, ts base.Timestamp, payload int) protocol.IncomingBundle {
	return protocol.IncomingBundle{
		Origin: base.ChainID{origin},
		Bundle: protocol.MessageBundle{Height: base.BlockHeight(height), Timestamp: ts, Messages: []protocol.PostedMessage{{Message: protocol.Message{Bytes: make([]byte, payload)}}}},
	}
}

// TestFitBundles: the bundles taken are the oldest, a prefix of every origin's queue, and
// within the transaction and size limits beside the operations.
func TestFitBundles(t *testing.T) {
	a0, a1, a2 := bundle(1, 0, 10, 0), bundle(1, 1, 30, 0), bundle(1, 2, 50, 0)
	b0, b1 := bundle(2, 0, 20, 0), bundle(2, 1, 40, 0)
	all := []protocol.IncomingBundle{a0, a1, a2, b0, b1}
	op := protocol.SystemOp(&protocol.Transfer{Amount: base.AmountFromAttos(1)})
	name := func(bs []protocol.IncomingBundle) string {
		s := ""
		for _, b := range bs {
			s += string(rune('a'+b.Origin[0]-1)) + string(rune('0'+b.Bundle.Height)) + " "
		}
		return s
	}
	policy := protocol.NoFeesPolicy()
	policy.MaxTransactionsBlock = 4
	got, err := fitBundles(append([]protocol.IncomingBundle(nil), all...), []protocol.Operation{op}, &policy)
	if err != nil || name(got) != "a0 b0 a1 " {
		t.Fatalf("4 transactions with one operation: got %q (%v), want the three oldest", name(got), err)
	}
	// Size: a big bundle that does not fit holds back the rest of its origin only.
	big := bundle(1, 1, 30, 10_000)
	policy = protocol.NoFeesPolicy()
	policy.MaxBlockSize = blockOverhead + 2_000
	got, err = fitBundles([]protocol.IncomingBundle{a0, big, a2, b0, b1}, nil, &policy)
	if err != nil || name(got) != "a0 b0 b1 " {
		t.Fatalf("size limit: got %q (%v), want a0 b0 b1", name(got), err)
	}
	for _, b := range got {
		if len(codec.Marshal(&b)) > 2_000 {
			t.Fatal("a bundle over the size limit was taken")
		}
	}
	// Operations alone over the limit: an error, not a block that cannot be accepted.
	policy = protocol.NoFeesPolicy()
	policy.MaxTransactionsBlock = 1
	if _, err := fitBundles(nil, []protocol.Operation{op, op}, &policy); !base.IsInvalid(err) {
		t.Fatalf("two operations with a limit of one: %v, want an invalid-input error", err)
	}
}

// TestBlockTransactions: a block's transactions are its bundles (rejected if asked) then
// its operations, in a fixed number of allocations however many there are (they were
// two per transaction), and the operations stay the caller's to reuse.
func TestBlockTransactions(t *testing.T) {
	op := protocol.SystemOp(&protocol.Transfer{Amount: base.AmountFromAttos(1)})
	bundles := make([]protocol.IncomingBundle, 100)
	ops := make([]protocol.Operation, 100)
	for i := range bundles {
		bundles[i] = bundle(1, uint64(i), base.Timestamp(i), 0)
		ops[i] = op
	}
	txs := blockTransactions(bundles, ops, true)
	if len(txs) != 200 || leadingBundles(txs) != 100 {
		t.Fatalf("%d transactions, %d leading bundles: want 100 bundles then 100 operations", len(txs), leadingBundles(txs))
	}
	for i := range 100 {
		if b := txs[i].Bundle; b.Bundle.Height != base.BlockHeight(i) || b.Action != protocol.Reject {
			t.Fatalf("transaction %d: bundle of height %d, action %v: want height %d, rejected", i, b.Bundle.Height, b.Action, i)
		}
		if txs[100+i].Operation == nil || txs[100+i].Bundle != nil {
			t.Fatalf("transaction %d is not an operation", 100+i)
		}
	}
	ops[0] = protocol.Operation{}
	if txs[100].Operation.System == nil {
		t.Fatal("the block's operation changed with the caller's slice")
	}
	if got := blockTransactions(nil, nil, false); got != nil {
		t.Fatalf("no transactions: got %d", len(got))
	}
	if allocs := testing.AllocsPerRun(10, func() { blockTransactions(bundles, ops, false) }); allocs > 2 {
		t.Fatalf("%v allocations for 200 transactions, want at most 2", allocs)
	}
	// Without reject, actions are left as they came.
	bundles[0].Action = protocol.Accept
	if txs := blockTransactions(bundles[:1], nil, false); txs[0].Bundle.Action != protocol.Accept {
		t.Fatal("a bundle was rejected without reject")
	}
}
