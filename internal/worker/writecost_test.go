package worker_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// writeCountingStore counts a store's writes: synced (Write) and lazy (WriteLazy) commits,
// and the keys they put or delete, by a short description of the key.
type writeCountingStore struct {
	kv.Store
	mu                 sync.Mutex
	synced, lazy, keys int
	byKind, bytesBy    map[string]int
}

func (c *writeCountingStore) count(b *kv.Batch, lazy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b.Empty() {
		return
	}
	if lazy {
		c.lazy++
	} else {
		c.synced++
	}
	if c.byKind == nil {
		c.byKind, c.bytesBy = map[string]int{}, map[string]int{}
	}
	for _, op := range b.Ops() {
		c.keys++
		c.byKind[keyKind(op.Key)]++
		c.bytesBy[keyKind(op.Key)] += len(op.Key) + len(op.Value)
	}
}

// keyKind names a key by its storage prefix and, for a chain's state, the tag of its
// view (chain.State's sub-view tags).
func keyKind(k []byte) string {
	if len(k) > 33 && k[0] == 'C' {
		return fmt.Sprintf("chain view %d", k[33])
	}
	if len(k) == 0 {
		return "empty"
	}
	return string(k[:1])
}

func (c *writeCountingStore) Write(ctx context.Context, b *kv.Batch) error {
	c.count(b, false)
	return c.Store.Write(ctx, b)
}

func (c *writeCountingStore) WriteLazy(ctx context.Context, b *kv.Batch) error {
	c.count(b, true)
	if lw, ok := c.Store.(kv.LazyWriter); ok {
		return lw.WriteLazy(ctx, b)
	}
	return c.Store.Write(ctx, b)
}

func (c *writeCountingStore) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.synced, c.lazy, c.keys, c.byKind, c.bytesBy = 0, 0, 0, nil, nil
}

// TestWritesPerBlock counts what one validator writes per block of a 4-chain ring (the
// chain-info query, the fast vote, the confirmed certificate, the delivery of its
// bundles to the next chain), and bounds it: one durable commit (the vote, durable
// before its answer), at most three lazy ones (the certificate, docs/adr/0005; the
// receipt and the sender's confirmation), and the keys of all of them. Run with -v for the keys by
// kind.
func TestWritesPerBlock(t *testing.T) {
	for _, tc := range []struct {
		transfers int
		maxKeys   float64
		maxBytes  float64
	}{
		// 1 transfer: 17 keys (2026-12-06, fewerkeys): the consensus register twice and
		// the tip, 2 execution keys, the received log (2), the outbox's map entry and
		// queue (put by the certificate, deleted by the confirmation: 4), the inbox's
		// cursors and queue (put by the receipt, rewritten by the block that takes the
		// bundles: 4), the certificate and its height index. 2.73 KB: the consensus
		// register 0.76 KB, the certificate 0.86 KB. A queue of one entry is held in its
		// header (views.Queue): 21 keys and 3.02 KB while each queue entry had its key,
		// 23 keys and 3.36 KB when the pending-delivery record was put and deleted on
		// every block; the consensus register was 0.81 KB, 0.93 KB while it stored the
		// block's outcome.
		{1, 17, 2730},
		// 100 transfers: 17 keys (2026-12-06), as at 1 transfer: the 100 bundles
		// received are one inbox entry (put on receipt, deleted by the block that takes
		// them; 219 keys when each bundle was an entry), held in its queue's header (21
		// keys while it had its own key). 35.9 KB (36.2 KB with the queues' entries
		// under their own keys, 48.7 KB while the register held the received bundles,
		// 57.1 KB while it stored the block's outcome, 76.9 KB with an entry per
		// bundle, 119 KB before the manager stored the proposal once): the certificate
		// 27.6 KB, the consensus register 6.8 KB, the inbox's queues 0.45 KB.
		{100, 17, 36_000},
	} {
		t.Run(fmt.Sprintf("transfers=%d", tc.transfers), func(t *testing.T) {
			synced, lazy, keys, bytes, notes := writesPerBlock(t, tc.transfers)
			if notes != 1 {
				t.Errorf("%.2f incoming-bundle notifications per block, want 1 (one per sending block)", notes)
			}
			if synced != 1 {
				t.Errorf("%.2f durable commits per block, want 1 (the vote)", synced)
			}
			if lazy > 3 {
				t.Errorf("%.2f lazy commits per block, want at most 3 (certificate, receipt and confirmation)", lazy)
			}
			if keys > tc.maxKeys {
				t.Errorf("%.1f keys written per block, more than %.0f", keys, tc.maxKeys)
			}
			if bytes > tc.maxBytes {
				t.Errorf("%.0f bytes (keys and values) written per block, more than %.0f", bytes, tc.maxBytes)
			}
		})
	}
}

