package chain_test

import (
	"context"
	"maps"
	"math"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
)

// reuseWorld is a store with chain 0 and chain 1 of a genesis, where chain 1's first
// block sent transfers to chain 0 that were delivered to chain 0's inbox.
type reuseWorld struct {
	*setup
	db      *memkv.Store
	bundles []protocol.MessageBundle // chain 1's bundles for chain 0, by height
}

func newReuseWorld(t *testing.T) *reuseWorld {
	t.Helper()
	ctx := context.Background()
	db := memkv.New()
	t.Cleanup(func() { db.Close() })
	w := &reuseWorld{setup: newSetup(t, db), db: db}
	// Chain 1 sends to chain 0 in two blocks; chain 0's inbox gets the first bundle.
	ids := w.genesis.ChainIDs()
	other := setup{st: w.st, genesis: w.genesis, desc: w.genesis.Descriptions()[1], owner: w.genesis.Descriptions()[1].Config.Ownership.SuperOwners[0], policy: w.policy}
	os := other.load(t)
	var prev *base.Hash
	for h := range base.BlockHeight(2) {
		p := &protocol.ProposedBlock{ChainID: ids[1], Height: h, Timestamp: 1_000_000 + base.Timestamp(h), PreviousBlockHash: prev, AuthenticatedOwner: &other.owner}
		p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: ids[0]}, Amount: base.Tokens(2)}))
		b, err := os.ExecuteBlock(ctx, p, chain.ExecOptions{Resolver: w.st, Policy: &w.policy})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.ApplyConfirmed(ctx, b, 5); err != nil {
			t.Fatal(err)
		}
		w.write(t, os)
		hash := b.Hash()
		prev = &hash
		w.bundles = append(w.bundles, b.OutgoingBundles()[ids[0]]...)
	}
	s := w.load(t)
	w.deliver(t, s, 0)
	return w
}

