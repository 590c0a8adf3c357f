package rpc

import (
	"context"

	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// A confirmed certificate can carry a chain-info query about its chain (the `query`
// field of pb.Certificate and pb.LiteCertificate): the validator answers it from the
// chain's state right after the block, and sets ChainInfoResponse.query_answered. A
// client thus learns with block h's broadcast what it needs for block h+1 (see
// client.CertificateQuerier). A validator or shard that predates the field ignores it
// and leaves the flag unset; the caller then asks the query separately, so the answer
// it returns always answers the query.

// QueryShard is a Shard that answers a certificate's query (worker.Worker, ShardClient).
type QueryShard interface {
	// HandleCertificateQuery handles c (strictly decoded from encoded, if not nil) and
	// answers q (nil: no query) from the chain's state after it.
	HandleCertificateQuery(ctx context.Context, c *protocol.Certificate, encoded []byte, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error)
}

var (
	_ QueryShard                = (*worker.Worker)(nil)
	_ QueryShard                = (*ShardClient)(nil)
	_ client.CertificateQuerier = (*Node)(nil)
)

// decodeCertificateQuery decodes the query a certificate carries (nil if none) and
// checks that it may go with the certificate (worker.CheckCertificateQuery), before
// anything is executed.
func decodeCertificateQuery(b []byte, cert *protocol.Certificate) (*protocol.ChainInfoQuery, error) {
	return decodeQueryFor(b, func(q *protocol.ChainInfoQuery) error { return worker.CheckCertificateQuery(cert, q) })
}

// decodeQueryFor decodes the query a certificate carries (nil if none) and checks it
// with check.
func decodeQueryFor(b []byte, check func(*protocol.ChainInfoQuery) error) (*protocol.ChainInfoQuery, error) {
	if len(b) == 0 {
		return nil, nil
	}
	q, err := decodePayload[protocol.ChainInfoQuery]("certificate's chain info query", b)
	if err != nil {
		return nil, err
	}
	if err := check(q); err != nil {
		return nil, err
	}
	return q, nil
}

// encodeQuery returns the encoding of q for a certificate's query field (nil if q is).
func encodeQuery(q *protocol.ChainInfoQuery) []byte {
	if q == nil {
		return nil
	}
	return codec.Marshal(q)
}

// queryResponse is encodedInfoResponse for shard s's answer to a certificate with
// query q.
func queryResponse(s any, info *protocol.ChainInfo, q *protocol.ChainInfoQuery, err error) (*pb.ChainInfoResponse, error) {
	resp, err := encodedInfoResponse(s, info, err)
	if err != nil {
		return nil, err
	}
	resp.QueryAnswered = q != nil
	return resp, nil
}

// unanswered reports whether a certificate's response leaves q unanswered: the
// handler predates queries on certificates, and the caller must ask q separately.
func unanswered(resp *pb.ChainInfoResponse, q *protocol.ChainInfoQuery) bool {
	return q != nil && !resp.GetQueryAnswered()
}
