package rpc

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/gopool"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// fakeEntries returns one entry per chain of chains (a chain may repeat), each
// running run(k) for its index k.
func fakeEntries(chains []byte, run func(k int) error) []*batchEntry {
	entries := make([]*batchEntry, len(chains))
	for k, c := range chains {
		entries[k] = &batchEntry{chain: base.ChainID{c}, run: func(context.Context, *batchEntry) (*pb.ChainInfoResponse, error) {
			if err := run(k); err != nil {
				return nil, err
			}
			return infoResult(&protocol.ChainInfo{ChainID: base.ChainID{c}}, nil), nil
		}}
	}
	return entries
}

// TestRunBatchParallelism: the groups of a batch run at most batchParallelism at once,
// and all of them as soon as that many run (the caller and its helpers all take
// groups); the items of one chain run in order.
func TestRunBatchParallelism(t *testing.T) {
	const chains = 2 * batchParallelism
	var ids []byte
	for c := range chains {
		ids = append(ids, byte(c), byte(c)) // two items per chain
	}
	var running, peak atomic.Int32
	release := make(chan struct{})
	var mu sync.Mutex
	order := map[byte][]int{}
	entries := fakeEntries(ids, func(k int) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		mu.Lock()
		order[ids[k]] = append(order[ids[k]], k)
		mu.Unlock()
		<-release
		return nil
	})
	results := make([]*pb.BatchResult, len(entries))
	done := make(chan struct{})
	workers := gopool.New(batchWorkersIdle, time.Minute)
	go func() {
		defer close(done)
		runBatch(context.Background(), entries, results, newBatchSlots(maxBatchItemsInFlight, maxBatchItemsInFlight), workers)
	}()
	waitFor(t, "batchParallelism items running", func() bool { return running.Load() == batchParallelism })
	time.Sleep(20 * time.Millisecond) // room for an item too many to start
	if p := peak.Load(); p != batchParallelism {
		t.Errorf("%d items ran at once, want %d", p, batchParallelism)
	}
	close(release)
	<-done
	for k, r := range results {
		if _, err := resultOf(r); err != nil {
			t.Errorf("item %d: %v", k, err)
		}
	}
	for c, ks := range order {
		if len(ks) != 2 || ks[0] > ks[1] {
			t.Errorf("chain %d: items ran in the order %v", c, ks)
		}
	}
}

// TestRunBatchPanicIsItemError: an item that panics, on the caller's goroutine or on
// a helper, gets an internal error as its result; the other items their answers.
func TestRunBatchPanicIsItemError(t *testing.T) {
	workers := gopool.New(batchWorkersIdle, time.Minute)
	for _, n := range []int{1, 3, 16} {
		ids := make([]byte, n)
		for k := range ids {
			ids[k] = byte(k)
		}
		panics := map[int]bool{0: true, n - 1: true}
		entries := fakeEntries(ids, func(k int) error {
			if panics[k] {
				panic("item exploded")
			}
			return nil
		})
		results := make([]*pb.BatchResult, n)
		runBatch(context.Background(), entries, results, newBatchSlots(maxBatchItemsInFlight, maxBatchItemsInFlight), workers)
		for k, r := range results {
			_, err := resultOf(r)
			if panics[k] {
				if err == nil || !strings.Contains(err.Error(), "item exploded") {
					t.Errorf("%d items: panicking item %d: %v, want its panic as an error", n, k, err)
				}
			} else if err != nil {
				t.Errorf("%d items: item %d: %v", n, k, err)
			}
		}
	}
}

// TestBatchServerStartsNoGoroutine: in steady state a batch of 16 chains' proposals
// starts no goroutine on the validator: its groups run on the handler's goroutine and
// on pooled helpers (main started one goroutine per chain, 16 per batch).
func TestBatchServerStartsNoGoroutine(t *testing.T) {
	const chains = 16
	keys := ownerKeys(chains)
	vkeys := prototest.Validators(4)
	g := prototest.Genesis(prototest.Committee(vkeys), keys, base.Tokens(1000))
	w := worker.New(worker.Config{Storage: newStore(t, g), Signer: vkeys[0], Clock: sysClock{}})
	proxy, err := NewValidatorServer(w, ProxyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch := &pb.Batch{}
	for i, id := range g.ChainIDs() {
		owner := keys[i].Public().Owner()
		block := protocol.ProposedBlock{ChainID: id, Height: 0, Timestamp: base.TimestampFromTime(time.Now()), AuthenticatedOwner: &owner,
			Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: id}, Amount: base.AmountFromAttos(1)})}}
		batch.Items = append(batch.Items, itemOf(signedProposal(t, keys[i], block), nil))
	}
	send := func() {
		resp, err := proxy.HandleBlockProposals(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range resp.GetResults() {
			if info, err := resultOf(r); err != nil || info.Manager.PendingVote == nil {
				t.Fatalf("proposal %d: %v, want a vote", i, err)
			}
		}
	}
	for range 3 { // the helpers start
		send()
	}
	const batches = 20
	before := goroutinesCreated()
	for range batches {
		send() // the same proposals: each chain votes again for its block
	}
	if got := goroutinesCreated() - before; got > batches/10 {
		t.Fatalf("%d goroutines started for %d batches of %d chains, want at most %d", got, batches, chains, batches/10)
	}
}
