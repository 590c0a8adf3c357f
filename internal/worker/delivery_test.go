package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// limitedRouter carries cross-chain requests the way a transport with a message size
// limit does (gRPC refuses messages above its limit): a request is encoded, refused if
// it is larger than limit, and decoded again on the other side.
type limitedRouter struct {
	w     *worker.Worker
	limit int

	mu       sync.Mutex
	refused  int
	requests int
	heights  []base.BlockHeight // heights of the bundles of every update, in arrival order
}

func (r *limitedRouter) MaxCrossChainRequestBytes() int { return r.limit }

func (r *limitedRouter) RouteCrossChain(ctx context.Context, req *protocol.CrossChainRequest) error {
	raw := codec.Marshal(req)
	if len(raw) > r.limit {
		r.mu.Lock()
		r.refused++
		r.mu.Unlock()
		return fmt.Errorf("transport: message of %d bytes exceeds the limit of %d", len(raw), r.limit)
	}
	var got protocol.CrossChainRequest
	if err := codec.Unmarshal(raw, &got); err != nil {
		return err
	}
	if !got.Confirm {
		r.mu.Lock()
		r.requests++
		for _, b := range got.Bundles {
			r.heights = append(r.heights, b.Bundle.Height)
		}
		r.mu.Unlock()
	}
	return r.w.HandleCrossChainRequest(ctx, &got)
}

// TestAttackDeliveryOfManyHeightsFitsTheTransport confirms many blocks that send to one
// recipient before any delivery, so that the undelivered heights of the pair do not fit
// one transport message. Every bundle must still arrive, exactly once and in order: with
// a limit that a few dozen heights fill, with a limit that lets one height at a time
// through (several passes), and with the gRPC limit and more heights than one request
// may carry.
func TestAttackDeliveryOfManyHeightsFitsTheTransport(t *testing.T) {
	for _, c := range []struct {
		name        string
		heights     int
		limit       int
		minRequests int
	}{
		{"4 KiB transport", 60, 4 << 10, 2},
		{"one height per request", 40, 200, 40},
		{"gRPC limit, height cap", 2*worker.MaxCrossChainHeights + 5, 16 << 20, 3},
	} {
		t.Run(c.name, func(t *testing.T) { testDeliveryFits(t, c.heights, c.limit, c.minRequests) })
	}
}

func testDeliveryFits(t *testing.T, n, limit, minRequests int) {
	ctx := context.Background()
	f := newFixture(t)
	db := memkv.New()
	defer db.Close()
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, f.genesis)
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	router := &limitedRouter{limit: limit}
	w := worker.New(worker.Config{Storage: st, Signer: f.keys[0], Clock: fixedClock{10_000_000}, Router: router})
	router.w = w

	var prev *base.Hash
	var one int
	for h := 0; h < n; h++ {
		block := f.transfer(base.AmountFromAttos(1), base.BlockHeight(h), prev)
		exec := executed(t, w, &block)
		if h == 0 {
			one = len(codec.Marshal(&protocol.CrossChainRequest{Sender: f.chains[0], Recipient: f.chains[1],
				Bundles: []protocol.EpochBundle{{Bundle: exec.OutgoingBundles()[f.chains[1]][0]}}}))
		}
		cert := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, f.keys)
		if _, err := w.HandleCertificate(ctx, cert); err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		hash := exec.Hash()
		prev = &hash
	}
	passes := 0
	for ; passes < 20 && w.HasPendingDeliveries(); passes++ {
		if err := w.DeliverPending(ctx); err != nil {
			t.Logf("pass %d: %v", passes, err)
		}
	}
	if w.HasPendingDeliveries() {
		t.Errorf("deliveries still pending after 20 passes (%d requests refused by the transport)", router.refused)
	}
	if router.refused > 0 {
		t.Errorf("the transport refused %d oversized requests", router.refused)
	}
	if router.requests < minRequests {
		t.Errorf("%d requests, want at least %d", router.requests, minRequests)
	}
	// Every height arrived exactly once, in order.
	if len(router.heights) != n {
		t.Errorf("%d bundles carried, want %d", len(router.heights), n)
	}
	for i, h := range router.heights {
		if h != base.BlockHeight(i) {
			t.Fatalf("bundle %d carried height %d: not in order or not exactly once", i, h)
		}
	}
	info, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: f.chains[1], RequestPendingBundles: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(info.RequestedPendingBundles); got != n {
		t.Fatalf("recipient holds %d bundles, want %d", got, n)
	}
	for i, ib := range info.RequestedPendingBundles {
		if ib.Bundle.Height != base.BlockHeight(i) || ib.Origin != f.chains[0] {
			t.Fatalf("pending bundle %d is from %s at height %d", i, ib.Origin.Short(), ib.Bundle.Height)
		}
	}
	t.Logf("%d heights of about %d bytes delivered in %d requests and %d passes under a %d-byte limit", n, one, router.requests, passes, limit)
}

// TestDeliveryRecordsKeptWhileUsed: a chain sending to the same recipient block after
// block keeps its pending-delivery record instead of putting it with each certificate
// and deleting it with each confirmation. The record is stored whenever the outbox holds
// heights (from the certificate's write on), a block that no longer sends there deletes
// it, and a validator restarted on the store (Recover) delivers what is left and
// deletes the records with nothing to deliver.
func TestDeliveryRecordsKeptWhileUsed(t *testing.T) {
	const chains = 3
	ctx := context.Background()
	cs := &writeCountingStore{Store: memkv.New()}
	r := newValidatorRing(t, chains, cs, nil)
	st := storage.New(cs)
	records := func() map[[2]base.ChainID]bool {
		out := map[[2]base.ChainID]bool{}
		if err := st.PendingDeliveries(ctx, func(s, rc base.ChainID) error {
			out[[2]base.ChainID{s, rc}] = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for n := range 3 * chains {
		i := r.next
		pair := [2]base.ChainID{r.ids[i], r.ids[(i+1)%chains]}
		calls := 0
		r.block(t, 1, func(f func() error) {
			if err := f(); err != nil {
				t.Fatal(err)
			}
			if calls++; calls == 3 && !records()[pair] { // the certificate: the outbox holds its height
				t.Fatalf("block %d: no pending-delivery record after the certificate", n)
			}
		})
		if n == chains-1 {
			cs.reset()
		}
	}
	cs.mu.Lock()
	if got := cs.byKind["P"]; got != 0 {
		t.Errorf("%d pending-delivery records written in 6 blocks to the same recipients, want 0", got)
	}
	cs.mu.Unlock()
	if got := len(records()); got != chains {
		t.Fatalf("%d records stored, want %d (stale, kept for the next block)", got, chains)
	}

	// A block sending nothing deletes its chain's stale record.
	i := r.next
	r.block(t, 0, nil)
	if records()[[2]base.ChainID{r.ids[i], r.ids[(i+1)%chains]}] {
		t.Fatal("a block sending nothing kept the stale record")
	}
	if got := len(records()); got != chains-1 {
		t.Fatalf("%d records stored, want %d", got, chains-1)
	}

	// A restart: the records are found, there is nothing to deliver, and they go.
	w := worker.New(worker.Config{Storage: storage.New(cs), Signer: r.vkeys[0], Clock: fixedClock{10_000_000}})
	if err := w.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if n := w.PendingDeliveries(); n != chains-1 {
		t.Fatalf("%d deliveries recovered, want %d", n, chains-1)
	}
	if err := w.DeliverPending(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(records()); got != 0 {
		t.Fatalf("%d records left after delivering nothing, want 0", got)
	}
}
