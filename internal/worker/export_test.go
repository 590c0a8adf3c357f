package worker

import (
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/protocol"
)

// ReusedExecutions returns the number of confirmed blocks w applied from the execution
// it kept when it voted for or staged them, instead of executing them again.
func ReusedExecutions(w *Worker) uint64 { return w.reused.Load() }

// LoadedState returns the in-memory state of chain id that w holds, or nil.
func LoadedState(w *Worker, id base.ChainID) *chain.State {
	w.mu.Lock()
	e := w.chains[id]
	w.mu.Unlock()
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// SetBundleWaitHooks installs test hooks: onWait runs when a proposal starts waiting for
// a delivery, beforeDeliver before each delivery pass. Call before w is used.
func SetBundleWaitHooks(w *Worker, onWait, beforeDeliver func(sender, recipient base.ChainID)) {
	w.onBundleWait, w.beforeDeliver = onWait, beforeDeliver
}

// SetAfterEntry installs a hook that runs between finding a chain's entry and locking
// it. Call before w is used.
func SetAfterEntry(w *Worker, fn func(base.ChainID)) { w.afterEntry = fn }

// DeliveryRunning reports whether a delivery loop (Run) of w is running.
func DeliveryRunning(w *Worker) bool { return w.running.Load() > 0 }

// CheckDecodable is checkDecodable.
func CheckDecodable(b *protocol.Block, proposalSize int) error {
	return checkDecodable(b, proposalSize)
}

// CheckKeptListings reports whether the build checks every kept pending-bundle listing
// served against a listing made anew (build tag invariants), which reads what keeping
// it saves.
const CheckKeptListings = checkKeptListings

// KeepAllListings makes w keep every pending-bundle listing, however small, at most
// max bytes of them in all. Call before w is used.
func KeepAllListings(w *Worker, max int) { w.listings.min, w.listings.max = 0, max }

// KeptListings returns the number of pending-bundle listings w keeps and their bytes.
func KeptListings(w *Worker) (n, bytes int) {
	w.listings.mu.Lock()
	defer w.listings.mu.Unlock()
	return len(w.listings.byChain), w.listings.bytes
}

// DropState drops w's in-memory state of chain id, as an eviction does: the next
// request loads it anew.
func DropState(w *Worker, id base.ChainID) {
	w.mu.Lock()
	e := w.chains[id]
	w.mu.Unlock()
	if e != nil {
		e.mu.Lock()
		e.state, e.kept, e.records = nil, nil, nil
		e.mu.Unlock()
	}
}

// MaxPendingBundles and MaxPendingBundleBytes bound a chain-info answer's pending
// bundles.
const (
	MaxPendingBundles     = maxPendingBundles
	MaxPendingBundleBytes = maxPendingBundleBytes
)
