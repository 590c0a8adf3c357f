package client_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestRPCsPerBlock: in steady state, a fast-round block of a chain whose replica is up
// to date costs one proposal and one certificate per validator: the chain state the
// block needs came with the previous block's certificate broadcast (nextstate.go).
func TestRPCsPerBlock(t *testing.T) {
	ctx := context.Background()
	alice := prototest.Key("alice")
	n := newNet(t, []*crypto.PrivateKey{alice}, base.Tokens(100))
	c, counters := n.parallelClient()
	a := c.Chain(n.chains[0], alice, nil)
	to := base.Account{Chain: n.chains[0]}
	if _, err := a.Transfer(ctx, base.ChainOwner, to, base.AmountFromAttos(1)); err != nil {
		t.Fatal(err)
	}
	total := func() (q, p, cert, other int64) {
		for _, cn := range counters {
			q += cn.queries.Load()
			p += cn.proposals.Load()
			cert += cn.certificates.Load()
			other += cn.other.Load()
		}
		return
	}
	waitGoroutines(0) // let the late calls of the first block land
	q0, p0, c0, o0 := total()
	const blocks = 10
	for range blocks {
		if _, err := a.Transfer(ctx, base.ChainOwner, to, base.AmountFromAttos(1)); err != nil {
			t.Fatal(err)
		}
	}
	waitGoroutines(0)
	q1, p1, c1, o1 := total()
	v := int64(len(counters))
	perBlock := func(x int64) float64 { return float64(x) / blocks }
	t.Logf("RPCs per block with %d validators: %.1f queries, %.1f proposals, %.1f certificates, %.1f other", v,
		perBlock(q1-q0), perBlock(p1-p0), perBlock(c1-c0), perBlock(o1-o0))
	// The happy path is exactly one proposal and one certificate per validator per
	// block, and no query (the figures the log line shows). A validator slowed down (the
	// race detector, a loaded machine) can cost a retry and a query now and then, so the
	// test allows a quarter more; the chain-state query per block it replaced cost one
	// more per validator.
	if got, limit := q1-q0, blocks*v/4; got > limit {
		t.Errorf("%d chain-info queries for %d blocks, want at most %d (none in steady state)", got, blocks, limit)
	}
	if got, limit := (q1-q0)+(p1-p0)+(c1-c0)+(o1-o0), 2*blocks*v*5/4; got > limit {
		t.Errorf("%d RPCs for %d blocks, want at most %d (two per validator per block)", got, blocks, limit)
	}
}
