package worker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/metrics"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
)

// enqueue records that sender has bundles to deliver to recipients.
func (w *Worker) enqueue(sender base.ChainID, recipients []base.ChainID) {
	if len(recipients) == 0 {
		return
	}
	w.outMu.Lock()
	for _, r := range recipients {
		w.addPendingLocked(deliveryKey{sender, r})
	}
	w.outMu.Unlock()
	w.wake()
}

// addPendingLocked queues pair k unless it is queued already. The caller holds outMu.
func (w *Worker) addPendingLocked(k deliveryKey) {
	if _, ok := w.pending[k]; !ok {
		w.pending[k] = struct{}{}
		w.queue = append(w.queue, k)
	}
}

// wake tells Run that pairs may be ready.
func (w *Worker) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// HasPendingDeliveries reports whether cross-chain deliveries are waiting or under way.
func (w *Worker) HasPendingDeliveries() bool { return w.PendingDeliveries() > 0 }

// takePending removes from the queue, in queue order, up to max pairs (all if max < 0)
// that may be delivered now and marks them in flight: not those already in flight (a
// pair is delivered by one goroutine at a time, so its heights arrive in order; it stays
// queued and goes when the delivery in flight ends) and not those backing off after
// failures (each call counts as one of their passes).
func (w *Worker) takePending(max int) []deliveryKey {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	var out []deliveryKey
	kept := w.queue[:0]
	for _, k := range w.queue {
		if len(out) == max {
			kept = append(kept, k)
			continue
		}
		if _, busy := w.inflight[k]; busy || w.backingOffLocked(k) {
			kept = append(kept, k)
			continue
		}
		delete(w.pending, k)
		w.inflight[k] = struct{}{}
		out = append(out, k)
	}
	clear(w.queue[len(kept):])
	w.queue = kept
	return out
}

// deliverPair runs one delivery pass for a pair taken by takePending and records its
// outcome: a failed pair is queued again (and backs off), a pair with bundles left is
// queued again. It reports whether the error is worth reporting (noteFailureLocked).
func (w *Worker) deliverPair(ctx context.Context, k deliveryKey) (report bool, err error) {
	if w.beforeDeliver != nil {
		w.beforeDeliver(k.sender, k.recipient)
	}
	more, err := w.deliver(ctx, k.sender, k.recipient)
	w.outMu.Lock()
	defer w.outMu.Unlock()
	delete(w.inflight, k)
	w.wakeWaitersLocked(k)
	if err != nil {
		w.addPendingLocked(k)
		return w.noteFailureLocked(k), err
	}
	delete(w.failures, k)
	if more {
		w.addPendingLocked(k)
	}
	return false, nil
}

// DeliverPending sends every pending (sender, recipient) update once, one pair after the
// other in a deterministic order (the simulator relies on it; Run delivers pairs in
// parallel). Pairs that fail stay pending. It returns the first error worth reporting.
func (w *Worker) DeliverPending(ctx context.Context) error {
	keys := w.takePending(-1)
	slices.SortFunc(keys, func(a, b deliveryKey) int {
		if c := a.sender.Compare(b.sender); c != 0 {
			return c
		}
		return a.recipient.Compare(b.recipient)
	})
	var first error
	for i, k := range keys {
		if ctx.Err() != nil {
			// Hand the pairs not tried back to the queue.
			w.outMu.Lock()
			for _, k := range keys[i:] {
				delete(w.inflight, k)
				w.addPendingLocked(k)
			}
			w.outMu.Unlock()
			return ctx.Err()
		}
		report, err := w.deliverPair(ctx, k)
		if err != nil && report && first == nil {
			first = err
		}
	}
	if w.HasPendingDeliveries() {
		w.wake()
	}
	return first
}

// backingOffLocked reports whether a pair that failed before should sit out this pass
// (and counts the pass). A pair that failed n times waits min(2^n, 64) passes: a
// recipient that is unreachable or unknown is retried ever more rarely, without a clock.
// The caller holds outMu.
func (w *Worker) backingOffLocked(k deliveryKey) bool {
	f, ok := w.failures[k]
	if !ok || f.skip == 0 {
		return false
	}
	f.skip--
	w.failures[k] = f
	return true
}

