package worker

import (
	"context"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// A confirmed certificate may carry the chain-info query of the chain's next block: the
// client that broadcasts block h asks, in the same round trip, what it needs to build
// block h+1 (pending bundles, locked values), instead of querying every validator again
// before h+1. The answer is built by the same code as HandleChainInfoQuery's (chainInfo,
// with its bounds), from the chain's state right after the certificate.

// HandleCertificateQuery is HandleEncodedCertificate (encoded may be nil) whose answer,
// for a confirmed certificate, also answers q: the chain's info as HandleChainInfoQuery
// would give it right after the block (or, for a block executed earlier, now). A nil q
// gives HandleCertificate's answer. q must pass CheckCertificateQuery; nothing is
// executed otherwise.
func (w *Worker) HandleCertificateQuery(ctx context.Context, cert *protocol.Certificate, encoded []byte, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	if q != nil {
		if err := CheckCertificateQuery(cert, q); err != nil {
			return nil, err
		}
	}
	return w.handleCertificateBy(ctx, cert, encoded, nil, q)
}

// CheckCertificateQuery checks what a certificate's query may ask, so that a stranger
// can make a validator compute no more with it than with a chain-info query of its own:
// the certificate must be confirmed and the query must be about the certificate's chain,
// for reading only (no timeout vote, no height test). Its answer has the bounds of the
// query's (maxPendingBundles, the received log's page). Errors are of class
// base.ErrInvalid.
func CheckCertificateQuery(cert *protocol.Certificate, q *protocol.ChainInfoQuery) error {
	if cert.Block == nil {
		return base.Invalidf("a chain-info query can go with a confirmed certificate only, not a %s one", cert.Kind)
	}
	return checkQueryOf(cert.Kind, cert.Block.ChainID(), q)
}

// CheckLiteCertificateQuery is CheckCertificateQuery for a lite certificate.
func CheckLiteCertificateQuery(lite *protocol.LiteCertificate, q *protocol.ChainInfoQuery) error {
	return checkQueryOf(lite.Value.Kind, lite.Value.ChainID, q)
}

// checkQueryOf checks q as the query of a certificate of kind and chain.
func checkQueryOf(kind protocol.CertificateKind, chain base.ChainID, q *protocol.ChainInfoQuery) error {
	switch {
	case kind != protocol.KindConfirmed:
		return base.Invalidf("a chain-info query can go with a confirmed certificate only, not a %s one", kind)
	case q.ChainID != chain:
		return base.Invalidf("the query of a certificate of chain %s is about chain %s", chain.Short(), q.ChainID.Short())
	case q.RequestLeaderTimeout != nil:
		return base.Invalidf("the query of a certificate cannot ask for a timeout vote")
	case q.TestNextBlockHeight != nil:
		return base.Invalidf("the query of a certificate cannot test the height")
	}
	return nil
}
