package client_test

import (
	"context"
	"runtime"
	runtimemetrics "runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// countingNode counts the calls a client makes to a validator.
type countingNode struct {
	client.ValidatorNode
	proposals, certificates, queries, other atomic.Int64
}

func (c *countingNode) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	c.proposals.Add(1)
	return c.ValidatorNode.HandleBlockProposal(ctx, p)
}

func (c *countingNode) HandleCertificate(ctx context.Context, cert *protocol.Certificate) (*protocol.ChainInfo, error) {
	c.certificates.Add(1)
	return c.ValidatorNode.HandleCertificate(ctx, cert)
}

// HandleCertificateQuery counts a certificate; the node it wraps must take queries
// with certificates.
func (c *countingNode) HandleCertificateQuery(ctx context.Context, cert *protocol.Certificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	c.certificates.Add(1)
	return c.ValidatorNode.(client.CertificateQuerier).HandleCertificateQuery(ctx, cert, q)
}

func (c *countingNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	c.queries.Add(1)
	return c.ValidatorNode.HandleChainInfoQuery(ctx, q)
}

func (c *countingNode) HandleBlob(ctx context.Context, b protocol.Blob) error {
	c.other.Add(1)
	return c.ValidatorNode.HandleBlob(ctx, b)
}

func (c *countingNode) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	c.other.Add(1)
	return c.ValidatorNode.ReadBlob(ctx, id)
}

func (c *countingNode) Certificates(ctx context.Context, id base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	c.other.Add(1)
	return c.ValidatorNode.Certificates(ctx, id, from, to)
}

// parallelClient returns a client that calls the validators in parallel (as in
// production) through counting nodes.
func (n *net) parallelClient() (*client.Client, []*countingNode) {
	var counters []*countingNode
	var vs []client.Validator
	for _, v := range n.validators {
		cn := &countingNode{ValidatorNode: v.Node}
		counters = append(counters, cn)
		vs = append(vs, client.Validator{PublicKey: v.PublicKey, Node: cn})
	}
	local := worker.New(worker.Config{Storage: newStore(n.t, n.genesis), Clock: n.clock, Loader: n.loader})
	return client.New(client.Config{Local: local, Committee: n.committee, Validators: vs, Clock: n.clock}), counters
}

// waitGoroutines waits up to 5 s for the goroutine count to fall to at most want, and
// returns the last count. A loaded machine may be slow to let the goroutines of
// finished calls exit; a goroutine waiting out the client's request timeout (10 s)
// still outlasts the wait.
func waitGoroutines(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFanoutLeavesNoGoroutine: after a fan-out returns, the calls it started finish
// (in-process validators answer at once) and nothing else it started stays behind, such
// as a goroutine waiting out the request timeout.
func TestFanoutLeavesNoGoroutine(t *testing.T) {
	transfer, c := parallelTransfers(t)
	// One transfer first, so that lazily started background work is running already.
	transfer()
	settle(t, c)
	before := runtime.NumGoroutine()
	const blocks = 20
	for range blocks {
		transfer()
	}
	settle(t, c)
	const slack = 5
	if after := waitGoroutines(before + slack); after > before+slack {
		t.Fatalf("%d goroutines before %d blocks, %d after: fan-outs leave goroutines behind", before, blocks, after)
	}
}

// parallelTransfers returns a function that commits one transfer block of a chain
// through a client whose fan-outs call 4 in-process validators in parallel
// (parallelClient), and that client.
func parallelTransfers(t *testing.T) (func(), *client.Client) {
	ctx := context.Background()
	alice := prototest.Key("alice")
	n := newNet(t, []*crypto.PrivateKey{alice}, base.Tokens(100))
	c, _ := n.parallelClient()
	a := c.Chain(n.chains[0], alice, nil)
	to := base.Account{Chain: n.chains[0]}
	return func() {
		t.Helper()
		if _, err := a.Transfer(ctx, base.ChainOwner, to, base.AmountFromAttos(1)); err != nil {
			t.Fatal(err)
		}
	}, c
}

// goroutinesCreated returns the number of goroutines the process has started.
func goroutinesCreated() uint64 {
	s := []runtimemetrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	runtimemetrics.Read(s)
	return s[0].Value.Uint64()
}

// TestFanoutStartsNoGoroutine: in steady state a block's fan-outs start no goroutine:
// their calls run on the client's pooled workers, whose stacks stay grown (a goroutine
// per call grew its stack by copying, every time), and no goroutine waits for the calls
// to end. Main's client started 10 per block here (4 calls and a waiter per fan-out).
func TestFanoutStartsNoGoroutine(t *testing.T) {
	transfer, _ := parallelTransfers(t)
	for range 50 { // the pool's workers start
		transfer()
	}
	const blocks = 500
	before := goroutinesCreated()
	for range blocks {
		transfer()
	}
	// The count is the process's, and a loaded machine (CI runs packages side by side)
	// lets calls overlap more than a quiet one: the pool then grows by a worker, for
	// good, when every worker is busy. Quiet, 0–1 start here; under load, 5–6 over
	// 1,000 blocks and up to 12 over 100 in CI. A goroutine per fan-out call would be
	// 5,000.
	const slack = blocks / 20
	if got := goroutinesCreated() - before; got > slack {
		t.Fatalf("%d goroutines started for %d blocks, want at most %d", got, blocks, slack)
	}
}