// noteFailureLocked records a failed delivery and reports whether it is worth reporting
// (the first failure and then every doubling). The caller holds outMu.
func (w *Worker) noteFailureLocked(k deliveryKey) bool {
	f := w.failures[k]
	f.count++
	f.skip = min(1<<min(f.count, 6), 64) - 1
	w.failures[k] = f
	return f.count&(f.count-1) == 0
}

// Limits of one UpdateRecipient request. The undelivered heights of a (sender, recipient)
// pair are sent in chunks that each fit the transport: gRPC refuses messages above its
// size limit (16 MiB), so a pair whose backlog were sent in one request would never be
// delivered.
const (
	// DefaultCrossChainRequestBytes is the byte budget of one request when the router
	// states no smaller limit: a quarter of the transport's 16 MiB.
	DefaultCrossChainRequestBytes = 4 << 20
	// MaxCrossChainHeights bounds the heights carried by one request.
	MaxCrossChainHeights = 64
	// maxChunksPerPass bounds the requests sent for one pair in one DeliverPending
	// pass; a pair with more stays pending for the next pass, so one long backlog does
	// not hold up the other pairs.
	maxChunksPerPass = 16
	// requestOverhead bounds the encoding of a request besides its bundles: the confirm
	// flag, two chain ids and the ULEB128 bundle count.
	requestOverhead = 1 + 32 + 32 + 10
)

// RequestSizeLimiter is implemented by a Router whose transport bounds the size of one
// cross-chain request. The worker then keeps each request within that many encoded bytes
// (and within DefaultCrossChainRequestBytes).
type RequestSizeLimiter interface {
	MaxCrossChainRequestBytes() int
}

// requestBudget is the byte budget of one UpdateRecipient request.
func (w *Worker) requestBudget() int {
	budget := DefaultCrossChainRequestBytes
	if l, ok := w.cfg.Router.(RequestSizeLimiter); ok {
		if n := l.MaxCrossChainRequestBytes(); n > 0 && n < budget {
			budget = n
		}
	}
	return budget
}

// deliver sends sender's undelivered bundles for recipient, in height order, in requests
// of at most MaxCrossChainHeights heights and the request budget in bytes (a single
// height larger than the budget goes alone). It stops at the first failure. It reports
// whether bundles remain after maxChunksPerPass requests.
func (w *Worker) deliver(ctx context.Context, sender, recipient base.ChainID) (more bool, err error) {
	budget := w.requestBudget()
	var after *base.BlockHeight
	for range maxChunksPerPass {
		req, more, err := w.nextChunk(ctx, sender, recipient, after, budget)
		if err == nil && req == nil && after == nil {
			// Nothing to deliver: a record left by a restart (Recover) or a
			// duplicate pass.
			return false, w.dropDeliveryRecord(ctx, sender, recipient)
		}
		if err != nil || req == nil {
			return false, err
		}
		if err := w.route(ctx, req); err != nil {
			return false, err
		}
		if !more {
			return false, nil
		}
		last := req.Bundles[len(req.Bundles)-1].Bundle.Height
		after = &last
	}
	return true, nil
}

// nextChunk builds the next request of undelivered bundles from sender to recipient,
// starting after height after (from the first undelivered height if nil). It reports
// whether undelivered heights remain beyond the request. The request is nil when nothing
// is left.
func (w *Worker) nextChunk(ctx context.Context, sender, recipient base.ChainID, after *base.BlockHeight, budget int) (req *protocol.CrossChainRequest, more bool, err error) {
	var bundles []protocol.EpochBundle
	err = w.withChain(ctx, sender, func(s *chain.State) error {
		heights, err := s.OutboxHeightsAfter(ctx, recipient, after, MaxCrossChainHeights+1)
		if err != nil {
			return err
		}
		size, taken := requestOverhead, 0
		var cw codec.Writer
		for _, h := range heights {
			if taken == MaxCrossChainHeights {
				more = true
				return nil
			}
			cert := w.recent.get(sender, h)
			if cert == nil {
				if cert, err = w.cfg.Storage.CertificateAt(ctx, sender, h); err != nil {
					return fmt.Errorf("outbox of %s: %w", sender.Short(), err)
				}
			}
			add := 0
			these := cert.Block.OutgoingBundlesTo(recipient)
			for i := range these {
				cw.Reset()
				these[i].Encode(&cw)
				add += 4 + cw.Len() // the epoch, then the bundle
			}
			if taken > 0 && size+add > budget {
				more = true
				return nil
			}
			if taken == 0 && size+add > budget {
				w.log.Warn("cross-chain bundles of one height exceed the request budget", "sender", sender.Short(),
					"recipient", recipient.Short(), "height", h, "bytes", add, "budget", budget)
			}
			if bundles == nil {
				bundles = make([]protocol.EpochBundle, 0, len(these))
			}
			for i := range these {
				bundles = append(bundles, protocol.EpochBundle{Epoch: cert.Block.Epoch(), Bundle: these[i]})
			}
			size += add
			taken++
		}
		return nil
	})
	if err != nil || len(bundles) == 0 {
		return nil, false, err
	}
	return &protocol.CrossChainRequest{Sender: sender, Recipient: recipient, Bundles: bundles}, more, nil
}