// writesPerBlock runs a 4-chain ring on one validator over a counting memory store and
// returns the durable commits, lazy commits, keys and incoming-bundle notifications per
// block after the first round.
func writesPerBlock(t *testing.T, transfers int) (synced, lazy, keys, bytes, notes float64) {
	const chains, rounds = 4, 3
	cs := &writeCountingStore{Store: memkv.New()}
	var incoming atomic.Int64
	r := newValidatorRing(t, chains, cs, func(n protocol.Notification) {
		if n.Kind == protocol.ReasonNewIncomingBundle {
			incoming.Add(1)
		}
	})
	for n := range rounds * chains {
		if n == chains {
			cs.reset() // the first round creates the chains' states
			incoming.Store(0)
		}
		if got := r.block(t, transfers, nil); n >= chains && got != transfers {
			t.Fatalf("block %d receives %d bundles, want %d", n, got, transfers)
		}
	}
	blocks := float64((rounds - 1) * chains)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var kinds []string
	for k := range cs.byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		bytes += float64(cs.bytesBy[k]) / blocks
		t.Logf("%s: %.2f keys, %.0f bytes per block", k, float64(cs.byKind[k])/blocks, float64(cs.bytesBy[k])/blocks)
	}
	synced, lazy, keys = float64(cs.synced)/blocks, float64(cs.lazy)/blocks, float64(cs.keys)/blocks
	notes = float64(incoming.Load()) / blocks
	t.Logf("per block: %.2f durable commits, %.2f lazy commits, %.1f keys, %.0f bytes, %.2f incoming-bundle notifications", synced, lazy, keys, bytes, notes)
	return synced, lazy, keys, bytes, notes
}

// validatorRing is one validator answering the blocks of a ring of chains as `mica
// benchmark` makes it: each block receives what the previous chain sent and makes
// transfers to the next chain.
type validatorRing struct {
	w       *worker.Worker
	vkeys   []*crypto.PrivateKey
	owners  []*crypto.PrivateKey
	ids     []base.ChainID
	tips    []*base.Hash
	heights []base.BlockHeight
	next    int // the chain of the next block
}

// newValidatorRing creates the ring's genesis on db and its validator (notify may be nil),
// configured as a validator's shards are (pending bundles given as bytes).
func newValidatorRing(tb testing.TB, chains int, db kv.Store, notify func(protocol.Notification)) *validatorRing {
	return newValidatorRingConfig(tb, chains, db, notify, true)
}

// newValidatorRingConfig is newValidatorRing with Config.PendingBundleBytes set to
// pendingBytes.
func newValidatorRingConfig(tb testing.TB, chains int, db kv.Store, notify func(protocol.Notification), pendingBytes bool) *validatorRing {
	r := &validatorRing{vkeys: prototest.Validators(4), tips: make([]*base.Hash, chains), heights: make([]base.BlockHeight, chains)}
	for i := range chains {
		r.owners = append(r.owners, prototest.Key(fmt.Sprintf("owner-%d", i)))
	}
	g := prototest.Genesis(prototest.Committee(r.vkeys), r.owners, base.Tokens(1_000_000))
	r.ids = g.ChainIDs()
	r.w = worker.New(worker.Config{Storage: genesisStore(tb, db, g), Signer: r.vkeys[0], Clock: fixedClock{10_000_000}, Notify: notify, PendingBundleBytes: pendingBytes})
	return r
}

