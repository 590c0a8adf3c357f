package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// queries sums the chain-info queries the counting nodes saw.
func queries(cs []*countingNode) int64 {
	var q int64
	for _, c := range cs {
		q += c.queries.Load()
	}
	return q
}

// receivedBundles counts the bundles a block receives.
func receivedBundles(cert *protocol.Certificate) int {
	n := 0
	for _, tx := range cert.Block.Proposed.Transactions {
		if tx.Bundle != nil {
			n++
		}
	}
	return n
}

// afterOneBlock returns a network of alice's and bob's chains, the counting nodes of a
// parallel client, alice's chain client and bob's chain account, after one block of
// alice's to bob (whose broadcast brought back the state of alice's next height).
func afterOneBlock(t *testing.T) (*net, []*countingNode, *client.ChainClient, base.Account) {
	t.Helper()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	c, counters := n.parallelClient()
	a := c.Chain(n.chains[0], alice, nil)
	to := base.Account{Chain: n.chains[1]}
	if _, err := a.Transfer(context.Background(), base.ChainOwner, to, base.Tokens(1)); err != nil {
		t.Fatal(err)
	}
	settle(t, c)
	return n, counters, a, to
}

// TestReusedStateLateBundleReceived: a chain's next block reuses the answers of its
// previous broadcast, which predate a bundle sent to it since. Processing the inbox
// must still receive that bundle: "nothing to do" is never concluded from reused
// answers.
func TestReusedStateLateBundleReceived(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	c, counters := n.parallelClient()
	a, b := c.Chain(n.chains[0], alice, nil), c.Chain(n.chains[1], bob, nil)
	// Bob's block: its broadcast brings back the state of bob's next height (no bundle).
	if _, err := b.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[0]}, base.Tokens(1)); err != nil {
		t.Fatal(err)
	}
	// Alice sends to bob after that.
	if _, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(10)); err != nil {
		t.Fatal(err)
	}
	settle(t, c)
	cert, err := b.ProcessInbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cert == nil || receivedBundles(cert) != 1 {
		t.Fatalf("process-inbox after reused answers received nothing; alice's bundle is left in bob's inbox")
	}
	settle(t, c)
	if got := n.balance(0, base.Account{Chain: n.chains[1]}); got != base.Tokens(109) {
		t.Fatalf("bob's chain has %s, want 109", got)
	}
	if queries(counters) == 0 {
		t.Fatalf("no query was made: the inbox cannot have been read afresh")
	}
}

