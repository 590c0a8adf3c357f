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
