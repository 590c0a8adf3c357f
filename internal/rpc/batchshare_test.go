package rpc

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/peer"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
)

// heldShard is a Shard whose proposals of held chains run until release is closed; it
// counts the proposals running at once.
type heldShard struct {
	held          map[base.ChainID]bool
	release       chan struct{}
	running, most atomic.Int32
}

func (h *heldShard) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	id := p.Content.Block.ChainID
	if h.held[id] {
		n := h.running.Add(1)
		defer h.running.Add(-1)
		for m := h.most.Load(); n > m && !h.most.CompareAndSwap(m, n); m = h.most.Load() {
		}
		select {
		case <-h.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &protocol.ChainInfo{ChainID: id}, nil
}

var errHeldShard = errors.New("heldShard handles proposals only")

func (h *heldShard) HandleCertificate(context.Context, *protocol.Certificate) (*protocol.ChainInfo, error) {
	return nil, errHeldShard
}

func (h *heldShard) HandleChainInfoQuery(context.Context, *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	return nil, errHeldShard
}

func (h *heldShard) HandleBlob(context.Context, protocol.Blob) error { return errHeldShard }

func fromAddr(ip string) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 4000}})
}

// Attack: one address sends batches whose items together could fill every batch slot
// of the validator, and keeps them running. It runs at most its share at once, and a
// batch from another address still runs at once instead of waiting for a free slot.
func TestBatchItemsShareByAddress(t *testing.T) {
	key := prototest.Key("mallory")
	owner := key.Public().Owner()
	proposal := func(id base.ChainID) *pb.BatchItem {
		p, err := protocol.SignProposal(key, protocol.ProposedBlock{ChainID: id, AuthenticatedOwner: &owner, Timestamp: 1}, base.Round{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return itemOf(p, nil)
	}
	hs := &heldShard{held: map[base.ChainID]bool{}, release: make(chan struct{})}
	const batches, perBatch = maxBatchItemsInFlight / batchParallelism, batchParallelism
	var attack []*pb.Batch
	for b := range batches {
		var items []*pb.BatchItem
		for i := range perBatch {
			id := base.ChainID{0xA, byte(b), byte(i)}
			hs.held[id] = true
			items = append(items, proposal(id))
		}
		attack = append(attack, batchOf(items...))
	}
	g := prototest.Genesis(prototest.Committee(prototest.Validators(4)), []*crypto.PrivateKey{key}, base.Tokens(1))
	proxy, err := NewProxy(ProxyConfig{Shards: []Shard{hs}, Storage: newStore(t, g)})
	if err != nil {
		t.Fatal(err)
	}
	mallory := fromAddr("192.0.2.1")
	var wg sync.WaitGroup
	results := make([]*pb.BatchResults, len(attack))
	for i, b := range attack {
		wg.Go(func() {
			r, err := proxy.HandleBlockProposals(mallory, b)
			if err != nil {
				t.Errorf("attacker's batch %d: %v", i, err)
			}
			results[i] = r
		})
	}
	defer func() {
		select {
		case <-hs.release:
		default:
			close(hs.release)
		}
		wg.Wait()
	}()
	// Every item of the attacker's batches is running or waiting for a slot.
	waitFor(t, "the attacker's items to take their slots", func() bool {
		proxy.batchItems.mu.Lock()
		defer proxy.batchItems.mu.Unlock()
		a := proxy.batchItems.addrs[remoteIP(mallory)]
		return a != nil && a.users == batches*perBatch && int(hs.running.Load()) == min(maxBatchItemsPerAddr, batches*perBatch)
	})
	honest := proposal(base.ChainID{0xB})
	honest.TimeoutMicros = uint64(5 * time.Second / time.Microsecond)
	resp, err := proxy.HandleBlockProposals(fromAddr("198.51.100.7"), batchOf(honest))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resultOf(resp.GetResults()[0]); err != nil {
		t.Fatalf("another address's batch while the attacker's run: %v", err)
	}
	close(hs.release)
	wg.Wait()
	if most := hs.most.Load(); most > maxBatchItemsPerAddr {
		t.Errorf("one address ran %d batch items at once, want at most %d", most, maxBatchItemsPerAddr)
	}
	for i, r := range results {
		for j, it := range r.GetResults() {
			if _, err := resultOf(it); err != nil {
				t.Errorf("attacker's batch %d item %d: %v", i, j, err)
			}
		}
	}
	proxy.batchItems.mu.Lock()
	left := len(proxy.batchItems.addrs)
	proxy.batchItems.mu.Unlock()
	if left != 0 {
		t.Errorf("%d addresses left in the batch slots after every batch ended", left)
	}
}
