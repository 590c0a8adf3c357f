package rpc

import (
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
)

// Decoding of envelopes. Every function here takes bytes from the network; each is
// fuzzed (fuzz_test.go) and never panics. Failures are of class base.ErrInvalid.

// maxSubscribedChains bounds the chains of one subscription request.
const maxSubscribedChains = 10_000

func decodePayload[T any, P interface {
	*T
	codec.Decoder
}](what string, b []byte) (*T, error) {
	v := P(new(T))
	if err := codec.Unmarshal(b, v); err != nil {
		return nil, base.Invalidf("malformed %s: %v", what, err)
	}
	return (*T)(v), nil
}

func decodeProposal(m *pb.BlockProposal) (*protocol.BlockProposal, error) {
	return decodePayload[protocol.BlockProposal]("block proposal", m.GetPayload())
}

func decodeCertificate(m *pb.Certificate) (*protocol.Certificate, error) {
	return decodePayload[protocol.Certificate]("certificate", m.GetPayload())
}

func decodeLiteCertificate(m *pb.LiteCertificate) (*protocol.LiteCertificate, error) {
	return decodePayload[protocol.LiteCertificate]("lite certificate", m.GetPayload())
}

func decodeQuery(m *pb.ChainInfoQuery) (*protocol.ChainInfoQuery, error) {
	return decodePayload[protocol.ChainInfoQuery]("chain info query", m.GetPayload())
}

func decodeChainInfo(m *pb.ChainInfoResponse) (*protocol.ChainInfo, error) {
	return decodePayload[protocol.ChainInfo]("chain info", m.GetPayload())
}

// decodeChainInfoMemo is decodeChainInfo sharing pending bundles through memo (nil:
// none; protocol.DecodeChainInfo).
func decodeChainInfoMemo(m *pb.ChainInfoResponse, memo *protocol.DecodeMemo) (*protocol.ChainInfo, error) {
	if memo == nil {
		return decodeChainInfo(m)
	}
	info, err := protocol.DecodeChainInfo(m.GetPayload(), memo)
	if err != nil {
		return nil, base.Invalidf("malformed chain info: %v", err)
	}
	return info, nil
}

func decodeCrossChain(m *pb.CrossChainRequest) (*protocol.CrossChainRequest, error) {
	return decodePayload[protocol.CrossChainRequest]("cross-chain request", m.GetPayload())
}

func decodeNotification(b []byte) (*protocol.Notification, error) {
	return decodePayload[protocol.Notification]("notification", b)
}

func decodeBlob(m *pb.Blob) (protocol.Blob, error) {
	b, err := decodePayload[protocol.Blob]("blob", m.GetPayload())
	if err != nil {
		return protocol.Blob{}, err
	}
	return *b, nil
}

func encodeBlobID(id base.BlobID) []byte {
	var w codec.Writer
	w.BlobID(id)
	return w.Bytes()
}

func decodeBlobID(m *pb.BlobId) (base.BlobID, error) {
	r := codec.NewReader(m.GetId())
	id := r.BlobID()
	if err := r.Finish(); err != nil {
		return base.BlobID{}, base.Invalidf("malformed blob id: %v", err)
	}
	return id, nil
}

func decodeHash(what string, b []byte) (base.Hash, error) {
	var h base.Hash
	if len(b) != len(h) {
		return h, base.Invalidf("malformed %s: %d bytes, want %d", what, len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

// certificatesRequest is a decoded pb.CertificatesRequest.
type certificatesRequest struct {
	chain    base.ChainID
	from, to base.BlockHeight
}

func decodeCertificatesRequest(m *pb.CertificatesRequest) (certificatesRequest, error) {
	h, err := decodeHash("chain id", m.GetChainId())
	if err != nil {
		return certificatesRequest{}, err
	}
	if m.GetTo() < m.GetFrom() {
		return certificatesRequest{}, base.Invalidf("height range [%d, %d) is empty", m.GetFrom(), m.GetTo())
	}
	return certificatesRequest{chain: base.ChainID(h), from: base.BlockHeight(m.GetFrom()), to: base.BlockHeight(m.GetTo())}, nil
}

func decodeCertificates(m *pb.Certificates) ([]*protocol.Certificate, error) {
	out := make([]*protocol.Certificate, 0, len(m.GetPayloads()))
	for i, b := range m.GetPayloads() {
		c, err := decodePayload[protocol.Certificate](fmt.Sprintf("certificate %d", i), b)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func decodeSubscription(m *pb.SubscriptionRequest) ([]base.ChainID, error) {
	ids := m.GetChainIds()
	if len(ids) > maxSubscribedChains {
		return nil, base.Invalidf("subscription to %d chains exceeds the limit of %d", len(ids), maxSubscribedChains)
	}
	out := make([]base.ChainID, 0, len(ids))
	for _, b := range ids {
		h, err := decodeHash("chain id", b)
		if err != nil {
			return nil, err
		}
		out = append(out, base.ChainID(h))
	}
	return out, nil
}
