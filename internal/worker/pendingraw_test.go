package worker_test

import (
	"bytes"
	"context"
	"fmt"
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

// sendTo makes chain i's next block: k transfers to chain `to`, receiving nothing,
// proposed, certified and delivered.
func (r *validatorRing) sendTo(tb testing.TB, i, to, k int) {
	tb.Helper()
	ctx := context.Background()
	o := r.owners[i].Public().Owner()
	p := protocol.ProposedBlock{ChainID: r.ids[i], Height: r.heights[i], Timestamp: 5_000_000, PreviousBlockHash: r.tips[i], AuthenticatedOwner: &o}
	for range k {
		p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner,
			Recipient: base.Account{Chain: r.ids[to]}, Amount: base.AmountFromAttos(1)}))
	}
	prop, err := protocol.SignProposal(r.owners[i], p, base.FastRound, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := r.w.HandleBlockProposal(ctx, prop); err != nil {
		tb.Fatal(err)
	}
	exec, err := r.w.StageBlock(ctx, &p, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := r.w.HandleCertificate(ctx, prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, r.vkeys)); err != nil {
		tb.Fatal(err)
	}
	if err := r.w.DeliverPending(ctx); err != nil {
		tb.Fatal(err)
	}
	h := exec.Hash()
	r.tips[i] = &h
	r.heights[i]++
}

// pendingInbox is a validator whose chain 0 holds, from each of `origins` other chains,
// the bundles of `blocks` blocks of k transfers (one bundle of one message each), as
// a validator's shards answer (bytes) and as a local node answers (decoded), on one
// store.
type pendingInbox struct {
	r     *validatorRing
	db    kv.Store
	bytes *worker.Worker
	// decoded was started after the ring's last block (it keeps the chain states it
	// loads): see restart.
	decoded *worker.Worker
}

// restart starts decoded again, to read the ring's blocks since it started.
func (p *pendingInbox) restart() {
	p.decoded = worker.New(worker.Config{Storage: storage.New(p.db), Signer: p.r.vkeys[0], Clock: fixedClock{10_000_000}})
}

func newPendingInbox(tb testing.TB, db kv.Store, origins, blocks, k int) *pendingInbox {
	r := newValidatorRing(tb, origins+1, db, nil)
	for range blocks {
		for i := 1; i <= origins; i++ {
			r.sendTo(tb, i, 0, k)
		}
	}
	p := &pendingInbox{r: r, db: db, bytes: r.w}
	p.restart()
	return p
}

// answer is what the RPC layer sends for w's answer to the query for chain 0's pending
// bundles (as infoResult encodes it).
func (p *pendingInbox) answer(tb testing.TB, w *worker.Worker) []byte {
	info, err := w.HandleChainInfoQuery(context.Background(), chainInfoQueryWithBundles(p.r.ids[0]))
	if err != nil {
		tb.Fatal(err)
	}
	return codec.Marshal(info)
}

// TestPendingBundleBytesSameAnswer: a validator giving pending bundles as bytes sends
// the very bytes of one decoding them, for an inbox of one origin and of several, whole
// or partly taken by a block; in the process, ChainInfo.PendingBundles gives the
// decoded bundles.
func TestPendingBundleBytesSameAnswer(t *testing.T) {
	for _, origins := range []int{1, 3} {
		p := newPendingInbox(t, memkv.New(), origins, 2, 7)
		check := func(stage string, want int) {
			t.Helper()
			p.restart()
			a, b := p.answer(t, p.decoded), p.answer(t, p.bytes)
			if !bytes.Equal(a, b) {
				t.Fatalf("%d origins, %s: the answer with bundles as bytes (%d bytes) differs from the decoded one (%d bytes)", origins, stage, len(b), len(a))
			}
			info, err := p.bytes.HandleChainInfoQuery(context.Background(), chainInfoQueryWithBundles(p.r.ids[0]))
			if err != nil {
				t.Fatal(err)
			}
			if len(info.RequestedPendingBundles) != 0 {
				t.Fatalf("%d origins, %s: the validator decoded %d bundles", origins, stage, len(info.RequestedPendingBundles))
			}
			bs, err := info.PendingBundles()
			if err != nil || len(bs) != want {
				t.Fatalf("%d origins, %s: PendingBundles = %d, %v; want %d", origins, stage, len(bs), err, want)
			}
		}
		check("delivered", origins*2*7)
		// Chain 0's block takes them all: nothing left.
		p.r.next = 0
		if got := p.r.block(t, 1, nil); got != origins*2*7 {
			t.Fatalf("chain 0's block received %d bundles, want %d", got, origins*2*7)
		}
		check("taken", 0)
		// New ones arrive.
		p.r.sendTo(t, 1, 0, 3)
		check("after a block", 3)
	}
}

// BenchmarkChainInfoPendingBundles: the answer to a query for the pending bundles of a
// chain whose inbox holds the 100 bundles of one block of 100 transfers from each of 1
// and 16 origins, encoded as the RPC layer sends it: with bundles decoded and encoded
// again (as before), and as their bytes.
func BenchmarkChainInfoPendingBundles(b *testing.B) {
	for _, origins := range []int{1, 16} {
		p := newPendingInbox(b, memkv.New(), origins, 1, 100)
		for _, c := range []struct {
			name string
			w    *worker.Worker
		}{{"decoded", p.decoded}, {"bytes", p.bytes}} {
			b.Run(fmt.Sprintf("origins=%d/bundles=%s", origins, c.name), func(b *testing.B) {
				n := len(p.answer(b, c.w))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					p.answer(b, c.w)
				}
				b.ReportMetric(float64(n), "answer-bytes")
			})
		}
	}
}
