package rpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// LiteShard is a Shard that handles a lite certificate itself (worker.Worker, and
// ShardClient over the shard's HandleLiteCertificate): it checks what it can before it
// reads anything (the height index, then the signatures), and never reads the block.
// A shard without it gets the full certificate, which the proxy reads from the store
// first (fullCertificate).
type LiteShard interface {
	HandleLiteCertificate(ctx context.Context, lite *protocol.LiteCertificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error)
}

var (
	_ LiteShard = (*worker.Worker)(nil)
	_ LiteShard = (*ShardClient)(nil)
)

// errNoShardLite: the shard has no HandleLiteCertificate method (it predates it); the
// proxy sends it the full certificate.
var errNoShardLite = errors.New("shard has no lite certificate method")

// takesLite reports whether the proxy should send s lite certificates: a LiteShard
// that, if it can tell (ShardClient.TakesLite), has not answered Unimplemented to the
// method.
func takesLite(s Shard) (LiteShard, bool) {
	ls, ok := s.(LiteShard)
	if t, tells := s.(interface{ TakesLite() bool }); ok && tells {
		ok = t.TakesLite()
	}
	return ls, ok
}

// decodeLiteQuery decodes and checks the query a lite certificate carries (nil if
// none).
func decodeLiteQuery(b []byte, lite *protocol.LiteCertificate) (*protocol.ChainInfoQuery, error) {
	return decodeQueryFor(b, func(q *protocol.ChainInfoQuery) error { return worker.CheckLiteCertificateQuery(lite, q) })
}

// liteError maps the worker's refusal of a lite certificate whose block it has not
// executed to the wire's ErrMissingCertificateValue (its kind travels to the client,
// through the proxy if it came from a remote shard).
func liteError(err error) error {
	if errors.Is(err, worker.ErrValueNotHeld) {
		return fmt.Errorf("%w: %v", ErrMissingCertificateValue, err)
	}
	return err
}

// handleLite answers a lite certificate (with its query bytes, if any) through a shard
// that handles it itself. A lite certificate whose block the shard has not executed is
// answered ErrMissingCertificateValue, for the caller to send the full certificate. A
// remote shard without the method is answered errNoShardLite, unwrapped, for the
// caller to send it the full certificate.
func (p *Proxy) handleLite(ctx context.Context, s LiteShard, lite *protocol.LiteCertificate, query []byte) (*pb.ChainInfoResponse, error) {
	q, err := decodeLiteQuery(query, lite)
	if err != nil {
		return nil, toStatus(err)
	}
	info, err := s.HandleLiteCertificate(ctx, lite, q)
	if errors.Is(err, errNoShardLite) {
		return nil, errNoShardLite
	}
	// A replayed lite certificate is a small request: its answer's manager values are
	// copied from their kept encoding, not encoded again (InfoEncoder).
	return queryResponse(s, info, q, annotateHeight(ctx, liteError(err), nextHeight(p.shard(lite.Value.ChainID), lite.Value.ChainID)))
}
