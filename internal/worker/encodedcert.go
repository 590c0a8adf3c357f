package worker

import (
	"context"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// HandleVerifiedEncodedCertificate is HandleVerifiedCertificate with the certificate's
// canonical encoding (codec.Marshal(cert)), which the caller made to send the
// certificate too: the worker stores those bytes instead of encoding it again.
func (w *Worker) HandleVerifiedEncodedCertificate(ctx context.Context, cert *protocol.Certificate, encoded []byte, committee *protocol.Committee) (*protocol.ChainInfo, error) {
	if cert.Kind != protocol.KindConfirmed || cert.Block == nil {
		return nil, base.Invalidf("a verified certificate must be a confirmed block certificate, not %s", cert.Kind)
	}
	return w.handleCertificateBy(ctx, cert, encoded, committee, nil)
}
