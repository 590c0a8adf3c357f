package chain_test

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// TestPendingVersion: every kind of change that may change what a State lists as
// pending (a delivery, a block's execution taking a bundle, the rollback of a vote's
// or a failed block's execution, listed while staged, a new tip) changes PendingVersion; reads and Flush do
// not; and while it stays the same the listing does.
func TestPendingVersion(t *testing.T) {
	ctx := context.Background()
	w := newReuseWorld(t)
	s := w.load(t)
	listing := func(s *chain.State) []byte {
		t.Helper()
		p, err := s.PendingBundleBytes(ctx, 100, math.MaxInt)
		if err != nil {
			t.Fatal(err)
		}
		var info protocol.ChainInfo
		info.SetPendingBundleBytes(p)
		return codec.Marshal(&info)
	}
	v, l := s.PendingVersion(), listing(s)
	step := func(what string, changes bool) {
		t.Helper()
		nv, nl := s.PendingVersion(), listing(s)
		if changes && nv == v {
			t.Fatalf("%s: the pending version stayed %d", what, v)
		}
		if !changes && nv != v {
			t.Fatalf("%s: the pending version changed from %d to %d", what, v, nv)
		}
		if nv == v && !bytes.Equal(nl, l) {
			t.Fatalf("%s: the listing changed, its version (%d) did not", what, v)
		}
		v, l = nv, nl
	}
	if _, err := s.Tip(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PendingBundles(ctx, 100, math.MaxInt); err != nil {
		t.Fatal(err)
	}
	step("reads", false)
	// Listed while a bundle's removal is staged, then rolled back.
	if err := chain.TakeBundle(ctx, s, w.block0().Transactions[0].Bundle); err != nil {
		t.Fatal(err)
	}
	step("a bundle taken", true)
	chain.RollbackInboxes(s)
	step("its rollback", true)
	block, x := w.voteExecution(t, s) // takes bundle 0, then rolls the inbox back
	step("a vote's execution", true)
	// A block taking bundle 0 then failing (a transfer of more than the chain holds).
	bad := w.block0()
	bad.Transactions = append(bad.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner,
		Recipient: base.Account{Chain: w.genesis.ChainIDs()[1]}, Amount: base.Tokens(1 << 40)}))
	if _, _, err := s.ExecuteDetached(ctx, bad, chain.ExecOptions{Validating: true, Resolver: w.st, Policy: &w.policy}); err == nil {
		t.Fatal("a block spending more than the chain holds executed")
	}
	step("a failed block's execution", true)
	w.deliver(t, s, 1)
	step("a delivery (and its Flush)", true)
	w.write(t, s)
	step("a Flush", false)
	if _, err := s.ReceiveBundles(ctx, w.genesis.ChainIDs()[1], []protocol.EpochBundle{{Bundle: w.bundles[1]}}); err != nil {
		t.Fatal(err)
	}
	step("a duplicate delivery", false)
	// A second State of the chain executes the certificate; s applies its kept execution.
	replayed := w.load(t)
	rv := replayed.PendingVersion()
	if _, err := replayed.ExecuteBlock(ctx, &block.Proposed, chain.ExecOptions{Replay: &block.Outcome, Resolver: w.st, Policy: &w.policy}); err != nil {
		t.Fatal(err)
	}
	if replayed.PendingVersion() == rv {
		t.Fatal("executing a block taking a bundle left the pending version")
	}
	if ok, err := s.ApplyExecuted(ctx, x, block.Hash()); err != nil || !ok {
		t.Fatalf("ApplyExecuted = %v, %v", ok, err)
	}
	step("a kept execution applied", true)
	if err := s.ApplyConfirmed(ctx, block, 9); err != nil {
		t.Fatal(err)
	}
	step("a new tip", true)
	w.write(t, s)
	step("a Flush", false)
	if fresh := listing(w.load(t)); !bytes.Equal(fresh, l) {
		t.Fatal("the listing differs from a fresh load's")
	}
}