func (w *Worker) route(ctx context.Context, req *protocol.CrossChainRequest) error {
	if w.cfg.Router == nil {
		return w.HandleCrossChainRequest(ctx, req)
	}
	return w.cfg.Router.RouteCrossChain(ctx, req)
}

// HandleCrossChainRequest processes a request from another worker of the same validator:
// bundles for a recipient chain (answered with a confirmation routed back to the
// sender), or the confirmation that a recipient received bundles.
func (w *Worker) HandleCrossChainRequest(ctx context.Context, req *protocol.CrossChainRequest) (err error) {
	defer w.recovered(&err, "cross-chain request")
	defer func() {
		if err != nil {
			w.failed(metrics.RequestCrossChain, req.Recipient, req.LatestHeight, err)
		} else {
			w.cfg.Metrics.CrossChainHandled()
		}
	}()
	if req.Confirm {
		// The confirmation is written lazily (not waiting for an fsync): if a crash
		// loses it, the sender's outbox still holds the heights and the pending-delivery
		// record is still there, so the restarted worker (Recover) delivers them again
		// and the recipient ignores them by cursor. The receipt it confirms was written
		// before it, so a surviving confirmation always has a surviving receipt (a crash
		// loses a suffix of the writes: kv.LazyWriter).
		//
		// A record known to be stored (chainEntry.records) is kept, stale, for the
		// sender's next block: the next one sending to the recipient needs it again
		// (a ring of chains, a chain paying another, write it and delete it on every
		// block otherwise), and one that does not deletes it.
		return w.withEntry(ctx, req.Sender, func(e *chainEntry) error {
			s := e.state
			changed, err := s.MarkDelivered(ctx, req.Recipient, req.LatestHeight)
			if err != nil || !changed {
				return err
			}
			pending, err := s.HasOutbox(ctx, req.Recipient)
			if err != nil {
				return err
			}
			_, known := e.records[req.Recipient]
			if err := w.commitLazy(ctx, s, func(b *kvBatch) {
				if !pending && !known {
					storage.DeletePendingDelivery(b, req.Sender, req.Recipient)
				}
			}); err != nil {
				return err
			}
			if !pending && known {
				e.records[req.Recipient] = true
			}
			return nil
		})
	}
	if len(req.Bundles) == 0 {
		return nil
	}
	// The receipt is written lazily (not waiting for an fsync). If a crash loses it,
	// it loses every later write too (kv.LazyWriter): the sender's confirmation, which
	// is sent only after this write, so the sender's outbox and pending-delivery record
	// still hold the heights and the restarted worker delivers them again. Anything
	// durable that relies on the receipt is written after it: a vote for a block that
	// receives these bundles is a durable write, which makes the receipt durable first.
	var added []protocol.MessageBundle
	err = w.withChain(ctx, req.Recipient, func(s *chain.State) error {
		var err error
		if added, err = s.ReceiveBundles(ctx, req.Sender, req.Bundles); err != nil {
			return err
		}
		return w.commitLazy(ctx, s, nil)
	})
	if err != nil {
		return err
	}
	if len(added) > 0 {
		w.wakeWaiters(req.Sender, req.Recipient)
	}
	// One notification per height: the bundles of one sending block (one per transaction
	// that sent here: 100 in a 100-transfer block) would make identical notifications.
	for i := range added {
		if i > 0 && added[i].Height == added[i-1].Height {
			continue
		}
		w.notify(protocol.Notification{ChainID: req.Recipient, Kind: protocol.ReasonNewIncomingBundle, Height: added[i].Height, Origin: req.Sender})
	}
	latest := req.Bundles[len(req.Bundles)-1].Bundle.Height
	return w.route(ctx, &protocol.CrossChainRequest{Confirm: true, Sender: req.Sender, Recipient: req.Recipient, LatestHeight: latest})
}

