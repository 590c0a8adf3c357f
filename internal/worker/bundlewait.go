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

// Waiting for a bundle on its way. A proposal may receive a bundle whose sender's
// confirmed certificate this worker is handling right now, or has handled and is
// delivering to the proposal's chain: validators answer certificates before their
// deliveries end, and the owner of the receiving chain proposes as soon as a quorum has
// answered, so a validator a little behind often sees the proposal first. Refusing it
// (ErrMissingBundle) costs the client a pause and a second proposal; handleProposal
// waits instead, without the chain's lock, for at most Config.BundleWait, and executes
// the proposal again. It waits only for what is under way here: a confirmed
// certificate of the sender at the bundle's height being handled by this worker, or the
// sender's block at that height confirmed here with its (sender, recipient) pair queued
// or being delivered by a running delivery loop (Run). Any other missing bundle (unknown
// sender, height not confirmed or handled here, a sender on another shard, a worker not
// running deliveries, the simulator's) is refused at once, so nobody can make the
// validator wait for bundles that will not come; a certificate that fails its checks
// ends its handling, and the wait with it.

// DefaultBundleWait bounds a proposal's wait for a bundle under way (Config.BundleWait).
const DefaultBundleWait = 100 * time.Millisecond

// errBundleOnItsWay tells handleProposal that its block receives a bundle whose delivery
// is under way here (bundleOnItsWay); it never leaves the worker.
var errBundleOnItsWay = errors.New("incoming bundle on its way")

// bundleKey names a bundle a proposal waits for: its (sender, recipient) pair and the
// sender's height.
type bundleKey struct {
	pair   deliveryKey
	height base.BlockHeight
}

// bundleOnItsWay reports whether err, from executing block, is a bundle missing from
// the inbox whose delivery is under way on this worker, and which bundle.
func (w *Worker) bundleOnItsWay(ctx context.Context, block *protocol.ProposedBlock, err error) (bundleKey, bool) {
	var te *chain.TxError
	if w.cfg.BundleWait <= 0 || !chain.IsMissing(err) || !errors.As(err, &te) || te.Index < 0 || te.Index >= len(block.Transactions) {
		return bundleKey{}, false
	}
	b := block.Transactions[te.Index].Bundle
	if b == nil || w.running.Load() == 0 {
		return bundleKey{}, false
	}
	k := bundleKey{pair: deliveryKey{sender: b.Origin, recipient: block.ChainID}, height: b.Bundle.Height}
	w.outMu.Lock()
	handling := w.handlingLocked(k)
	pending := w.pendingOrInflightLocked(k.pair)
	w.outMu.Unlock()
	if handling {
		return k, true
	}
	if !pending {
		return bundleKey{}, false
	}
	if w.recent.get(b.Origin, b.Bundle.Height) == nil {
		if _, err := w.cfg.Storage.BlockHash(ctx, b.Origin, b.Bundle.Height); err != nil {
			return bundleKey{}, false
		}
	}
	return k, true
}

// certificateInFlight records that a confirmed certificate of chain at height is being
// handled, until the returned function is called. Only a certificate whose signatures
// verified is marked (verifiedInFlight): a stranger's certificate must not make
// proposals wait.
func (w *Worker) certificateInFlight(id base.ChainID, h base.BlockHeight) func() {
	ch := chainHeight{id, h}
	w.outMu.Lock()
	w.handling[ch]++
	w.outMu.Unlock()
	return func() {
		w.outMu.Lock()
		defer w.outMu.Unlock()
		if w.handling[ch]--; w.handling[ch] <= 0 {
			delete(w.handling, ch)
		}
		w.waiters.wake(id, func(k bundleKey) bool { return k.height == h })
	}
}

// verifiedInFlight checks the signatures of a confirmed certificate against the
// committee its chain trusts for the block's epoch (verifiedBy: as checkConfirmedCertificate)
// and, if they verify, marks it in flight (certificateInFlight) and returns the
// function ending that. It returns nil, nil when the certificate cannot be checked yet
// (unknown epoch: its handling reports why), and the check's error when its signatures
// do not verify. Verified certificates are cached, so its handling does not verify it
// again.
func (w *Worker) verifiedInFlight(ctx context.Context, cert *protocol.Certificate, verifiedBy *protocol.Committee) (func(), error) {
	block := cert.Block
	var committee *protocol.Committee
	err := w.withChain(ctx, block.ChainID(), func(s *chain.State) error {
		var err error
		committee, err = w.committeeFor(ctx, s, block.Epoch())
		return err
	})
	switch {
	case errors.Is(err, ErrUnknownChain):
		return nil, err
	case err != nil:
		return nil, nil
	}
	if err := w.checkConfirmedCertificate(cert, committee, verifiedBy); err != nil {
		return nil, err
	}
	return w.certificateInFlight(block.ChainID(), block.Height()), nil
}

