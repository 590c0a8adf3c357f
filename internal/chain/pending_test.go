package chain_test

import (
	"context"
	"math"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
)

// TestAttackPendingBundlesBounded: a stranger floods a chain's inbox with thousands of
// bundles from one origin. The pending-bundles answer stays within its limit, keeps
// every origin's bundles in inbox order, and still lists the other origin's bundles.
func TestAttackPendingBundlesBounded(t *testing.T) {
	ctx := context.Background()
	s := newSetup(t, memkv.New())
	cs := s.load(t)
	flood, honest := base.ChainID{1}, base.ChainID{2}
	bundles := func(n int) []protocol.EpochBundle {
		var out []protocol.EpochBundle
		for h := range n {
			out = append(out, protocol.EpochBundle{Bundle: protocol.MessageBundle{Height: base.BlockHeight(h), Timestamp: base.Timestamp(h)}})
		}
		return out
	}
	if _, err := cs.ReceiveBundles(ctx, flood, bundles(5000)); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.ReceiveBundles(ctx, honest, bundles(3)); err != nil {
		t.Fatal(err)
	}
	const limit = 100
	got, err := cs.PendingBundles(ctx, limit, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != limit {
		t.Fatalf("%d bundles listed, want the limit %d", len(got), limit)
	}
	next := map[base.ChainID]base.BlockHeight{}
	for _, b := range got {
		if b.Bundle.Height != next[b.Origin] {
			t.Fatalf("bundle %d of %s listed after %d: not a prefix in inbox order", b.Bundle.Height, b.Origin.Short(), next[b.Origin])
		}
		next[b.Origin]++
	}
	if next[honest] != 3 {
		t.Fatalf("%d of the honest origin's 3 bundles listed beside the flood", next[honest])
	}
}
