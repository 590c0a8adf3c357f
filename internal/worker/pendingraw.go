package worker

import (
	"context"

	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/protocol"
)

// pendingBundles puts up to maxPendingBundles of the chain's pending bundles in info:
// as their bytes if the worker's answers are encoded for the network
// (Config.PendingBundleBytes), where Encode copies them as they are, else decoded.
//
// At 100 transfers per block the bundles of every answer to a certificate's query are
// the 100 the block before sent here; decoding them, for the RPC layer to encode them
// again at once, was 7 % of a validator's CPU (issue #11).
func (w *Worker) pendingBundles(ctx context.Context, s *chain.State, info *protocol.ChainInfo) error {
	if !w.cfg.PendingBundleBytes {
		var err error
		info.RequestedPendingBundles, err = s.PendingBundles(ctx, maxPendingBundles)
		return err
	}
	p, err := s.PendingBundleBytes(ctx, maxPendingBundles)
	if err != nil {
		return err
	}
	info.SetPendingBundleBytes(p)
	return nil
}
