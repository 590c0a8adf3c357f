package faucet

// A small in-process network: 4 validators (workers over memkv) that clients reach
// directly. Copied from internal/client/harness_test.go.

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
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
	// dropDownloads makes the node fail certificate downloads (as if they timed out).
	dropDownloads atomic.Bool
	// faults, if set, loses requests and replies at random (a slow, overloaded node).
	faults atomic.Pointer[faults]

	mu sync.Mutex
	// fastBlocks records, per height, the distinct blocks of fast proposals received.
	fastBlocks map[base.BlockHeight]map[string]bool
}

// errLost is what a request or a reply lost to a fault looks like to the client: a
// timeout.
var errLost = context.DeadlineExceeded

// faults makes a node lose requests (not handled) and replies (handled, the answer is
// lost), seeded so that a failure reproduces.
type faults struct {
	mu          sync.Mutex
	rng         *rand.Rand
	lostRequest float64
	lostReply   float64
	// delay, if set, is the most a request waits before it is handled.
	delay time.Duration
}

func newFaults(seed uint64, lostRequest, lostReply float64, delay time.Duration) *faults {
	return &faults{rng: rand.New(rand.NewPCG(seed, 1)), lostRequest: lostRequest, lostReply: lostReply, delay: delay}
}

// draw returns whether to lose the request, whether to lose the reply, and a delay.
func (f *faults) draw() (bool, bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var d time.Duration
	if f.delay > 0 {
		d = time.Duration(f.rng.Int64N(int64(f.delay)))
	}
	x := f.rng.Float64()
	return x < f.lostRequest, x >= f.lostRequest && x < f.lostRequest+f.lostReply, d
}

// faulty runs call under the node's faults.
func faulty[T any](ctx context.Context, d *deliveringNode, call func() (T, error)) (T, error) {
	var zero T
	f := d.faults.Load()
	if f == nil {
		return call()
	}
	lostReq, lostReply, delay := f.draw()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
	if lostReq {
		return zero, errLost
	}
	v, err := call()
	if lostReply {
		return zero, errLost
	}
	return v, err
}

// recordFast notes the block of a fast proposal.
func (d *deliveringNode) recordFast(p *protocol.BlockProposal) {
	if p == nil || !p.Content.Round.IsFast() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fastBlocks == nil {
		d.fastBlocks = map[base.BlockHeight]map[string]bool{}
	}
	h := p.Content.Block.Height
	if d.fastBlocks[h] == nil {
		d.fastBlocks[h] = map[string]bool{}
	}
	d.fastBlocks[h][string(codec.Marshal(&p.Content.Block))] = true
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
	d.recordFast(p)
	return faulty(ctx, d, func() (*protocol.ChainInfo, error) {
		defer d.flush(ctx)
		return d.w.HandleBlockProposal(ctx, p)
	})
}

func (d *deliveringNode) HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	return faulty(ctx, d, func() (*protocol.ChainInfo, error) {
		defer d.flush(ctx)
		return d.w.HandleCertificate(ctx, c)
	})
}

func (d *deliveringNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	return faulty(ctx, d, func() (*protocol.ChainInfo, error) { return d.w.HandleChainInfoQuery(ctx, q) })
}

func (d *deliveringNode) HandleBlob(ctx context.Context, b protocol.Blob) error {
	return d.w.HandleBlob(ctx, b)
}

func (d *deliveringNode) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	return d.w.ReadBlob(ctx, id)
}

func (d *deliveringNode) Certificates(ctx context.Context, id base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	if d.dropDownloads.Load() {
		return nil, errLost
	}
	return d.w.Certificates(ctx, id, from, to)
}

func (n *testNet) node(i int) *deliveringNode { return n.validators[i].Node.(*deliveringNode) }

func (n *testNet) client() *client.Client {
	local := worker.New(worker.Config{Storage: newStore(n.t, n.genesis), Clock: n.clock})
	return client.New(client.Config{Local: local, Committee: n.committee, Validators: n.validators, Clock: n.clock, Sequential: true})
}

// parallelClient is a client that calls the validators in parallel, as in production,
// giving up on a call after timeout.
func (n *testNet) parallelClient(timeout time.Duration) *client.Client {
	local := worker.New(worker.Config{Storage: newStore(n.t, n.genesis), Clock: n.clock})
	return client.New(client.Config{Local: local, Committee: n.committee, Validators: n.validators, Clock: n.clock, RequestTimeout: timeout})
}

// checkNoConflictingProposals fails the test if some validator received two different
// fast proposals at one height of chain id, or if two validators hold different
// certificates at one height.
func (n *testNet) checkNoConflictingProposals(id base.ChainID) {
	n.t.Helper()
	for i := range n.validators {
		d := n.node(i)
		d.mu.Lock()
		for h, blocks := range d.fastBlocks {
			if len(blocks) > 1 {
				n.t.Errorf("validator %d received %d different fast proposals at height %d", i, len(blocks), h)
			}
		}
		d.mu.Unlock()
	}
	ctx := context.Background()
	var top base.BlockHeight
	for i := range n.workers {
		top = max(top, n.height(i, id))
	}
	for h := base.BlockHeight(0); h < top; h++ {
		var want *base.Hash
		for i, w := range n.workers {
			cert, err := w.Storage().CertificateAt(ctx, id, h)
			if errors.Is(err, base.ErrNotFound) {
				continue
			}
			if err != nil {
				n.t.Fatalf("validator %d: certificate %d: %v", i, h, err)
			}
			hash := cert.Block.Hash()
			if want == nil {
				want = &hash
			} else if *want != hash {
				n.t.Errorf("validators hold different blocks at height %d", h)
			}
		}
	}
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
