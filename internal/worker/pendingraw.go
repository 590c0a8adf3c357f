package worker

import (
	"bytes"
	"context"
	"fmt"

	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
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
// As bytes, a listing is kept (keptListings) and served again while the chain's inbox
// and tip stay the same: anyone may repeat the query about a full inbox.
func (w *Worker) pendingBundles(ctx context.Context, s *chain.State, info *protocol.ChainInfo) error {
	if !w.cfg.PendingBundleBytes {
		bs, err := s.PendingBundles(ctx, maxPendingBundles, maxPendingBundleBytes)
		info.RequestedPendingBundles = bs
		return err
	}
	if p, ok := w.listings.get(s); ok {
		info.SetPendingBundleBytes(p)
		if checkKeptListings {
			return checkKeptListing(ctx, s, p)
		}
		return nil
	}
	p, err := s.PendingBundleBytes(ctx, maxPendingBundles, maxPendingBundleBytes)
	if err != nil {
		return err
	}
	info.SetPendingBundleBytes(p)
	w.listings.put(s, p, info.PendingBundleBytesLen())
	return nil
}

// checkKeptListing panics unless kept, a kept listing, encodes as what s lists now: a
// stale listing would make the owner's next block one the validators reject.
func checkKeptListing(ctx context.Context, s *chain.State, kept protocol.PendingBundleBytes) error {
	p, err := s.PendingBundleBytes(ctx, maxPendingBundles, maxPendingBundleBytes)
	if err != nil {
		return err
	}
	var fresh, old protocol.ChainInfo
	fresh.SetPendingBundleBytes(p)
	old.SetPendingBundleBytes(kept)
	if !bytes.Equal(codec.Marshal(&old), codec.Marshal(&fresh)) {
		panic(fmt.Sprintf("worker: the kept pending-bundle listing of chain %s differs from its inbox's (version %d)", s.ChainID().Short(), s.PendingVersion()))
	}
	return nil
}

// maxPendingBundleBytes bounds the bundles' bytes in one chain-info answer
// (protocol.MaxListedPendingBundleBytes). With the first bundle (at most a block,
// MaxBlockSize) the answer stays under the transport's limit.
const maxPendingBundleBytes = protocol.MaxListedPendingBundleBytes
