package worker

import (
	"context"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/protocol"
)

// PreverifyCertificateBatch verifies the signatures of certificates of any chains (a
// batch of certificates received in one request) in one batch equation, and remembers
// them as verified if the whole batch verifies, so that HandleCertificate does not
// verify them again. It decides nothing: a certificate whose chain is unknown, whose
// epoch the chain does not trust, or that fails the quorum checks is left out; if the
// batch equation fails, none is remembered, and HandleCertificate checks each one
// alone (so a bad certificate is refused alone, and none is accepted without all its
// signatures checked). At most MaxPreverify certificates are considered.
func (w *Worker) PreverifyCertificateBatch(ctx context.Context, certs []*protocol.Certificate) {
	if len(certs) > MaxPreverify {
		certs = certs[:MaxPreverify]
	}
	bv := w.keys.NewBatchVerifier(3 * len(certs))
	keys := make([]base.Hash, 0, len(certs))
	for _, cert := range certs {
		if cert == nil || (cert.Kind == protocol.KindTimeout) != (cert.Timeout != nil) || (cert.Kind != protocol.KindTimeout) != (cert.Block != nil) {
			continue
		}
		var epoch base.Epoch
		if cert.Block != nil {
			epoch = cert.Block.Epoch()
		} else {
			epoch = cert.Timeout.Epoch
		}
		var committee *protocol.Committee
		err := w.withChainRead(ctx, cert.ChainID(), func(s *chain.State) error {
			var err error
			committee, err = w.committeeFor(ctx, s, epoch)
			return err
		})
		if err != nil {
			continue
		}
		lite := cert.Lite()
		key := verifiedKey(&lite, committee)
		if w.verified.Has(key) {
			continue
		}
		if lite.AddTo(bv, committee) != nil {
			continue
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 || bv.Verify() != nil {
		return
	}
	for _, k := range keys {
		w.verified.Add(k)
	}
}
