package rpc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/gopool"
	"github.com/micachain/mica/internal/rpc/pb"
)

// Natural batching (client side of HandleBlockProposals and HandleCertificates).
//
// Per connection and kind (proposals, certificates), at most maxBatchInFlight calls are
// in flight. A call that finds a free slot goes at once, alone, by the unary method:
// at low load nothing changes, not even the number of RPCs. Calls that arrive while
// every slot is taken queue; when a slot frees, the queue leaves as one batch call (at
// most maxBatchItems items and maxBatchBytes bytes; a queue of one goes alone by the
// unary method). There is no added delay: a batch forms only while calls wait anyway.
// A batch goes out on one of the batcher's long-lived workers, which keeps sending the
// batches that queue behind it until the queue is empty (drain).
//
// Each caller keeps its own deadline (sent with its item; the batch call lasts until
// the latest one) and its own result or error. A caller whose context ends returns at
// once; its item leaves the queue if not sent yet, and a batch call whose callers have
// all gone is cancelled. An item larger than maxBatchBytes goes alone at once. A
// validator without the batch methods (codes.Unimplemented) gets unary calls from then
// on; the items of the refused batch are sent again one by one.

// maxBatchInFlight is the number of calls of one kind in flight per connection before
// calls queue into batches.
const maxBatchInFlight = 2

// batchWorkerIdleTime is how long a batcher keeps an idle worker (drain).
const batchWorkerIdleTime = 10 * time.Second

// batcher coalesces one kind of call to one validator.
type batcher struct {
	c    *conn
	one  func(ctx context.Context, it *pb.BatchItem) (*pb.ChainInfoResponse, error)
	many func(ctx context.Context, in *pb.Batch, opts ...grpc.CallOption) (*pb.BatchResults, error)

	mu sync.Mutex
	// Invariant: queue is not empty only while inFlight == maxBatchInFlight.
	inFlight    int
	queue       []*batchCall
	unsupported bool // the validator answered Unimplemented: unary calls only

	// workers send the batches (drain): long-lived goroutines, whose stacks stay grown.
	workers *gopool.Pool
}

// batchCall is one caller's item, queued or sent. Records are reused (callPool): a
// record goes back to the pool only once its caller has received the answer, after
// which nothing refers to it (the batch that carried it is done with it before it
// signals done).
type batchCall struct {
	ctx      context.Context
	item     *pb.BatchItem
	size     int
	deadline time.Time
	// done receives one value when resp and err are set (buffered: the sender never
	// waits, even for a caller that left). A reused record's done is empty: its last
	// caller took the value.
	done chan struct{}
	resp *pb.ChainInfoResponse
	err  error
	sent *sentBatch // set (under batcher.mu) when the call leaves the queue
}

// callPool holds batchCall records whose callers took their answers.
var callPool = sync.Pool{New: func() any { return &batchCall{done: make(chan struct{}, 1)} }}

// answer hands c's result to its caller. c must not be used after it.
func (c *batchCall) answer(resp *pb.ChainInfoResponse, err error) {
	c.resp, c.err = resp, err
	c.done <- struct{}{}
}

// release returns the record of a call whose answer its caller took (received from
// done) to callPool.
func (c *batchCall) release() {
	*c = batchCall{done: c.done}
	callPool.Put(c)
}

// sentBatch is a batch call in flight; it is cancelled when its last caller leaves.
type sentBatch struct {
	calls  []*batchCall
	ctx    context.Context
	live   atomic.Int32
	cancel context.CancelFunc
}

func newBatcher(c *conn, one func(context.Context, *pb.BatchItem) (*pb.ChainInfoResponse, error), many func(context.Context, *pb.Batch, ...grpc.CallOption) (*pb.BatchResults, error)) *batcher {
	return &batcher{c: c, one: one, many: many, workers: gopool.New(maxBatchInFlight, batchWorkerIdleTime)}
}

// do sends it, alone or in a batch, and returns its answer.
func (b *batcher) do(ctx context.Context, it *pb.BatchItem) (*pb.ChainInfoResponse, error) {
	size := len(it.Payload) + len(it.Query)
	b.mu.Lock()
	if b.unsupported || size > maxBatchBytes {
		b.mu.Unlock()
		return b.one(ctx, it)
	}
	if b.inFlight < maxBatchInFlight {
		b.inFlight++
		b.mu.Unlock()
		resp, err := b.one(ctx, it)
		b.next()
		return resp, err
	}
	call := callPool.Get().(*batchCall)
	call.ctx, call.item, call.size, call.deadline = ctx, it, size, b.deadline(ctx)
	b.queue = append(b.queue, call)
	b.mu.Unlock()
	select {
	case <-call.done:
		return call.took()
	case <-ctx.Done():
	}
	select {
	case <-call.done: // answered meanwhile
		return call.took()
	default:
	}
	// The caller leaves: the record is not reused (the batch may still answer it).
	b.mu.Lock()
	sent := call.sent
	if sent == nil {
		for i, q := range b.queue {
			if q == call {
				b.queue = append(b.queue[:i], b.queue[i+1:]...)
				break
			}
		}
	}
	b.mu.Unlock()
	if sent != nil && sent.live.Add(-1) == 0 {
		sent.cancel()
	}
	return nil, fromStatus(ctx.Err())
}

