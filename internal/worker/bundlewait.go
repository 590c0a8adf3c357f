package worker

import (
	"context"
	"errors"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/metrics"
	"github.com/micachain/mica/internal/protocol"
)

// Waiting for a bundle on its way. A proposal may receive a bundle that its sender's
// certificate, already handled here, put in an outbox whose delivery to the proposal's
// chain is under way on this very worker: validators answer certificates before their
// deliveries end, so the owner of the receiving chain often proposes first. Refusing it
// (ErrMissingBundle) costs the client a pause and a second proposal; handleProposal
// waits for the delivery instead, without the chain's lock, for at most
// Config.BundleWait, and executes the proposal again. It waits only when the delivery is
// real and pending here: the sender's block at the bundle's height is confirmed on this
// worker and its (sender, recipient) pair is queued or being delivered by a running
// delivery loop (Run). Any other missing bundle (unknown sender, height not confirmed
// here, a sender on another shard, a worker not running deliveries, the simulator's) is
// refused at once, so nobody can make the validator wait for bundles that will not come.

// DefaultBundleWait bounds a proposal's wait for a bundle under way (Config.BundleWait).
const DefaultBundleWait = 100 * time.Millisecond

// errBundleOnItsWay tells handleProposal that its block receives a bundle whose delivery
// is under way here (bundleOnItsWay); it never leaves the worker.
var errBundleOnItsWay = errors.New("incoming bundle on its way")

// bundleOnItsWay reports whether err, from executing block, is a bundle missing from
// the inbox whose delivery is pending on this worker, and which pair delivers it.
func (w *Worker) bundleOnItsWay(ctx context.Context, block *protocol.ProposedBlock, err error) (deliveryKey, bool) {
	var te *chain.TxError
	if w.cfg.BundleWait <= 0 || !chain.IsMissing(err) || !errors.As(err, &te) || te.Index < 0 || te.Index >= len(block.Transactions) {
		return deliveryKey{}, false
	}
	b := block.Transactions[te.Index].Bundle
	if b == nil {
		return deliveryKey{}, false
	}
	k := deliveryKey{sender: b.Origin, recipient: block.ChainID}
	if w.running.Load() == 0 || !w.deliveryPending(k) {
		return deliveryKey{}, false
	}
	if w.recent.get(b.Origin, b.Bundle.Height) == nil {
		if _, err := w.cfg.Storage.BlockHash(ctx, b.Origin, b.Bundle.Height); err != nil {
			return deliveryKey{}, false
		}
	}
	return k, true
}

// deliveryPending reports whether pair k is queued or being delivered.
func (w *Worker) deliveryPending(k deliveryKey) bool {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	return w.pendingOrInflightLocked(k)
}

func (w *Worker) pendingOrInflightLocked(k deliveryKey) bool {
	_, queued := w.pending[k]
	_, busy := w.inflight[k]
	return queued || busy
}

// awaitDelivery waits until pair k delivered bundles or ended a delivery pass (or is no
// longer pending), and reports true; false if timeout fired or ctx ended first.
func (w *Worker) awaitDelivery(ctx context.Context, k deliveryKey, timeout <-chan time.Time) bool {
	ch := make(chan struct{}, 1)
	w.outMu.Lock()
	if !w.pendingOrInflightLocked(k) {
		w.outMu.Unlock()
		return true
	}
	w.waiters[k] = append(w.waiters[k], ch)
	w.outMu.Unlock()
	defer func() {
		w.outMu.Lock()
		defer w.outMu.Unlock()
		ws := w.waiters[k]
		for i, c := range ws {
			if c == ch {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(w.waiters, k)
		} else {
			w.waiters[k] = ws
		}
	}()
	if w.onBundleWait != nil {
		w.onBundleWait(k.sender, k.recipient)
	}
	select {
	case <-ch:
		return true
	case <-timeout:
	case <-ctx.Done():
	}
	return false
}

// wakeWaitersLocked wakes the proposals waiting for pair k. The caller holds outMu.
func (w *Worker) wakeWaitersLocked(k deliveryKey) {
	for _, ch := range w.waiters[k] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// wakeWaiters wakes the proposals waiting for pair (sender, recipient).
func (w *Worker) wakeWaiters(sender, recipient base.ChainID) {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	if len(w.waiters) > 0 {
		w.wakeWaitersLocked(deliveryKey{sender, recipient})
	}
}

// proposalWait bounds the waits of one proposal for bundles on their way: one timer
// for all of them, started at the first.
type proposalWait struct {
	timer *time.Timer
	waits int
	done  bool // the bound passed: no more waiting
}

// maxBundleWaits bounds the waits (and so the executions) of one proposal: a block
// receives bundles from a few senders, each delivered in one pass.
const maxBundleWaits = 8

// wait waits for pair k's delivery (awaitDelivery) within the proposal's bound and
// reports whether the proposal should be executed again with waiting still allowed.
func (pw *proposalWait) wait(ctx context.Context, w *Worker, k deliveryKey) bool {
	if pw.timer == nil {
		pw.timer = time.NewTimer(w.cfg.BundleWait)
	}
	pw.waits++
	if w.awaitDelivery(ctx, k, pw.timer.C) {
		w.cfg.Metrics.BundleWaited(metrics.WaitDelivered)
		pw.done = pw.waits >= maxBundleWaits
		return true
	}
	w.cfg.Metrics.BundleWaited(metrics.WaitTimedOut)
	pw.done = true
	return false
}

func (pw *proposalWait) stop() {
	if pw.timer != nil {
		pw.timer.Stop()
	}
}

// refusalReason classifies a proposal's error for mica_proposal_refusals_total.
func refusalReason(err error) string {
	switch {
	case chain.IsMissing(err):
		return metrics.RefusalMissingBundle
	case errors.Is(err, ErrWrongHeight):
		return metrics.RefusalWrongHeight
	case errors.Is(err, ErrBlobsNotFound), errors.Is(err, execution.ErrMissingBlob):
		return metrics.RefusalMissingBlobs
	}
	return metrics.RefusalOther
}
