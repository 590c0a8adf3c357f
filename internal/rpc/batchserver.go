package rpc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/gopool"
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
	// batchWorkersIdle bounds the idle helpers a server keeps (runBatch): as many as
	// items may run at once.
	batchWorkersIdle = maxBatchItemsInFlight
	// workerIdleTime is how long an idle helper waits for work before it exits.
	workerIdleTime = 10 * time.Second
)

// batchSlots bounds the batch items handled at once: at most total over every batch, at
// most perAddr of them from one remote IP address. A request waits for its address's
// share first, then for slots of all, within its deadline; each wait takes its slots
// at once (a weighted semaphore), so requests that take several (a batch forwarded to
// a remote shard) cannot deadlock by holding some while waiting for more. Safe for
// concurrent use.
type batchSlots struct {
	all     *semaphore.Weighted
	total   int64
	perAddr int64

	mu    sync.Mutex
	addrs map[netip.Addr]*addrSlots // Invariant: an entry lives while it has users
}

// addrSlots is one address's share.
type addrSlots struct {
	sem   *semaphore.Weighted
	users int // requests of this address holding or waiting for slots
}

func newBatchSlots(total, perAddr int) *batchSlots {
	return &batchSlots{all: semaphore.NewWeighted(int64(total)), total: int64(total), perAddr: int64(perAddr), addrs: map[netip.Addr]*addrSlots{}}
}

// acquire takes n slots (at most the address's share) for items from addr, waiting
// until ctx ends; on success the caller gives them back with release.
func (b *batchSlots) acquire(ctx context.Context, addr netip.Addr, n int) (slotGrant, error) {
	k := min(int64(n), b.perAddr, b.total)
	b.mu.Lock()
	a := b.addrs[addr]
	if a == nil {
		a = &addrSlots{sem: semaphore.NewWeighted(b.perAddr)}
		b.addrs[addr] = a
	}
	a.users++
	b.mu.Unlock()
	g := slotGrant{addr: addr, a: a, k: k}
	if err := a.sem.Acquire(ctx, k); err != nil {
		b.leave(g)
		return slotGrant{}, err
	}
	if err := b.all.Acquire(ctx, k); err != nil {
		a.sem.Release(k)
		b.leave(g)
		return slotGrant{}, err
	}
	return g, nil
}

// slotGrant is what acquire took: k slots of all and of addr's share a.
type slotGrant struct {
	addr netip.Addr
	a    *addrSlots
	k    int64
}

// release gives back the slots of g.
func (b *batchSlots) release(g slotGrant) {
	b.all.Release(g.k)
	g.a.sem.Release(g.k)
	b.leave(g)
}

// leave drops g's request from its address's users.
func (b *batchSlots) leave(g slotGrant) {
	b.mu.Lock()
	if g.a.users--; g.a.users == 0 {
		delete(b.addrs, g.addr)
	}
	b.mu.Unlock()
}

// CertificateBatchVerifier is a Shard that verifies the signatures of many
// certificates, of any chains, in one batch ahead of their handling (worker.Worker):
// those that verify are not verified again when handled; the others are checked one by
// one then, and refused if they fail.
type CertificateBatchVerifier interface {
	PreverifyCertificateBatch(ctx context.Context, certs []*protocol.Certificate)
}

var _ CertificateBatchVerifier = (*worker.Worker)(nil)

// BatchShard is a Shard that takes the items of a batch for its chains in one call
// (*ShardClient: the internal service's batch methods). Each returns one result per
// item, in order, or an error for the whole call; TakesBatches reports false once the
// shard answered that it has no batch methods (its items then go one call each).
type BatchShard interface {
	HandleBlockProposalBatch(ctx context.Context, b *pb.Batch) (*pb.BatchResults, error)
	HandleCertificateBatch(ctx context.Context, b *pb.Batch) (*pb.BatchResults, error)
	TakesBatches() bool
}

var _ BatchShard = (*ShardClient)(nil)

