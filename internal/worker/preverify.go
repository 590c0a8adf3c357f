package worker

import (
	"context"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/protocol"
)

// MaxPreverify bounds the certificates of one PreverifyCertificates call.
const MaxPreverify = 512

// PreverifyCertificates verifies confirmed certificates of chain id ahead of their
// execution, all their signatures in one batch equation, and remembers those that verify
// so that HandleCertificate does not verify them again. A client that downloads a
// chain's history calls it for the next batches (in parallel, on other cores) while it
// executes the current one.
//
// Each certificate is checked against the committee that the chain, as this node knows
// it now, trusts for the certificate's epoch; a certificate of an epoch the chain does
// not trust (yet) is skipped: HandleCertificate verifies it when the chain gets there.
// Nothing is stored but the verification facts, which hold whatever happens to the
// chain later (they name the committee). It returns an error of class base.ErrInvalid
// if a certificate is not a confirmed certificate of chain id or does not verify (the
// sender of the batch is faulty); then none of the batch is remembered.
func (w *Worker) PreverifyCertificates(ctx context.Context, id base.ChainID, certs []*protocol.Certificate) error {
	if len(certs) > MaxPreverify {
		return base.Invalidf("%d certificates to preverify, at most %d", len(certs), MaxPreverify)
	}
	var trusted map[base.Epoch]*protocol.Committee
	err := w.withChainRead(ctx, id, func(s *chain.State) error {
		ecs, err := s.Committees(ctx)
		if err != nil {
			return err
		}
		trusted = make(map[base.Epoch]*protocol.Committee, len(ecs))
		for _, ec := range ecs {
			c, err := w.committee(ctx, ec.CommitteeHash)
			if err != nil {
				return err
			}
			trusted[ec.Epoch] = c
		}
		return nil
	})
	if err != nil {
		return err
	}
	bv := w.keys.NewBatchVerifier(3 * len(certs))
	keys := make([]base.Hash, 0, len(certs))
	for _, cert := range certs {
		if cert == nil || cert.Kind != protocol.KindConfirmed || cert.Block == nil || cert.ChainID() != id {
			return base.Invalidf("preverify: not a confirmed certificate of chain %s", id.Short())
		}
		committee, ok := trusted[cert.Block.Epoch()]
		if !ok {
			continue
		}
		lite := cert.Lite()
		key := verifiedKey(&lite, committee)
		if w.verified.Has(key) {
			continue
		}
		if err := lite.AddTo(bv, committee); err != nil {
			return base.Invalidf("preverify: certificate of height %d: %v", cert.Height(), err)
		}
		keys = append(keys, key)
	}
	if err := bv.Verify(); err != nil {
		return base.Invalidf("preverify certificates of chain %s: %v", id.Short(), err)
	}
	for _, k := range keys {
		w.verified.Add(k)
	}
	return nil
}
