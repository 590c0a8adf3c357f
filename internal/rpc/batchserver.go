package rpc

import (
	"context"
	"fmt"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// Batches: HandleBlockProposals and HandleCertificates carry many chains' proposals or
// certificates in one call (see the client side in batchnode.go). Each item is handled
// as the unary method would handle it alone and answered on its own: one refused item
// does not fail the others. Items of one chain are handled one after the other in the
// batch's order; different chains' items run concurrently, at most batchParallelism
// at once (a batch costs the CPU of its items, no more than that many at a time), and
// at most maxBatchItemsInFlight items of all batches run at once: the bound of heavy
// requests (DefaultLimits' MaxInFlight), so batches hold no more executions and
// memory at a time than as many unary requests could. Of those, one remote IP address
// runs at most maxBatchItemsPerAddr at once (DefaultLimits' MaxInFlightPerAddr, the
// heavy unary requests one address may have in flight): an address whose batches
// carry more items waits for its own share, so it cannot take every slot and starve
// other addresses' batches (batchSlots).
// The signatures of a batch's certificates are verified in one batch equation
// (CertificateBatchVerifier) before the items run; a batch that does not verify is
// left to each item's own check, so a bad certificate is refused alone and none is
// accepted without all its signatures checked.
//
// A batch is bounded like any request: at most maxBatchItems items, batchBudget bytes
// (its row of limits.go's MethodTable), and it takes one heavy in-flight slot.
const (
	// maxBatchItems bounds the items of one batch.
	maxBatchItems = 64
	// maxBatchBytes bounds the payload and query bytes of one batch's items (client
	// side: a larger item goes alone, by the unary method or in chunks).
	maxBatchBytes = UnaryLimit - 8<<10
	// batchBudget is the byte budget of a batch request: maxBatchBytes and the framing
	// of maxBatchItems items (at most 32 bytes each), under UnaryLimit so that a batch
	// is never refused from its length prefix. A batch takes a heavy in-flight slot
	// (its row's Heavy).
	batchBudget = maxBatchBytes + 4<<10
	// batchParallelism bounds the items of one batch handled at once.
	batchParallelism = 8
	// maxBatchItemsInFlight bounds the items of all batches handled at once.
	maxBatchItemsInFlight = 32
	// maxBatchItemsPerAddr bounds the items of one remote IP address's batches
	// handled at once.
	maxBatchItemsPerAddr = 8
)

// batchSlots bounds the batch items handled at once: at most cap(all) over every batch,
// at most perAddr of them from one remote IP address. An item waits for its address's
// share first, then for a slot of all, within its deadline. Safe for concurrent use.
type batchSlots struct {
	all     chan struct{}
	perAddr int

	mu    sync.Mutex
	addrs map[netip.Addr]*addrSlots // Invariant: an entry lives while it has users
}

// addrSlots is one address's share: a slot of ch per item running.
type addrSlots struct {
	ch    chan struct{}
	users int // items of this address running or waiting
}

func newBatchSlots(total, perAddr int) *batchSlots {
	return &batchSlots{all: make(chan struct{}, total), perAddr: perAddr, addrs: map[netip.Addr]*addrSlots{}}
}

// acquire takes a slot for an item from addr, waiting until ctx ends; on success it
// returns the function that gives the slot back.
func (b *batchSlots) acquire(ctx context.Context, addr netip.Addr) (func(), error) {
	b.mu.Lock()
	a := b.addrs[addr]
	if a == nil {
		a = &addrSlots{ch: make(chan struct{}, b.perAddr)}
		b.addrs[addr] = a
	}
	a.users++
	b.mu.Unlock()
	leave := func() {
		b.mu.Lock()
		if a.users--; a.users == 0 {
			delete(b.addrs, addr)
		}
		b.mu.Unlock()
	}
	select {
	case a.ch <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
	select {
	case b.all <- struct{}{}:
	case <-ctx.Done():
		<-a.ch
		leave()
		return nil, ctx.Err()
	}
	return func() {
		<-b.all
		<-a.ch
		leave()
	}, nil
}

// CertificateBatchVerifier is a Shard that verifies the signatures of many
// certificates, of any chains, in one batch ahead of their handling (worker.Worker):
// those that verify are not verified again when handled; the others are checked one by
// one then, and refused if they fail.
type CertificateBatchVerifier interface {
	PreverifyCertificateBatch(ctx context.Context, certs []*protocol.Certificate)
}

var _ CertificateBatchVerifier = (*worker.Worker)(nil)

// batchEntry is one decoded item of a batch.
type batchEntry struct {
	chain base.ChainID
	// run handles the item (ctx carries the item's deadline).
	run func(ctx context.Context) (*pb.ChainInfoResponse, error)
	// timeout is the item's own deadline, relative to the batch's arrival (0: none).
	timeout time.Duration
}

// checkBatch refuses a batch with too many items.
func checkBatch(m *pb.Batch) error {
	if n := len(m.GetItems()); n > maxBatchItems {
		return base.Invalidf("batch of %d items exceeds the limit of %d", n, maxBatchItems)
	}
	return nil
}

func itemTimeout(it *pb.BatchItem) time.Duration {
	us := it.GetTimeoutMicros()
	if us == 0 || us > uint64(time.Hour/time.Microsecond) {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}

// runBatch runs the decoded entries (nil: the item was refused while decoding, its
// result already set) and fills results. Entries of one chain run in order. Each
// entry holds one of slots, for the batch's remote address, while it runs.
func runBatch(ctx context.Context, entries []*batchEntry, results []*pb.BatchResult, slots *batchSlots) {
	// Group by chain, in order of first appearance.
	var groups [][]int
	index := make(map[base.ChainID]int, len(entries))
	for i, e := range entries {
		if e == nil {
			continue
		}
		g, ok := index[e.chain]
		if !ok {
			g = len(groups)
			index[e.chain] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	addr := remoteIP(ctx)
	runGroup := func(g []int) {
		for _, i := range g {
			results[i] = runEntry(ctx, entries[i], slots, addr)
		}
	}
	if len(groups) == 1 {
		runGroup(groups[0])
		return
	}
	sem := make(chan struct{}, batchParallelism)
	var wg sync.WaitGroup
	for _, g := range groups {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			runGroup(g)
		}()
	}
	wg.Wait()
}

// runEntry handles one item under its own deadline. A panic is the item's error: it
// runs on a goroutine of its own, out of reach of the server's recovery.
func runEntry(ctx context.Context, e *batchEntry, slots *batchSlots, addr netip.Addr) (res *pb.BatchResult) {
	defer func() {
		if r := recover(); r != nil {
			res = errorResult(fmt.Errorf("internal error while handling a batch item of chain %s: %v\n%s", e.chain.Short(), r, debug.Stack()))
		}
	}()
	if e.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.timeout)
		defer cancel()
	}
	release, err := slots.acquire(ctx, addr)
	if err != nil {
		return errorResult(fmt.Errorf("%w: %w", base.ErrRetryable, err))
	}
	defer release()
	resp, err := e.run(ctx)
	if err != nil {
		return errorResult(err)
	}
	return &pb.BatchResult{Response: resp}
}

func errorResult(err error) *pb.BatchResult { return &pb.BatchResult{Error: encodeError(err)} }

func infoResult(info *protocol.ChainInfo, q *protocol.ChainInfoQuery) *pb.ChainInfoResponse {
	return &pb.ChainInfoResponse{Payload: codec.Marshal(info), QueryAnswered: q != nil}
}

// HandleBlockProposals implements pb.ValidatorNodeServer: each proposal goes to its
// chain's shard as by HandleBlockProposal.
func (p *Proxy) HandleBlockProposals(ctx context.Context, m *pb.Batch) (*pb.BatchResults, error) {
	if err := checkBatch(m); err != nil {
		return nil, toStatus(err)
	}
	items := m.GetItems()
	results := make([]*pb.BatchResult, len(items))
	entries := make([]*batchEntry, len(items))
	for i, it := range items {
		bp, err := decodePayload[protocol.BlockProposal]("block proposal", it.GetPayload())
		if err != nil {
			results[i] = errorResult(fmt.Errorf("batch item %d: %w", i, err))
			continue
		}
		if len(it.GetQuery()) != 0 {
			results[i] = errorResult(base.Invalidf("batch item %d: a proposal carries no query", i))
			continue
		}
		encoded := it.GetPayload()
		entries[i] = &batchEntry{chain: bp.Content.Block.ChainID, timeout: itemTimeout(it), run: func(ctx context.Context) (*pb.ChainInfoResponse, error) {
			info, err := p.handleProposal(ctx, bp, encoded)
			if err != nil {
				return nil, err
			}
			return infoResult(info, nil), nil
		}}
	}
	runBatch(ctx, entries, results, p.batchItems)
	return &pb.BatchResults{Results: results}, nil
}

// HandleCertificates implements pb.ValidatorNodeServer: each certificate (with its
// query) goes to its chain's shard as by HandleCertificate, after the signatures of
// those whose shard is a CertificateBatchVerifier are verified in one batch per shard.
func (p *Proxy) HandleCertificates(ctx context.Context, m *pb.Batch) (*pb.BatchResults, error) {
	if err := checkBatch(m); err != nil {
		return nil, toStatus(err)
	}
	items := m.GetItems()
	results := make([]*pb.BatchResult, len(items))
	entries := make([]*batchEntry, len(items))
	byShard := make([][]*protocol.Certificate, len(p.cfg.Shards))
	for i, it := range items {
		cert, err := decodePayload[protocol.Certificate]("certificate", it.GetPayload())
		var q *protocol.ChainInfoQuery
		if err == nil {
			q, err = decodeCertificateQuery(it.GetQuery(), cert)
		}
		if err != nil {
			results[i] = errorResult(fmt.Errorf("batch item %d: %w", i, err))
			continue
		}
		s := ShardOf(cert.ChainID(), len(p.cfg.Shards))
		byShard[s] = append(byShard[s], cert)
		encoded := it.GetPayload()
		entries[i] = &batchEntry{chain: cert.ChainID(), timeout: itemTimeout(it), run: func(ctx context.Context) (*pb.ChainInfoResponse, error) {
			info, err := p.handleCertificate(ctx, cert, encoded, q)
			if err != nil {
				return nil, err
			}
			return infoResult(info, q), nil
		}}
	}
	for s, certs := range byShard {
		if bv, ok := p.cfg.Shards[s].(CertificateBatchVerifier); ok && len(certs) > 1 {
			bv.PreverifyCertificateBatch(ctx, certs)
		}
	}
	runBatch(ctx, entries, results, p.batchItems)
	return &pb.BatchResults{Results: results}, nil
}