// block makes the next chain's block: the chain-info query with the inbox, the fast
// proposal taking every pending bundle and making k transfers, the confirmed
// certificate (staged and certified as the client does) and the delivery. measure, if
// not nil, wraps each of the validator's four calls. It returns the bundles received.
func (r *validatorRing) block(tb testing.TB, k int, measure func(func() error)) int {
	measure = orFatal(tb, measure)
	ctx := context.Background()
	i := r.next
	r.next = (r.next + 1) % len(r.ids)
	var info *protocol.ChainInfo
	measure(func() (err error) {
		info, err = r.w.HandleChainInfoQuery(ctx, chainInfoQueryWithBundles(r.ids[i]))
		return err
	})
	return r.commit(tb, i, info, k, measure)
}

// commit makes chain i's next block as block does, from info's pending bundles.
func (r *validatorRing) commit(tb testing.TB, i int, info *protocol.ChainInfo, k int, measure func(func() error)) int {
	measure = orFatal(tb, measure)
	ctx := context.Background()
	prop := r.proposal(tb, i, info, k)
	p := prop.Content.Block
	received := len(prop.Content.Block.Transactions) - k
	measure(func() error { _, err := r.w.HandleBlockProposal(ctx, prop); return err })
	exec, err := r.w.StageBlock(ctx, &p, nil)
	if err != nil {
		tb.Fatal(err)
	}
	// The certificate arrives as bytes and is decoded as the RPC server decodes it.
	enc := codec.Marshal(prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, r.vkeys))
	measure(func() error {
		cert, err := r.w.DecodeCertificate(enc)
		if err == nil {
			_, err = r.w.HandleEncodedCertificate(ctx, cert, enc)
		}
		return err
	})
	measure(func() error { return r.w.DeliverPending(ctx) })
	h := exec.Hash()
	r.tips[i] = &h
	r.heights[i]++
	return received
}

// orFatal returns measure, or if nil a function that runs its call and fails tb if it
// fails.
func orFatal(tb testing.TB, measure func(func() error)) func(func() error) {
	if measure != nil {
		return measure
	}
	return func(f func() error) {
		if err := f(); err != nil {
			tb.Fatal(err)
		}
	}
}

// chainInfoQueryWithBundles is the query a client makes before its chain's block.
func chainInfoQueryWithBundles(id base.ChainID) *protocol.ChainInfoQuery {
	return &protocol.ChainInfoQuery{ChainID: id, RequestPendingBundles: true}
}

// proposal returns the fast proposal of chain i's next block: it takes every pending
// bundle info lists and makes k transfers to the next chain.
func (r *validatorRing) proposal(tb testing.TB, i int, info *protocol.ChainInfo, k int) *protocol.BlockProposal {
	o := r.owners[i].Public().Owner()
	p := protocol.ProposedBlock{ChainID: r.ids[i], Height: r.heights[i], Timestamp: 5_000_000, PreviousBlockHash: r.tips[i], AuthenticatedOwner: &o}
	bundles, err := info.PendingBundles()
	if err != nil {
		tb.Fatal(err)
	}
	for j := range bundles {
		p.Transactions = append(p.Transactions, protocol.Transaction{Bundle: &bundles[j]})
	}
	for range k {
		p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner,
			Recipient: base.Account{Chain: r.ids[(i+1)%len(r.ids)]}, Amount: base.AmountFromAttos(1)}))
	}
	prop, err := protocol.SignProposal(r.owners[i], p, base.FastRound, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return prop
}
