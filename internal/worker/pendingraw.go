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
//
// Either way the bundles listed are at most maxPendingBundleBytes (or the first bundle
// alone), and listing them reads a bounded multiple of that (chain.State.PendingBundles).
func (w *Worker) pendingBundles(ctx context.Context, s *chain.State, info *protocol.ChainInfo) error {
	if !w.cfg.PendingBundleBytes {
		bs, err := s.PendingBundles(ctx, maxPendingBundles, maxPendingBundleBytes)
		info.RequestedPendingBundles = bs
		return err
	}
	p, err := s.PendingBundleBytes(ctx, maxPendingBundles, maxPendingBundleBytes)
	if err != nil {
		return err
	}
	info.SetPendingBundleBytes(p)
	return nil
}

// maxPendingBundleBytes bounds the bundles' bytes in one chain-info answer, with
// maxPendingBundles their number. A bundle may hold a block's worth of messages (a
// block of 10,000 transfers to one chain is a bundle of about 1 MiB): without it, 64
// such bundles from strangers made the answer to the chain's owner larger than the
// transport takes (rpc.MaxMessageSize, 64 MiB), and the chain could make no block.
// With the first bundle (at most a block, MaxBlockSize) the answer stays under it.
const maxPendingBundleBytes = 16 << 20