// batchEntry is one decoded item of a batch.
type batchEntry struct {
	chain base.ChainID
	// item is the item as received (forwarded as it is to a BatchShard).
	item *pb.BatchItem
	// proposal is the item's proposal (HandleBlockProposals), nil for a certificate.
	proposal *protocol.BlockProposal
	// cert is the item's certificate (HandleCertificates), nil for a proposal; query
	// is the query it carries, if any.
	cert  *protocol.Certificate
	query *protocol.ChainInfoQuery
	// run handles the entry (ctx carries the item's deadline); one function for all the
	// entries of a batch.
	run func(ctx context.Context, e *batchEntry) (*pb.ChainInfoResponse, error)
	// deadline is the item's own deadline: its timeout from the batch's arrival, before
	// the batch was decoded (zero: none).
	deadline time.Time
}

// proposalEntries decodes the items of a batch of proposals into entries that handle
// each by handle; an item refused while decoding has a nil entry and its result set.
// The entries share one allocation and one run function.
func proposalEntries(items []*pb.BatchItem, results []*pb.BatchResult, handle func(context.Context, *protocol.BlockProposal, []byte) (*protocol.ChainInfo, error)) []*batchEntry {
	arrived := time.Now()
	entries := make([]*batchEntry, len(items))
	backing := make([]batchEntry, len(items))
	run := func(ctx context.Context, e *batchEntry) (*pb.ChainInfoResponse, error) {
		info, err := handle(ctx, e.proposal, e.item.GetPayload())
		if err != nil {
			return nil, err
		}
		return infoResult(info, nil), nil
	}
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
		backing[i] = batchEntry{chain: bp.Content.Block.ChainID, item: it, proposal: bp, deadline: itemDeadline(it, arrived), run: run}
		entries[i] = &backing[i]
	}
	return entries
}

// certificateEntries is proposalEntries for a batch of certificates with their queries,
// each decoded by decode (Proxy.decodeCertificate, or a shard's worker).
func certificateEntries(items []*pb.BatchItem, results []*pb.BatchResult, decode func([]byte) (*protocol.Certificate, error), handle func(context.Context, *protocol.Certificate, []byte, *protocol.ChainInfoQuery) (*protocol.ChainInfo, error)) []*batchEntry {
	arrived := time.Now()
	entries := make([]*batchEntry, len(items))
	backing := make([]batchEntry, len(items))
	run := func(ctx context.Context, e *batchEntry) (*pb.ChainInfoResponse, error) {
		info, err := handle(ctx, e.cert, e.item.GetPayload(), e.query)
		if err != nil {
			return nil, err
		}
		return infoResult(info, e.query), nil
	}
	for i, it := range items {
		cert, err := decode(it.GetPayload())
		var q *protocol.ChainInfoQuery
		if err == nil {
			q, err = decodeCertificateQuery(it.GetQuery(), cert)
		}
		if err != nil {
			results[i] = errorResult(fmt.Errorf("batch item %d: %w", i, err))
			continue
		}
		backing[i] = batchEntry{chain: cert.ChainID(), item: it, cert: cert, query: q, deadline: itemDeadline(it, arrived), run: run}
		entries[i] = &backing[i]
	}
	return entries
}

// checkBatch refuses a batch with too many items.
func checkBatch(m *pb.Batch) error {
	if n := len(m.GetItems()); n > maxBatchItems {
		return base.Invalidf("batch of %d items exceeds the limit of %d", n, maxBatchItems)
	}
	return nil
}

// itemDeadline is an item's own deadline: its TimeoutMicros after arrived (zero: none,
// for 0 or more than an hour).
func itemDeadline(it *pb.BatchItem, arrived time.Time) time.Time {
	us := it.GetTimeoutMicros()
	if us == 0 || us > uint64(time.Hour/time.Microsecond) {
		return time.Time{}
	}
	return arrived.Add(time.Duration(us) * time.Microsecond)
}

