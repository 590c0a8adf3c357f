package client_test

import (
	"context"
	"flag"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/cputime"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// syncChainBlocks is the length of the chain BenchmarkSyncChain follows (the figure of
// issue #11: a new wallet catching up with a chain of 10,000 blocks).
// -sync.blocks makes it shorter while working on the sync.
var syncChainBlocks = flag.Int("sync.blocks", 10_000, "length of the chain BenchmarkSyncChain follows")

// buildSyncNet returns a 4-validator in-process network whose first chain has blocks
// blocks, each a transfer to the second chain.
func buildSyncNet(tb testing.TB, blocks int) *net {
	tb.Helper()
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNetWithLoaderTB(tb, []*crypto.PrivateKey{alice, bob}, base.Tokens(1_000_000), nil)
	a := n.client().Chain(n.chains[0], alice, nil)
	for i := range blocks {
		if _, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1)); err != nil {
			tb.Fatalf("block %d: %v", i, err)
		}
	}
	return n
}

// freshClient returns a client with an empty local node that calls the validators in
// parallel, as a new wallet does.
func (n *net) freshClient() *client.Client {
	local := worker.New(worker.Config{Storage: newStore(n.t, n.genesis), Clock: n.clock, Loader: n.loader})
	return client.New(client.Config{Local: local, Committee: n.committee, Validators: n.validators, Clock: n.clock})
}

// BenchmarkSyncChain measures how fast a fresh client follows a chain of
// syncChainBlocks blocks on an in-process network of 4 validators (blocks/s).
func BenchmarkSyncChain(b *testing.B) {
	blocks := *syncChainBlocks
	n := buildSyncNet(b, blocks)
	ctx := context.Background()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for range b.N {
		c := n.freshClient()
		next, err := c.SyncChain(ctx, n.chains[0])
		if err != nil {
			b.Fatal(err)
		}
		if next != base.BlockHeight(blocks) {
			b.Fatalf("synced to %d, want %d", next, blocks)
		}
	}
	b.ReportMetric(float64(blocks*b.N)/b.Elapsed().Seconds(), "blocks/s")
	// CPU time per block (all cores, the in-process validators' reads included): the
	// figure that holds on a machine shared with other work, where blocks/s does not.
	b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(blocks*b.N), "cpu-µs/block")
}