// dropDeliveryRecord deletes sender's pending-delivery record for recipient if the
// outbox is empty and the record is not known (chainEntry.records: one known is stale,
// and the sender's next block deletes or keeps it). Written lazily: a crash that loses
// it leaves a record Recover finds again.
func (w *Worker) dropDeliveryRecord(ctx context.Context, sender, recipient base.ChainID) error {
	return w.withEntry(ctx, sender, func(e *chainEntry) error {
		if _, known := e.records[recipient]; known {
			return nil
		}
		pending, err := e.state.HasOutbox(ctx, recipient)
		if err != nil || pending {
			return err
		}
		return w.commitLazy(ctx, e.state, func(b *kvBatch) { storage.DeletePendingDelivery(b, sender, recipient) })
	})
}

// deliveryRecords returns the pending-delivery records a confirmed block sending to
// recipients puts (those not known stored) and deletes (those stale, that it does not
// send to), in increasing order. recordsWritten updates records once they are written.
func (e *chainEntry) deliveryRecords(recipients []base.ChainID) (put, del []base.ChainID) {
	for _, r := range recipients {
		if _, ok := e.records[r]; !ok {
			put = append(put, r)
		}
	}
	for r, stale := range e.records {
		if stale && !slices.Contains(recipients, r) {
			del = append(del, r)
		}
	}
	slices.SortFunc(del, func(a, b base.ChainID) int { return a.Compare(b) })
	return put, del
}

func (e *chainEntry) recordsWritten(recipients, deleted []base.ChainID) {
	if e.records == nil && len(recipients) > 0 {
		e.records = make(map[base.ChainID]bool, len(recipients))
	}
	for _, r := range recipients {
		e.records[r] = false
	}
	for _, r := range deleted {
		delete(e.records, r)
	}
}

// Recover re-queues the deliveries recorded in storage, for a worker starting on an
// existing store.
func (w *Worker) Recover(ctx context.Context) error {
	return w.cfg.Storage.PendingDeliveries(ctx, func(sender, recipient base.ChainID) error {
		w.enqueue(sender, []base.ChainID{recipient})
		return nil
	})
}

// DeliveryConcurrency bounds the (sender, recipient) pairs Run delivers at once. Each
// pair is delivered by one goroutine at a time, in height order; different pairs do not
// wait for each other, so a recipient chain busy with a block (or a shard slow to
// answer) holds up only its own pairs.
const DeliveryConcurrency = 8

// Run delivers cross-chain requests as they are scheduled, up to DeliveryConcurrency
// pairs at once, and retries failed ones every retry interval, until ctx ends. It
// returns after the deliveries it started have ended.
func (w *Worker) Run(ctx context.Context, retry time.Duration) error {
	if retry <= 0 {
		retry = time.Second
	}
	t := time.NewTimer(retry)
	defer t.Stop()
	w.running.Add(1)
	defer w.running.Add(-1)
	slots := make(chan struct{}, DeliveryConcurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.kick:
		case <-t.C:
			t.Reset(retry)
		}
		// Only this loop takes slots, so the free ones stay free until it takes them.
		for _, k := range w.takePending(cap(slots) - len(slots)) {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				report, err := w.deliverPair(ctx, k)
				<-slots
				if err != nil && report && ctx.Err() == nil {
					w.cfg.Metrics.Failed(metrics.RequestDelivery, errorClass(err))
					w.log.Warn("cross-chain delivery failed; will retry", "sender", k.sender.Short(), "recipient", k.recipient.Short(), "err", err)
				}
				// A slot is free, and the pair may be queued again.
				w.wake()
			}()
		}
	}
}