// runBatch runs the decoded entries (nil: the item was refused while decoding, its
// result already set) and fills results. Entries of one chain run in order. Each
// entry holds one of slots, for the batch's remote address, while it runs.
//
// The chains' groups of entries run at most batchParallelism at once: on the calling
// goroutine (a gRPC stream worker) and on up to batchParallelism-1 helpers of workers,
// each taking the next group not taken yet until none is left. A batch of one chain
// runs on the caller alone. The helpers are long-lived goroutines (gopool): one started
// per group grew its stack, by copying, every time it went down the handlers' path.
// A helper that finds every group taken (the caller or the others were quicker) ends.
func runBatch(ctx context.Context, entries []*batchEntry, results []*pb.BatchResult, slots *batchSlots, workers *gopool.Pool) {
	// Group by chain, in order of first appearance: heads[g] is the first entry of
	// group g, next[i] the entry after i of its chain (-1: none); one allocation for
	// the three, none per group.
	n := len(entries)
	scratch := make([]int, 3*n)
	heads, tails, next := scratch[:0:n], scratch[n:n:2*n], scratch[2*n:]
	index := make(map[base.ChainID]int, n)
	for i, e := range entries {
		if e == nil {
			continue
		}
		next[i] = -1
		g, ok := index[e.chain]
		if !ok {
			index[e.chain] = len(heads)
			heads = append(heads, i)
			tails = append(tails, i)
			continue
		}
		next[tails[g]] = i
		tails[g] = i
	}
	addr := remoteIP(ctx)
	var taken atomic.Int32
	take := func() {
		for {
			g := int(taken.Add(1)) - 1
			if g >= len(heads) {
				return
			}
			for i := heads[g]; i >= 0; i = next[i] {
				results[i] = runEntry(ctx, entries[i], slots, addr)
			}
		}
	}
	helpers := min(len(heads), batchParallelism) - 1
	var wg sync.WaitGroup
	for range helpers {
		wg.Add(1)
		workers.Go(func() {
			defer wg.Done()
			take()
		})
	}
	take()
	wg.Wait()
}

// runEntry handles one item under its own deadline. A panic is the item's error: it
// may run on a worker goroutine, out of reach of the server's recovery.
func runEntry(ctx context.Context, e *batchEntry, slots *batchSlots, addr netip.Addr) (res *pb.BatchResult) {
	defer func() {
		if r := recover(); r != nil {
			res = errorResult(fmt.Errorf("internal error while handling a batch item of chain %s: %v\n%s", e.chain.Short(), r, debug.Stack()))
		}
	}()
	if !e.deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, e.deadline)
		defer cancel()
	}
	grant, err := slots.acquire(ctx, addr, 1)
	if err != nil {
		return errorResult(fmt.Errorf("%w: %w", base.ErrRetryable, err))
	}
	defer slots.release(grant)
	resp, err := e.run(ctx, e)
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
// chain's shard as by HandleBlockProposal; those of a remote shard that takes batches
// go to it in one call (runSharded).
func (p *Proxy) HandleBlockProposals(ctx context.Context, m *pb.Batch) (*pb.BatchResults, error) {
	if err := checkBatch(m); err != nil {
		return nil, toStatus(err)
	}
	results := make([]*pb.BatchResult, len(m.GetItems()))
	entries := proposalEntries(m.GetItems(), results, p.handleProposal)
	p.runSharded(ctx, entries, results, BatchShard.HandleBlockProposalBatch)
	return &pb.BatchResults{Results: results}, nil
}

// HandleCertificates implements pb.ValidatorNodeServer: each certificate (with its
// query) goes to its chain's shard as by HandleCertificate, after the signatures of
// those whose shard is a CertificateBatchVerifier are verified in one batch per shard;
// those of a remote shard that takes batches go to it in one call (runSharded), which
// verifies them in one batch itself.
func (p *Proxy) HandleCertificates(ctx context.Context, m *pb.Batch) (*pb.BatchResults, error) {
	if err := checkBatch(m); err != nil {
		return nil, toStatus(err)
	}
	results := make([]*pb.BatchResult, len(m.GetItems()))
	entries := certificateEntries(m.GetItems(), results, p.decodeCertificate, p.handleCertificate)
	byShard := make([][]*protocol.Certificate, len(p.cfg.Shards))
	for _, e := range entries {
		if e != nil {
			s := ShardOf(e.chain, len(p.cfg.Shards))
			byShard[s] = append(byShard[s], e.cert)
		}
	}
	for s, certs := range byShard {
		if bv, ok := p.cfg.Shards[s].(CertificateBatchVerifier); ok && len(certs) > 1 {
			bv.PreverifyCertificateBatch(ctx, certs)
		}
	}
	p.runSharded(ctx, entries, results, BatchShard.HandleCertificateBatch)
	return &pb.BatchResults{Results: results}, nil
}