// TestReusedStateRing: chains in a ring each send to the next one block after block (as
// `mica benchmark --scenario cross-chain` does) with no chain-state query in steady
// state; the bundles that arrive between a chain's blocks are received by its later
// blocks, and every transfer is received in the end.
func TestReusedStateRing(t *testing.T) {
	ctx := context.Background()
	keys := []*crypto.PrivateKey{prototest.Key("r0"), prototest.Key("r1"), prototest.Key("r2"), prototest.Key("r3")}
	n := newNet(t, keys, base.Tokens(100))
	c, counters := n.parallelClient()
	var ccs []*client.ChainClient
	for i, k := range keys {
		ccs = append(ccs, c.Chain(n.chains[i], k, nil))
	}
	const rounds = 6
	received := 0
	var q0 int64
	for r := range rounds {
		if r == 1 {
			settle(t, c)
			q0 = queries(counters)
		}
		for i, cc := range ccs {
			next := base.Account{Chain: n.chains[(i+1)%len(ccs)]}
			cert, err := cc.Transfer(ctx, base.ChainOwner, next, base.Tokens(1))
			if err != nil {
				t.Fatalf("round %d, chain %d: %v", r, i, err)
			}
			received += receivedBundles(cert)
		}
	}
	settle(t, c)
	if q := queries(counters) - q0; q > int64(len(counters)*len(ccs)) {
		t.Errorf("%d chain-info queries in %d steady blocks, want about none", q, (rounds-1)*len(ccs))
	}
	// A chain's block of round r reuses the answers of its broadcast of round r-1, which
	// report the bundle of its predecessor's block of round r-1 (chains 1 to 3, whose
	// predecessor goes first) or r-2 (chain 0): at least one bundle per block from
	// round 2 on.
	if received < (rounds-2)*len(ccs) {
		t.Errorf("%d bundles received during the run, want at least %d: reused answers keep bundles out of blocks", received, (rounds-2)*len(ccs))
	}
	for i, cc := range ccs {
		if _, err := cc.ProcessInbox(ctx); err != nil {
			t.Fatalf("chain %d: process inbox: %v", i, err)
		}
		pending, err := c.PendingBundles(ctx, n.chains[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 0 {
			t.Errorf("chain %d: %d bundles still pending after process-inbox", i, len(pending))
		}
		settle(t, c)
		if got := n.balance(0, base.Account{Chain: n.chains[i]}); got != base.Tokens(100) {
			t.Errorf("chain %d has %s, want 100 (sent %d, received %d)", i, got, rounds, rounds)
		}
	}
}

// TestReusedStateChainMovedByAnotherWallet: a second wallet with the same key commits a
// block after this client's; this client's next block, built from its reused answers on
// a tip that is no longer the chain's, still commits, on top of the other wallet's
// block (it falls back to a query).
func TestReusedStateChainMovedByAnotherWallet(t *testing.T) {
	ctx := context.Background()
	n, _, a1, to := afterOneBlock(t)
	a2 := n.client().Chain(n.chains[0], prototest.Key("alice"), nil) // another wallet, same key
	if cert, err := a2.Transfer(ctx, base.ChainOwner, to, base.Tokens(2)); err != nil || cert.Height() != 1 {
		t.Fatalf("other wallet: %v", err)
	}
	cert, err := a1.Transfer(ctx, base.ChainOwner, to, base.Tokens(4))
	if err != nil {
		t.Fatalf("after another wallet moved the chain: %v", err)
	}
	if cert.Height() != 2 {
		t.Fatalf("block at height %d, want 2", cert.Height())
	}
	// Validator 0 may be the one the proposal left out (ADR 0006): it gets the block
	// with the certificate the client broadcasts in the background.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := n.balance(0, base.Account{Chain: n.chains[0]})
		if got == base.Tokens(93) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's chain has %s, want 93", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReusedStateNotForMultiOwnerChains: blocks of a chain with several owners query
// the chain state every time (another owner may propose at any moment), and an owner's
// block after another's commits.
func TestReusedStateNotForMultiOwnerChains(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	id, others, keys := multiOwner(t, n, n.client().Chain(n.chains[0], alice, nil), 2)
	c, counters := n.parallelClient()
	o1 := c.Chain(id, keys[0], nil)
	to := base.Account{Chain: n.chains[1]}
	for i := range 3 {
		settle(t, c)
		q0 := queries(counters)
		if _, err := o1.Transfer(ctx, base.ChainOwner, to, base.Tokens(1)); err != nil {
			t.Fatalf("owner 1, block %d: %v", i, err)
		}
		if q := queries(counters) - q0; q < int64(len(counters))*3/4 {
			t.Fatalf("block %d of a multi-owner chain made %d queries, want one per validator", i, q)
		}
		if _, err := others[1].Transfer(ctx, base.ChainOwner, to, base.Tokens(1)); err != nil {
			t.Fatalf("owner 2, block %d: %v", i, err)
		}
	}
	settle(t, c)
	if got := n.balance(0, base.Account{Chain: id}); got != base.Tokens(44) {
		t.Fatalf("multi-owner chain has %s, want 44", got)
	}
}

// TestReusedStateExpires: answers older than Config.StateReuse are not reused.
func TestReusedStateExpires(t *testing.T) {
	ctx := context.Background()
	n, counters, a, to := afterOneBlock(t)
	q0 := queries(counters)
	n.clock.Advance(base.DeltaFromDuration(client.DefaultStateReuse) + 1)
	if _, err := a.Transfer(ctx, base.ChainOwner, to, base.Tokens(1)); err != nil {
		t.Fatal(err)
	}
	if q := queries(counters) - q0; q < int64(len(counters))*3/4 {
		t.Fatalf("a block after the answers expired made %d queries, want one per validator", q)
	}
}

// lyingNode answers certificate queries with made-up state: a pending bundle nobody
// sent and a height far ahead.
type lyingNode struct {
	*deliveringNode
	chain base.ChainID
}

func (l *lyingNode) HandleCertificateQuery(ctx context.Context, c *protocol.Certificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	info, err := l.deliveringNode.HandleCertificateQuery(ctx, c, q)
	if err != nil {
		return nil, err
	}
	out := *info
	out.RequestedPendingBundles = append(out.RequestedPendingBundles, protocol.IncomingBundle{
		Origin: l.chain,
		Bundle: protocol.MessageBundle{Height: 7, Timestamp: 1},
	})
	return &out, nil
}

// TestAttackReusedStateForged: one Byzantine validator's forged answers to the
// certificate's query (a bundle nobody sent) count for no more than they would in a
// query's answers: the next block leaves the bundle out and commits.
func TestAttackReusedStateForged(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	n.validators[3].Node = &lyingNode{deliveringNode: n.node(3), chain: n.chains[1]}
	c, _ := n.parallelClient()
	a := c.Chain(n.chains[0], alice, nil)
	to := base.Account{Chain: n.chains[1]}
	for i := range 3 {
		cert, err := a.Transfer(ctx, base.ChainOwner, to, base.Tokens(1))
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if receivedBundles(cert) != 0 {
			t.Fatalf("block %d receives a bundle only a Byzantine validator reported", i)
		}
	}
	settle(t, c)
	if got := n.balance(0, base.Account{Chain: n.chains[0]}); got != base.Tokens(97) {
		t.Fatalf("alice's chain has %s, want 97", got)
	}
}

// settle waits for the certificate calls a parallel client's fan-outs left running (a
// quorum answered; the last validator, such as validator 0 whose balance a test reads,
// may still be handling the certificate on a loaded machine).
func settle(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitBackground(ctx); err != nil {
		t.Fatalf("background validator calls: %v", err)
	}
}
