package client_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
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
func (c *clock) Advance(d base.TimeDelta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// net is 4 validators (workers over memkv) and genesis chains owned by the given keys.
type net struct {
	t          testing.TB
	clock      *clock
	keys       []*crypto.PrivateKey
	committee  *protocol.Committee
	genesis    *protocol.GenesisConfig
	workers    []*worker.Worker
	validators []client.Validator
	chains     []base.ChainID
	loader     execution.ApplicationLoader
}

func newStore(t testing.TB, g *protocol.GenesisConfig) *storage.Storage {
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

func newNet(t *testing.T, owners []*crypto.PrivateKey, balance base.Amount) *net {
	return newNetWithLoader(t, owners, balance, nil)
}

func newNetWithLoader(t *testing.T, owners []*crypto.PrivateKey, balance base.Amount, loader execution.ApplicationLoader) *net {
	return newNetWithLoaderTB(t, owners, balance, loader)
}

func newNetWithLoaderTB(t testing.TB, owners []*crypto.PrivateKey, balance base.Amount, loader execution.ApplicationLoader) *net {
	n := &net{t: t, clock: &clock{now: 10_000_000}, keys: prototest.Validators(4), loader: loader}
	n.committee = prototest.Committee(n.keys)
	n.genesis = prototest.Genesis(n.committee, owners, balance)
	n.chains = n.genesis.ChainIDs()
	for _, k := range n.keys {
		w := worker.New(worker.Config{Storage: newStore(t, n.genesis), Signer: k, Clock: n.clock, Loader: loader})
		n.workers = append(n.workers, w)
		n.validators = append(n.validators, client.Validator{PublicKey: k.Public(), Node: &deliveringNode{w: w}})
	}
	return n
}

// deliveringNode is a worker that delivers its cross-chain requests after each call, so
// tests see messages arrive deterministically.
type deliveringNode struct {
	w *worker.Worker
	// off makes the node fail every call. Atomic: tests switch it while the client's
	// background work (certificate broadcasts, probation calls) still calls the node.
	off atomic.Bool
	// dropProposals and dropValidated make the node lose those requests (as if they
	// timed out), to stage partial quorums.
	dropProposals, dropValidated atomic.Bool
}

func (d *deliveringNode) flush(ctx context.Context) {
	for i := 0; i < 10 && d.w.HasPendingDeliveries(); i++ {
		_ = d.w.DeliverPending(ctx)
	}
}

func (d *deliveringNode) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	if d.off.Load() || d.dropProposals.Load() {
		return nil, client.ErrNoQuorum
	}
	defer d.flush(ctx)
	return d.w.HandleBlockProposal(ctx, p)
}

func (d *deliveringNode) HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	if d.off.Load() || (d.dropValidated.Load() && c.Kind == protocol.KindValidated) {
		return nil, client.ErrNoQuorum
	}
	defer d.flush(ctx)
	return d.w.HandleCertificate(ctx, c)
}

func (d *deliveringNode) HandleCertificateQuery(ctx context.Context, c *protocol.Certificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	if d.off.Load() {
		return nil, client.ErrNoQuorum
	}
	defer d.flush(ctx)
	return d.w.HandleCertificateQuery(ctx, c, nil, q)
}

func (d *deliveringNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	if d.off.Load() {
		return nil, client.ErrNoQuorum
	}
	return d.w.HandleChainInfoQuery(ctx, q)
}

func (d *deliveringNode) HandleBlob(ctx context.Context, b protocol.Blob) error {
	if d.off.Load() {
		return client.ErrNoQuorum
	}
	return d.w.HandleBlob(ctx, b)
}

func (d *deliveringNode) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	if d.off.Load() {
		return protocol.Blob{}, client.ErrNoQuorum
	}
	return d.w.ReadBlob(ctx, id)
}

func (d *deliveringNode) Certificates(ctx context.Context, id base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	if d.off.Load() {
		return nil, client.ErrNoQuorum
	}
	return d.w.Certificates(ctx, id, from, to)
}

func (n *net) client() *client.Client {
	local := worker.New(worker.Config{Storage: newStore(n.t, n.genesis), Clock: n.clock, Loader: n.loader})
	return client.New(client.Config{Local: local, Committee: n.committee, Validators: n.validators, Clock: n.clock, Sequential: true})
}

// balance returns an account's balance on validator i.
func (n *net) balance(i int, a base.Account) base.Amount {
	n.t.Helper()
	q := &protocol.ChainInfoQuery{ChainID: a.Chain}
	if !a.Owner.IsChain() {
		q.RequestOwnerBalance = &a.Owner
	}
	info, err := n.workers[i].HandleChainInfoQuery(context.Background(), q)
	if err != nil {
		n.t.Fatalf("validator %d: query %s: %v", i, a, err)
	}
	if !a.Owner.IsChain() {
		return *info.RequestedOwnerBalance
	}
	return info.ChainBalance
}

func (n *net) node(i int) *deliveringNode { return n.validators[i].Node.(*deliveringNode) }

// blockHashes returns each validator's hash of the block at (chain, height), or the zero
// hash where it has none.
func (n *net) blockHashes(id base.ChainID, h base.BlockHeight) []base.Hash {
	var out []base.Hash
	for _, w := range n.workers {
		hash, _ := w.Storage().BlockHash(context.Background(), id, h)
		out = append(out, hash)
	}
	return out
}