func (w *reuseWorld) write(t *testing.T, s *chain.State) *kv.Batch {
	t.Helper()
	b := new(kv.Batch)
	s.Flush(b)
	if err := w.st.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (w *reuseWorld) deliver(t *testing.T, s *chain.State, i int) {
	t.Helper()
	if _, err := s.ReceiveBundles(context.Background(), w.genesis.ChainIDs()[1], []protocol.EpochBundle{{Bundle: w.bundles[i]}}); err != nil {
		t.Fatal(err)
	}
	w.write(t, s)
}

// block0 receives the first bundle and makes transfers.
func (w *reuseWorld) block0() *protocol.ProposedBlock {
	p := w.transfers(0, nil, 3)
	p.Transactions = append([]protocol.Transaction{{Bundle: &protocol.IncomingBundle{Origin: w.genesis.ChainIDs()[1], Bundle: w.bundles[0], Action: protocol.Accept}}}, p.Transactions...)
	return p
}

// voteExecution executes block0 on s without changing it, as a vote does, and keeps
// the execution.
func (w *reuseWorld) voteExecution(t *testing.T, s *chain.State) (*protocol.Block, *chain.Executed) {
	t.Helper()
	block, x, err := s.ExecuteDetached(context.Background(), w.block0(), chain.ExecOptions{Validating: true, Resolver: w.st, Policy: &w.policy})
	if err != nil {
		t.Fatal(err)
	}
	if s.HasPendingChanges() {
		t.Fatal("ExecuteDetached left changes staged")
	}
	return block, x
}

func (w *reuseWorld) dump(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := w.db.Scan(context.Background(), nil, func(k, v []byte) error {
		out[string(k)] = string(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestApplyExecutedMatchesExecution: a block executed without changing the state for a vote,
// then applied to the chain's state by ApplyExecuted when its certificate arrives (with a
// bundle delivered in between), leaves the store bit-identical to executing the
// certificate, and the chain's state reads the same afterwards.
func TestApplyExecutedMatchesExecution(t *testing.T) {
	ctx := context.Background()
	var dumps []map[string]string
	var batches []*kv.Batch
	for _, reuse := range []bool{false, true} {
		w := newReuseWorld(t)
		s := w.load(t)
		block, x := w.voteExecution(t, s)
		if _, err := s.Committees(ctx); err != nil { // cached on s, as on a worker
			t.Fatal(err)
		}
		w.deliver(t, s, 1) // the inbox changes between the vote and the certificate
		if reuse {
			ok, err := s.ApplyExecuted(ctx, x, block.Hash())
			if err != nil || !ok {
				t.Fatalf("ApplyExecuted = %v, %v", ok, err)
			}
		} else {
			replayed, err := s.ExecuteBlock(ctx, &block.Proposed, chain.ExecOptions{Replay: &block.Outcome, Resolver: w.st, Policy: &w.policy})
			if err != nil || replayed.Hash() != block.Hash() {
				t.Fatalf("replay: %v", err)
			}
		}
		if err := s.ApplyConfirmed(ctx, block, 9); err != nil {
			t.Fatal(err)
		}
		batches = append(batches, w.write(t, s))
		dumps = append(dumps, w.dump(t))
		// The state keeps serving: its reads agree with a fresh load.
		bal, err := s.Execution().ChainBalance(ctx)
		fresh, ferr := w.load(t).Execution().ChainBalance(ctx)
		if err != nil || ferr != nil || bal != fresh {
			t.Fatalf("balance after the block: %v (%v), fresh load %v (%v)", bal, err, fresh, ferr)
		}
		pending, err := s.PendingBundles(ctx, 10, math.MaxInt)
		if err != nil || len(pending) != 1 || pending[0].Bundle.Height != w.bundles[1].Height {
			t.Fatalf("pending bundles after the block: %+v, %v", pending, err)
		}
	}
	if !maps.Equal(dumps[0], dumps[1]) {
		t.Fatalf("store after ApplyExecuted differs from the store after execution (%d vs %d keys)", len(dumps[1]), len(dumps[0]))
	}
	a, b := batches[0].Ops(), batches[1].Ops()
	if len(a) != len(b) {
		t.Fatalf("batches have %d and %d ops", len(a), len(b))
	}
	for i := range a {
		if a[i].Kind != b[i].Kind || string(a[i].Key) != string(b[i].Key) || string(a[i].Value) != string(b[i].Value) {
			t.Fatalf("batch op %d differs: %v %x vs %v %x", i, a[i].Kind, a[i].Key, b[i].Kind, b[i].Key)
		}
	}
}

// TestApplyExecutedOnlyForItsBlockAndTip: a kept execution is not applied for another
// block, nor once the tip has moved; nothing is staged then.
func TestApplyExecutedOnlyForItsBlockAndTip(t *testing.T) {
	ctx := context.Background()
	w := newReuseWorld(t)
	s := w.load(t)
	block, x := w.voteExecution(t, w.load(t))
	other := w.transfers(0, nil, 1)
	otherBlock, err := w.load(t).ExecuteBlock(ctx, other, chain.ExecOptions{Resolver: w.st, Policy: &w.policy})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ApplyExecuted(ctx, x, otherBlock.Hash()); ok || err != nil {
		t.Fatalf("ApplyExecuted for another block = %v, %v", ok, err)
	}
	// The other block is confirmed: the tip moves.
	if _, err := s.ExecuteBlock(ctx, other, chain.ExecOptions{Replay: &otherBlock.Outcome, Resolver: w.st, Policy: &w.policy}); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyConfirmed(ctx, otherBlock, 9); err != nil {
		t.Fatal(err)
	}
	w.write(t, s)
	before := w.dump(t)
	if ok, err := s.ApplyExecuted(ctx, x, block.Hash()); ok || err != nil {
		t.Fatalf("ApplyExecuted after the tip moved = %v, %v", ok, err)
	}
	if b := w.write(t, s); !b.Empty() {
		t.Fatalf("a refused ApplyExecuted staged %d ops", b.Len())
	}
	if !maps.Equal(before, w.dump(t)) {
		t.Fatal("store changed")
	}
}

// TestCommitteesPrefix: the prefix ApplyExecuted watches for committee changes is where
// the execution state keeps its trusted committees.
func TestCommitteesPrefix(t *testing.T) {
	w := newReuseWorld(t)
	p := chain.CommitteesPrefix(w.load(t))
	n := 0
	if err := w.db.Scan(context.Background(), p, func(k, v []byte) error {
		n++
		if len(k) != len(p)+4 || len(v) != 32 {
			t.Fatalf("committee entry %x = %x: not BE32(epoch) -> hash", k, v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := len(w.desc.Committees); n != want || n == 0 {
		t.Fatalf("%d entries under the committees prefix, want %d", n, want)
	}
}
