package worker

import (
	"context"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// keptExecution is the block a chain's entry executed last without changing its state
// (chain.State.ExecuteDetached): the block a validator voted for (handleProposal) or the
// block a client's local node staged (StageBlock). When the confirmed certificate of
// exactly that block arrives on exactly the tip it was executed on, handleConfirmed
// applies it instead of executing the block a second time (chain.Executed says why the
// result is the same). One per chain entry, under the chain's lock; a failed request
// drops it with the state, a restart loses it, and anything else (another block, a moved
// tip) executes as before.
type keptExecution struct {
	x *chain.Executed
	// fromPending are the pending blobs the execution read (a staged block's), which
	// the certificate confirms.
	fromPending []protocol.Blob
}

// keep records the execution x for e's chain, replacing any earlier one.
// Its block is also held for decoding the block's certificate (certreuse.go).
func (w *Worker) keep(e *chainEntry, x *chain.Executed, fromPending []protocol.Blob) {
	e.kept = &keptExecution{x: x, fromPending: fromPending}
	w.held.put(x.Block())
}

// applyKept stages on s the kept execution of block if it is the one kept for e's
// chain on s's tip, and reports whether it did, with the pending blobs it read. The kept
// execution is used at most once.
func (w *Worker) applyKept(ctx context.Context, e *chainEntry, s *chain.State, block *protocol.Block) (bool, []protocol.Blob, error) {
	k := e.kept
	e.kept = nil
	if k == nil || k.x.Hash() != block.Hash() {
		return false, nil, nil
	}
	ok, err := s.ApplyExecuted(ctx, k.x, block.Hash())
	if err != nil || !ok {
		return false, nil, err
	}
	w.reused.Add(1)
	return true, k.fromPending, nil
}

// HandleVerifiedCertificate is HandleCertificate for a confirmed certificate that the
// caller assembled itself from votes it verified one by one against committee, checking
// that the signers are distinct members with a quorum (a client's local node, for the
// blocks the client proposed). If committee is the one the chain trusts for the block's
// epoch, the signatures are not verified again; otherwise the certificate is verified
// as by HandleCertificate. Never for certificates received from others: validators'
// RPC handlers call HandleCertificate.
func (w *Worker) HandleVerifiedCertificate(ctx context.Context, cert *protocol.Certificate, committee *protocol.Committee) (info *protocol.ChainInfo, err error) {
	if cert.Kind != protocol.KindConfirmed || cert.Block == nil {
		return nil, base.Invalidf("a verified certificate must be a confirmed block certificate, not %s", cert.Kind)
	}
	return w.handleCertificateBy(ctx, cert, nil, committee, nil)
}

// checkConfirmedCertificate verifies a confirmed certificate against committee, the one
// the chain trusts for its epoch, unless the caller verified it against that same
// committee (verifiedBy, from HandleVerifiedCertificate; nil otherwise).
func (w *Worker) checkConfirmedCertificate(cert *protocol.Certificate, committee, verifiedBy *protocol.Committee) error {
	if verifiedBy != nil && (verifiedBy == committee || codec.Equal(verifiedBy, committee)) {
		return nil
	}
	return w.checkCertificate(cert, committee)
}