// took returns the answer the caller received from done and releases the record.
func (c *batchCall) took() (*pb.ChainInfoResponse, error) {
	resp, err := c.resp, c.err
	c.release()
	return resp, err
}

// deadline is when a call on ctx ends: its context's deadline or the connection's
// call timeout (with the extra time the context asks for), whichever comes first.
func (b *batcher) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(b.c.timeout + client.ExtraCallTime(ctx))
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		return dl
	}
	return d
}

// next gives a freed slot to the queue: a batch of what waits is sent on one of the
// batcher's workers, which keeps the slot (drain), or the slot is released if nothing
// waits.
func (b *batcher) next() {
	if s := b.take(); s != nil {
		b.workers.Go(func() { b.drain(s) })
	}
}

// drain sends s, then the batches that queued meanwhile, one after the other on this
// goroutine, until the queue is empty and the slot released: one hand-off per busy
// period rather than a goroutine per batch.
func (b *batcher) drain(s *sentBatch) {
	for s != nil {
		b.send(s.ctx, s.calls)
		s.cancel()
		s = b.take()
	}
}

// take takes the next batch off the queue for a slot that freed, or releases the slot
// and returns nil if nothing waits.
func (b *batcher) take() *sentBatch {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.inFlight--
		return nil
	}
	n, bytes := 0, 0
	for n < len(b.queue) && n < maxBatchItems && (n == 0 || bytes+b.queue[n].size <= maxBatchBytes) {
		bytes += b.queue[n].size
		n++
	}
	batch := make([]*batchCall, n)
	copy(batch, b.queue)
	b.queue = append(b.queue[:0], b.queue[n:]...)
	sent := &sentBatch{calls: batch}
	sent.live.Store(int32(n))
	if n == 1 {
		sent.ctx = batch[0].ctx
		sent.cancel = func() {}
	} else {
		// The call lasts until the latest caller's deadline, under none of their
		// cancellations; it keeps that caller's values (client.ExtraCallTime).
		latest := batch[0]
		for _, c := range batch[1:] {
			if c.deadline.After(latest.deadline) {
				latest = c
			}
		}
		sent.ctx, sent.cancel = context.WithDeadline(context.WithoutCancel(latest.ctx), latest.deadline)
	}
	for _, c := range batch {
		c.sent = sent
	}
	return sent
}

// send sends batch (taken from the queue) and answers each of its calls.
func (b *batcher) send(ctx context.Context, batch []*batchCall) {
	b.mu.Lock()
	unsupported := b.unsupported
	b.mu.Unlock()
	if unsupported { // queued before a batch was refused
		b.sendEach(batch)
		return
	}
	if len(batch) == 1 {
		c := batch[0]
		c.answer(b.one(c.ctx, c.item))
		return
	}
	now := time.Now()
	// The callers' items go as they are, with their time left: each caller made its
	// own and reads it no more (sendEach, for a refused batch, sends the same ones).
	req := &pb.Batch{Items: make([]*pb.BatchItem, len(batch))}
	for i, c := range batch {
		c.item.TimeoutMicros = uint64(max(c.deadline.Sub(now)/time.Microsecond, 1))
		req.Items[i] = c.item
	}
	unimplemented := false
	many := func(ctx context.Context, in *pb.Batch, opts ...grpc.CallOption) (*pb.BatchResults, error) {
		resp, err := b.many(ctx, in, opts...)
		unimplemented = status.Code(err) == codes.Unimplemented
		return resp, err
	}
	resp, err := unary(ctx, b.c, many, req)
	if unimplemented {
		b.mu.Lock()
		b.unsupported = true
		b.mu.Unlock()
		b.sendEach(batch)
		return
	}
	results := resp.GetResults()
	if err == nil && len(results) != len(batch) {
		err = base.Invalidf("validator %s answered %d results to a batch of %d", b.c.addr, len(results), len(batch))
	}
	for i, c := range batch {
		switch {
		case err != nil:
			c.answer(nil, err)
		case results[i].GetError() != nil:
			c.answer(nil, decodeError(results[i].GetError()))
		case results[i].GetResponse() == nil:
			c.answer(nil, base.Invalidf("validator %s answered neither a response nor an error to a batch item", b.c.addr))
		default:
			c.answer(results[i].GetResponse(), nil)
		}
	}
}

// sendEach sends the calls of a batch one by one, concurrently, each with its own
// context (a validator without the batch methods).
func (b *batcher) sendEach(batch []*batchCall) {
	var wg sync.WaitGroup
	for _, c := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.answer(b.one(c.ctx, c.item))
		}()
	}
	wg.Wait()
}
