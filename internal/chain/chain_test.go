package chain_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/cputime"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
)

type setup struct {
	st      *storage.Storage
	genesis *protocol.GenesisConfig
	desc    protocol.ChainDescription
	owner   base.Owner
	policy  protocol.ResourcePolicy
}

func newSetup(tb testing.TB, db kv.Store) *setup {
	alice := prototest.Key("alice")
	g := prototest.Genesis(prototest.Committee(prototest.Validators(4)), []*crypto.PrivateKey{alice, prototest.Key("bob")}, base.Tokens(1_000_000))
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, g)
	if err := st.Write(context.Background(), &b); err != nil {
		tb.Fatal(err)
	}
	return &setup{st: st, genesis: g, desc: g.Descriptions()[0], owner: alice.Public().Owner(), policy: protocol.NoFeesPolicy()}
}

func (s *setup) load(tb testing.TB) *chain.State {
	ctx := context.Background()
	id := s.desc.ID()
	cs := chain.Load(id, s.st.ChainContext(id))
	ok, err := cs.IsInitialized(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if !ok {
		if err := cs.Initialize(ctx, &s.desc, 1); err != nil {
			tb.Fatal(err)
		}
		var b kv.Batch
		cs.Flush(&b)
		if err := s.st.Write(ctx, &b); err != nil {
			tb.Fatal(err)
		}
	}
	return cs
}

func (s *setup) transfers(h base.BlockHeight, prev *base.Hash, n int) *protocol.ProposedBlock {
	p := &protocol.ProposedBlock{ChainID: s.desc.ID(), Height: h, Timestamp: 2_000_000 + base.Timestamp(h), PreviousBlockHash: prev, AuthenticatedOwner: &s.owner}
	other := s.genesis.ChainIDs()[1]
	for i := 0; i < n; i++ {
		p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: other}, Amount: base.Tokens(1)}))
	}
	return p
}

// TestExecutionIsDeterministic executes the same block on two independent stores and
// compares the outcomes, and re-executes a certified block in replay mode.
func TestExecutionIsDeterministic(t *testing.T) {
	ctx := context.Background()
	var blocks []*protocol.Block
	for i := 0; i < 2; i++ {
		s := newSetup(t, memkv.New())
		cs := s.load(t)
		b, err := cs.ExecuteBlock(ctx, s.transfers(0, nil, 5), chain.ExecOptions{Resolver: s.st, Policy: &s.policy})
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
		replayed, err := s.load(t).ExecuteBlock(ctx, &b.Proposed, chain.ExecOptions{Replay: &b.Outcome, Resolver: s.st, Policy: &s.policy})
		if err != nil || replayed.Hash() != b.Hash() {
			t.Fatalf("replay differs: %v", err)
		}
	}
	if blocks[0].Hash() != blocks[1].Hash() {
		t.Fatal("the same block executed on two stores gives two outcomes")
	}
	if len(blocks[0].Outcome.Messages[0]) != 1 || blocks[0].Outcome.Messages[0][0].Kind != protocol.Tracked {
		t.Fatalf("cross-chain transfer outcome: %+v", blocks[0].Outcome.Messages[0])
	}
}

// BenchmarkExecuteTransferBlock executes a block of 10 cross-chain transfers (staging
// only, as a validator does when voting), on Pebble-free memory storage.
func BenchmarkExecuteTransferBlock(b *testing.B) {
	ctx := context.Background()
	s := newSetup(b, memkv.New())
	s.load(b)
	p := s.transfers(0, nil, 10)
	b.ResetTimer()
	for b.Loop() {
		cs := s.load(b)
		if _, err := cs.ExecuteBlock(ctx, p, chain.ExecOptions{Validating: true, Resolver: s.st, Policy: &s.policy}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "transfers/s")
}

// BenchmarkExecuteBlock100 executes what a `mica benchmark --transactions-per-block 100`
// block holds, as a validator does when voting (staging only, on memory storage): the
// 100 one-message bundles the previous chain's block sent (each a transaction of its
// own, read from the inbox and compared with the delivered one) and 100 transfers to
// another chain. ns/transfer is the time per (bundle received + transfer made) pair,
// cpu-ns/transfer the process's CPU time per pair (GC included; less inflated than wall
// time by a busy machine).
func BenchmarkExecuteBlock100(b *testing.B) {
	const k = 100
	ctx := context.Background()
	s := newSetup(b, memkv.New())
	opts := chain.ExecOptions{Resolver: s.st, Policy: &s.policy}
	// Bob's chain sends k transfers to Alice's chain; its bundles are delivered there.
	bob := s.genesis.Descriptions()[1]
	bs := chain.Load(bob.ID(), s.st.ChainContext(bob.ID()))
	if err := bs.Initialize(ctx, &bob, 1); err != nil {
		b.Fatal(err)
	}
	bobOwner := prototest.Key("bob").Public().Owner()
	bp := &protocol.ProposedBlock{ChainID: bob.ID(), Height: 0, Timestamp: 1_500_000, AuthenticatedOwner: &bobOwner}
	for range k {
		bp.Transactions = append(bp.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: s.desc.ID()}, Amount: base.AmountFromAttos(1)}))
	}
	sent, err := bs.ExecuteBlock(ctx, bp, opts)
	if err != nil {
		b.Fatal(err)
	}
	bundles := sent.OutgoingBundles()[s.desc.ID()]
	cs := s.load(b)
	var eb []protocol.EpochBundle
	for _, mb := range bundles {
		eb = append(eb, protocol.EpochBundle{Bundle: mb})
	}
	if _, err := cs.ReceiveBundles(ctx, bob.ID(), eb); err != nil {
		b.Fatal(err)
	}
	var batch kv.Batch
	cs.Flush(&batch)
	if err := s.st.Write(ctx, &batch); err != nil {
		b.Fatal(err)
	}
	p := s.transfers(0, nil, k)
	var txs []protocol.Transaction
	for _, mb := range bundles {
		txs = append(txs, protocol.ReceiveTx(protocol.IncomingBundle{Origin: bob.ID(), Bundle: mb, Action: protocol.Accept}))
	}
	p.Transactions = append(txs, p.Transactions...)
	opts.Validating = true
	b.ReportAllocs()
	cpu := cputime.Process()
	for b.Loop() {
		if _, err := s.load(b).ExecuteBlock(ctx, p, opts); err != nil {
			b.Fatal(err)
		}
	}
	cpu = cputime.Process() - cpu
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/transfer")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*k), "cpu-ns/transfer")
	b.ReportMetric(0, "ns/op")
}