// runSharded runs a batch's entries and fills results: the entries of chains on a
// shard that takes batches (BatchShard, a remote shard) go to it in one call per shard
// (forwardBatch, by forward), the others run here (runBatch), all at once.
func (p *Proxy) runSharded(ctx context.Context, entries []*batchEntry, results []*pb.BatchResult, forward func(BatchShard, context.Context, *pb.Batch) (*pb.BatchResults, error)) {
	n := len(p.cfg.Shards)
	local := entries
	var remote [][]int // by shard: the indices of its entries, if it takes batches
	for i, e := range entries {
		if e == nil {
			continue
		}
		s := ShardOf(e.chain, n)
		if bs, ok := p.cfg.Shards[s].(BatchShard); !ok || !bs.TakesBatches() {
			continue
		}
		if remote == nil {
			remote = make([][]int, n)
			local = slices.Clone(entries)
		}
		remote[s] = append(remote[s], i)
		local[i] = nil
	}
	var wg sync.WaitGroup
	for s, idx := range remote {
		if len(idx) == 0 {
			continue
		}
		wg.Add(1)
		p.workers.Go(func() {
			defer wg.Done()
			if p.forwardBatch(ctx, p.cfg.Shards[s].(BatchShard), forward, entries, idx, results) {
				return
			}
			// The shard has no batch methods: its items go one call each.
			mine := make([]*batchEntry, len(entries))
			for _, i := range idx {
				if results[i] == nil {
					mine[i] = entries[i]
				}
			}
			runBatch(ctx, mine, results, p.batchItems, p.workers)
		})
	}
	runBatch(ctx, local, results, p.batchItems, p.workers)
	wg.Wait()
}

// forwardBatch sends the entries idx (of chains of shard bs) to it in one call by
// forward, each item with what remains of its deadline, and sets their results. The
// call holds the batch's address as many item slots as the shard runs of its items at
// once (batchParallelism at most). It reports false if the shard has no batch methods
// (nothing set: the caller runs them one call each).
func (p *Proxy) forwardBatch(ctx context.Context, bs BatchShard, forward func(BatchShard, context.Context, *pb.Batch) (*pb.BatchResults, error), entries []*batchEntry, idx []int, results []*pb.BatchResult) bool {
	grant, err := p.batchItems.acquire(ctx, remoteIP(ctx), min(len(idx), batchParallelism))
	if err != nil {
		for _, i := range idx {
			results[i] = errorResult(fmt.Errorf("%w: %w", base.ErrRetryable, err))
		}
		return true
	}
	defer p.batchItems.release(grant)
	b := &pb.Batch{Items: make([]*pb.BatchItem, 0, len(idx))}
	sent := make([]int, 0, len(idx))
	for _, i := range idx {
		it := entries[i].item
		var us uint64
		if d := entries[i].deadline; !d.IsZero() {
			left := time.Until(d)
			if left < time.Microsecond {
				results[i] = errorResult(fmt.Errorf("%w: %w", base.ErrRetryable, context.DeadlineExceeded))
				continue
			}
			us = uint64(left / time.Microsecond)
		}
		b.Items = append(b.Items, &pb.BatchItem{Payload: it.GetPayload(), Query: it.GetQuery(), TimeoutMicros: us})
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return true
	}
	resp, err := forward(bs, ctx, b)
	if errors.Is(err, errNoShardBatches) {
		return false
	}
	if err == nil && len(resp.GetResults()) != len(sent) {
		err = fmt.Errorf("shard answered %d results for a batch of %d items", len(resp.GetResults()), len(sent))
	}
	for j, i := range sent {
		switch {
		case err != nil:
			results[i] = errorResult(err)
		case (resp.Results[j].GetError() == nil) == (resp.Results[j].GetResponse() == nil):
			results[i] = errorResult(fmt.Errorf("shard answered batch item %d with both or neither of a response and an error", j))
		default:
			results[i] = resp.Results[j]
		}
	}
	return true
}
