package localnet_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/localnet"
	"github.com/micachain/mica/internal/protocol"
)

// TestRestartKeepsEverything runs transfers, stops the whole network, starts it again
// on the same directory, and checks every chain and balance survived.
func TestRestartKeepsEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	seed, err := localnet.LoadOrCreateSeed(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := localnet.Config{Dir: dir, Validators: 4, Chains: 2, Balance: base.Tokens(100), Keys: localnet.KeysFromSeed(seed)}
	n, err := localnet.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := localnet.SaveGenesis(dir, n.Genesis); err != nil {
		t.Fatal(err)
	}
	ids := n.Genesis.ChainIDs()
	c, err := n.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Chain(ids[0], n.Owners[0], nil)
	if _, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: ids[1]}, base.Tokens(7)); err != nil {
		t.Fatal(err)
	}
	// The transfer returned once a quorum held its block; the validator left out of the
	// proposal (ADR 0006) gets the certificate in the background. A process about to
	// stop waits for it, as the CLI does (cmd/mica env.go); without it, a loaded machine
	// could stop the network before that validator had the block, and nothing in the
	// rest of the test would bring it to chain 0's height.
	if err := c.WaitBackground(ctx); err != nil {
		t.Fatal(err)
	}
	n.Close()

	g, err := localnet.LoadGenesis(dir)
	if err != nil || g == nil {
		t.Fatalf("genesis: %v", err)
	}
	cfg.Genesis = g
	n2, err := localnet.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	c2, err := n2.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := c2.Chain(ids[1], n2.Owners[1], nil)
	// The credit was delivered before the stop, or is re-delivered after the restart.
	deadline := time.Now().Add(5 * time.Second)
	for {
		cert, err := b.ProcessInbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cert != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The client returns once a quorum has the block; the others catch up in the
	// background. Wait (bounded) for every validator to hold the same balances.
	want := []base.Amount{base.Tokens(93), base.Tokens(107)}
	for {
		var bad []string
		for i, w := range n2.Workers {
			for j := range want {
				got, err := chainBalance(ctx, w, ids[j])
				if err != nil {
					t.Fatal(err)
				}
				if got != want[j] {
					bad = append(bad, fmt.Sprintf("validator %d chain %d: %s, want %s", i, j, got, want[j]))
				}
			}
		}
		if len(bad) == 0 {
			break
		}
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatalf("after restart: %v", bad)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func BenchmarkTransferPebble(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	seed, _ := localnet.LoadOrCreateSeed(dir)
	n, err := localnet.Start(ctx, localnet.Config{Dir: dir, Validators: 4, Chains: 2, Balance: base.Tokens(1_000_000), Keys: localnet.KeysFromSeed(seed)})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	ids := n.Genesis.ChainIDs()
	c, _ := n.Client(ctx)
	a := c.Chain(ids[0], n.Owners[0], nil)
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: ids[1]}, base.Tokens(1)); err != nil {
			b.Fatal(err)
		}
	}
}

func chainBalance(ctx context.Context, w interface {
	HandleChainInfoQuery(context.Context, *protocol.ChainInfoQuery) (*protocol.ChainInfo, error)
}, id base.ChainID) (base.Amount, error) {
	info, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
	if err != nil {
		return base.Amount{}, err
	}
	return info.ChainBalance, nil
}
