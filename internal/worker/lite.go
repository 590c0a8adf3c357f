package worker

import (
	"context"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/metrics"
	"github.com/micachain/mica/internal/protocol"
)

// ErrValueNotHeld: a lite certificate names a block this worker has not executed at
// that height (it holds no confirmed block there, or another one): the caller needs the
// full certificate. Its class is base.ErrNotFound.
var ErrValueNotHeld = fmt.Errorf("%w: certificate value not held", base.ErrNotFound)

// HandleLiteCertificate handles a confirmed certificate sent without its block (a small
// request anyone may send) and answers q (nil: no query, else checked by
// CheckLiteCertificateQuery) from the chain's state, like HandleCertificateQuery.
//
// The only block a lite certificate can name here is one this worker executed: a
// confirmed block is stored with its execution, in one batch. So the block is never read:
// the height index says whether the chain's block at the lite value's height is the one
// it names (32 bytes read), then the signatures are checked against the committees the
// chain trusts (the value's epoch is in the block, so each is tried; a verification is
// remembered, so a replayed certificate costs a lookup). A stranger naming a stored
// block of MaxBlockSize, with forged signatures or genuine ones replayed, makes the
// worker read an index entry and check signatures, not read and decode the block.
//
// Errors: ErrValueNotHeld (class base.ErrNotFound) for a height the chain has not
// executed or another block there; ErrUnknownChain; class base.ErrInvalid if the
// signatures verify against no committee the chain trusts. Unlike a full certificate of
// an epoch the chain no longer trusts, whose block shows the epoch, a lite one cannot be
// told from a forged one and is refused. As for a full certificate of an executed
// block, the chain's deliveries are scheduled again and its new-block notification is
// sent again (the block's event notifications are not: they need the block).
func (w *Worker) HandleLiteCertificate(ctx context.Context, lite *protocol.LiteCertificate, q *protocol.ChainInfoQuery) (info *protocol.ChainInfo, err error) {
	defer w.recovered(&err, "lite certificate")
	v := lite.Value
	if q != nil {
		if err := CheckLiteCertificateQuery(lite, q); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			w.failed(metrics.RequestCertificate, v.ChainID, v.Height, fmt.Errorf("lite certificate: %w", err))
		}
	}()
	if v.Kind != protocol.KindConfirmed {
		return nil, fmt.Errorf("%w: %s certificate %s", ErrValueNotHeld, v.Kind, v.ValueHash.Short())
	}
	var recipients []base.ChainID
	err = w.withChainRead(ctx, v.ChainID, func(s *chain.State) error {
		tip, err := s.Tip(ctx)
		if err != nil {
			return err
		}
		if v.Height >= tip.NextHeight {
			return fmt.Errorf("%w: chain %s is at height %d, the certificate is for %d", ErrValueNotHeld, v.ChainID.Short(), tip.NextHeight, v.Height)
		}
		h, err := w.cfg.Storage.BlockHash(ctx, v.ChainID, v.Height)
		if err != nil {
			return err
		}
		if h != v.ValueHash {
			return fmt.Errorf("%w: block %s is not the block of chain %s at height %d", ErrValueNotHeld, v.ValueHash.Short(), v.ChainID.Short(), v.Height)
		}
		if err := w.checkLiteTrusted(ctx, s, lite); err != nil {
			return err
		}
		if recipients, err = s.NonEmptyOutboxes(ctx); err != nil {
			return err
		}
		info, err = w.chainInfo(ctx, s, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	w.cfg.Metrics.CertificateHandled(protocol.KindConfirmed.String())
	w.enqueue(v.ChainID, recipients)
	w.notify(protocol.Notification{ChainID: v.ChainID, Kind: protocol.ReasonNewBlock, Height: v.Height, Hash: v.ValueHash})
	return info, nil
}

// checkLiteTrusted checks a lite certificate against the committees chain s trusts,
// newest epoch first; it fails with the newest committee's refusal if none verifies it.
func (w *Worker) checkLiteTrusted(ctx context.Context, s *chain.State, lite *protocol.LiteCertificate) error {
	ecs, err := s.Committees(ctx)
	if err != nil {
		return err
	}
	var first error
	for i := len(ecs) - 1; i >= 0; i-- {
		committee, err := w.committee(ctx, ecs[i].CommitteeHash)
		if err != nil {
			return err
		}
		err = w.checkLite(lite, committee)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		return fmt.Errorf("%w: chain %s trusts no epoch", ErrUntrustedEpoch, s.ChainID().Short())
	}
	return base.Invalidf("lite certificate of chain %s at height %d verifies against no committee the chain trusts: %v", lite.Value.ChainID.Short(), lite.Value.Height, first)
}