// handlingLocked reports whether the confirmed certificate that sends bundle k is being
// handled. The caller holds outMu.
func (w *Worker) handlingLocked(k bundleKey) bool {
	return w.handling[chainHeight{k.pair.sender, k.height}] > 0
}

// pendingOrInflightLocked reports whether pair k is queued or being delivered. The
// caller holds outMu.
func (w *Worker) pendingOrInflightLocked(k deliveryKey) bool {
	_, queued := w.pending[k]
	_, busy := w.inflight[k]
	return queued || busy
}

// awaitDelivery waits until the certificate sending bundle k was handled, or k's pair
// delivered bundles or ended a delivery pass (or none of them is under way), and reports
// true; false if timeout fired or ctx ended first.
func (w *Worker) awaitDelivery(ctx context.Context, k bundleKey, timeout <-chan time.Time) bool {
	ch := make(chan struct{}, 1)
	w.outMu.Lock()
	if !w.pendingOrInflightLocked(k.pair) && !w.handlingLocked(k) {
		w.outMu.Unlock()
		return true
	}
	w.waiters.add(k, ch)
	w.outMu.Unlock()
	defer func() {
		w.outMu.Lock()
		defer w.outMu.Unlock()
		w.waiters.remove(k, ch)
	}()
	if w.onBundleWait != nil {
		w.onBundleWait(k.pair.sender, k.pair.recipient)
	}
	select {
	case <-ch:
		return true
	case <-timeout:
	case <-ctx.Done():
	}
	return false
}

// wakeWaitersLocked wakes the proposals waiting for bundles of pair k. The caller
// holds outMu.
func (w *Worker) wakeWaitersLocked(k deliveryKey) {
	w.waiters.wake(k.sender, func(bk bundleKey) bool { return bk.pair.recipient == k.recipient })
}

// bundleWaiters holds the proposals waiting for bundles, by sender chain and bundle, so
// that waking the waiters of one sender (a certificate handled, a pair delivered) costs
// the waiters of that sender, not of all. Not safe for concurrent use: the worker
// guards it with outMu.
//
// Invariant: no empty inner map or slice is kept, so the map is bounded by the waiting
// proposals.
type bundleWaiters map[base.ChainID]map[bundleKey][]chan struct{}

func (bw bundleWaiters) add(k bundleKey, ch chan struct{}) {
	m := bw[k.pair.sender]
	if m == nil {
		m = make(map[bundleKey][]chan struct{}, 1)
		bw[k.pair.sender] = m
	}
	m[k] = append(m[k], ch)
}

func (bw bundleWaiters) remove(k bundleKey, ch chan struct{}) {
	m := bw[k.pair.sender]
	ws := m[k]
	for i, c := range ws {
		if c == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	switch {
	case len(ws) > 0:
		m[k] = ws
	case len(m) > 1:
		delete(m, k)
	default:
		delete(bw, k.pair.sender)
	}
}

// wake wakes the waiters of sender's bundles that match, and returns how many bundles
// it looked at: those of sender alone.
func (bw bundleWaiters) wake(sender base.ChainID, match func(bundleKey) bool) int {
	m := bw[sender]
	for k, chs := range m {
		if !match(k) {
			continue
		}
		for _, ch := range chs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	return len(m)
}

// wakeWaiters wakes the proposals waiting for bundles of pair (sender, recipient).
func (w *Worker) wakeWaiters(sender, recipient base.ChainID) {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	w.wakeWaitersLocked(deliveryKey{sender, recipient})
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

// wait waits for bundle k's delivery (awaitDelivery) within the proposal's bound and
// reports whether the proposal should be executed again with waiting still allowed.
func (pw *proposalWait) wait(ctx context.Context, w *Worker, k bundleKey) bool {
	if pw.timer == nil {
		pw.timer = time.NewTimer(w.cfg.BundleWait)
	}
	pw.waits++
	if w.awaitDelivery(ctx, k, pw.timer.C) {
		w.cfg.Metrics.BundleWaited(metrics.WaitRetried)
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
