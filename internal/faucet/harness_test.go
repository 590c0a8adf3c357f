package faucet

// A small in-process network: 4 validators (workers over memkv) that clients reach
// directly. Copied from internal/client/harness_test.go.

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// clock is a manual clock.
type clock struct {
	mu  sync.Mutex
	now base.Timestamp
}

func (c *clock) Now() base.Timestamp { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// testNet is 4 validators and genesis chains owned by the given keys.
type testNet struct {
	t          *testing.T
	clock      *clock
	keys       []*crypto.PrivateKey
	committee  *protocol.Committee
	genesis    *protocol.GenesisConfig
	workers    []*worker.Worker
	validators []client.Validator
	chains     []base.ChainID
}

func newStore(t *testing.T, g *protocol.GenesisConfig) *storage.Storage {
	db := memkv.New()
	t.Cleanup(func() { _ = db.Close() })
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, g)
	if err := st.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return st
}

// newNet makes a network whose root chain i is owned by owners[i] with balances[i].
func newNet(t *testing.T, owners []*crypto.PrivateKey, balances []base.Amount) *testNet {
	n := &testNet{t: t, clock: &clock{now: 10_000_000}, keys: prototest.Validators(4)}
	n.committee = prototest.Committee(n.keys)
	n.genesis = prototest.Genesis(n.committee, owners, base.Amount{})
	for i := range n.genesis.Chains {
		n.genesis.Chains[i].Balance = balances[i]
	}
	n.chains = n.genesis.ChainIDs()
	for _, k := range n.keys {
		w := worker.New(worker.Config{Storage: newStore(t, n.genesis), Signer: k, Clock: n.clock})
		n.workers = append(n.workers, w)
		n.validators = append(n.validators, client.Validator{PublicKey: k.Public(), Node: &deliveringNode{w: w}})
	}
	return n
}

// deliveringNode is a worker that delivers its cross-chain requests after each call, so
// tests see messages arrive deterministically.
type deliveringNode struct {
	w *worker.Worker
	// dropProposals makes the node lose block proposals (as if they timed out).
	dropProposals atomic.Bool
}

func (d *deliveringNode) flush(ctx context.Context) {
	for i := 0; i < 10 && d.w.HasPendingDeliveries(); i++ {
		_ = d.w.DeliverPending(ctx)
	}
}

func (d *deliveringNode) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	if d.dropProposals.Load() {
		return nil, client.ErrNoQuorum
	}
	defer d.flush(ctx)
	return d.w.HandleBlockProposal(ctx, p)
}

func (d *deliveringNode) HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	defer d.flush(ctx)
	return d.w.HandleCertificate(ctx, c)
}

func (d *deliveringNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	return d.w.HandleChainInfoQuery(ctx, q)
}

func (d *deliveringNode) HandleBlob(ctx context.Context, b protocol.Blob) error {
	return d.w.HandleBlob(ctx, b)
}

func (d *deliveringNode) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	return d.w.ReadBlob(ctx, id)
}

func (d *deliveringNode) Certificates(ctx context.Context, id base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	return d.w.Certificates(ctx, id, from, to)
}

func (n *testNet) node(i int) *deliveringNode { return n.validators[i].Node.(*deliveringNode) }

func (n *testNet) client() *client.Client {
	local := worker.New(worker.Config{Storage: newStore(n.t, n.genesis), Clock: n.clock})
	return client.New(client.Config{Local: local, Committee: n.committee, Validators: n.validators, Clock: n.clock, Sequential: true})
}

// balance returns a chain account's balance on validator i.
func (n *testNet) balance(i int, id base.ChainID) base.Amount {
	n.t.Helper()
	info, err := n.workers[i].HandleChainInfoQuery(context.Background(), &protocol.ChainInfoQuery{ChainID: id})
	if err != nil {
		n.t.Fatalf("validator %d: query %s: %v", i, id.Short(), err)
	}
	return info.ChainBalance
}

// height returns a chain's next block height on validator i.
func (n *testNet) height(i int, id base.ChainID) base.BlockHeight {
	n.t.Helper()
	info, err := n.workers[i].HandleChainInfoQuery(context.Background(), &protocol.ChainInfoQuery{ChainID: id})
	if err != nil {
		n.t.Fatalf("validator %d: query %s: %v", i, id.Short(), err)
	}
	return info.NextBlockHeight
}
