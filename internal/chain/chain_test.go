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

// TestBlockOutcomeMessagesAreSeparate: a block's transactions share one array for their
// outgoing messages; each transaction's messages must be its own, in order, whatever
// the number each sends (a rejected bundle bounces two, transfers send one, a transfer
// within the chain none), and appending to one must not overwrite the next.
func TestBlockOutcomeMessagesAreSeparate(t *testing.T) {
	ctx := context.Background()
	s := newSetup(t, memkv.New())
	cs := s.load(t)
	origin := s.genesis.ChainIDs()[1]
	credit := func(n uint64) protocol.PostedMessage {
		return protocol.PostedMessage{Kind: protocol.Tracked, Index: uint32(n), Message: protocol.Message{System: &protocol.Credit{Amount: base.AmountFromAttos(n)}}}
	}
	p := &protocol.ProposedBlock{ChainID: s.desc.ID(), Timestamp: 2_000_000, AuthenticatedOwner: &s.owner}
	p.Transactions = append(p.Transactions, protocol.ReceiveTx(protocol.IncomingBundle{Origin: origin, Action: protocol.Reject,
		Bundle: protocol.MessageBundle{Height: 0, Timestamp: 1_000_000, Messages: []protocol.PostedMessage{credit(1), credit(2)}}}))
	dests := []base.ChainID{origin, s.desc.ID(), {7}, {8}}
	for i, d := range dests {
		p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: d}, Amount: base.AmountFromAttos(uint64(10 + i))}))
	}
	b, err := cs.ExecuteBlock(ctx, p, chain.ExecOptions{Resolver: s.st, Policy: &s.policy})
	if err != nil {
		t.Fatal(err)
	}
	m := b.Outcome.Messages
	if len(m[0]) != 2 || m[0][0].Kind != protocol.Bouncing || m[0][0].Destination != origin || m[0][1].Message.System.(*protocol.Credit).Amount != base.AmountFromAttos(2) {
		t.Fatalf("bounces: %+v", m[0])
	}
	for i, d := range dests {
		got := m[i+1]
		if d == s.desc.ID() {
			if got != nil {
				t.Fatalf("transfer within the chain sends %+v", got)
			}
			continue
		}
		if len(got) != 1 || got[0].Destination != d || got[0].Message.System.(*protocol.Credit).Amount != base.AmountFromAttos(uint64(10+i)) {
			t.Fatalf("transaction %d sends %+v", i+1, got)
		}
	}
	hash := b.Hash()
	_ = append(m[0], protocol.OutgoingMessage{Destination: base.ChainID{9}})
	_ = append(m[2], protocol.OutgoingMessage{Destination: base.ChainID{9}})
	if h := protocol.NewBlock(b.Proposed, b.Outcome).Hash(); h != hash {
		t.Fatal("appending to one transaction's messages changed another's")
	}
	replayed, err := s.load(t).ExecuteBlock(ctx, p, chain.ExecOptions{Replay: &b.Outcome, Resolver: s.st, Policy: &s.policy})
	if err != nil || replayed.Hash() != hash {
		t.Fatalf("replay: %v", err)
	}
}
