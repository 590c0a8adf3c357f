package rpc

import (
	"context"
	"fmt"
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
)

// Node is a validator reached over gRPC. It implements client.ValidatorNode. It is safe
// for concurrent use; every call shares one connection. Proposals and certificates of
// many chains sent at once share batch calls (batchnode.go).
type Node struct {
	c   *conn
	api pb.ValidatorNodeClient

	want base.Hash // expected genesis hash; zero: no check

	proposals, certificates *batcher // natural batching (batchnode.go)

	mu      sync.Mutex
	checked bool  // the network was checked
	wrong   error // the validator belongs to another network
}

var _ client.ValidatorNode = (*Node)(nil)

// Dial returns a node for the validator at address (host:port). It does not wait for
// the connection: calls connect on demand, and a validator that is down makes calls
// fail with a retryable error (ErrUnreachable) rather than making Dial fail. If
// opts.GenesisHash is set, Dial checks the network when the validator answers within
// ctx, and the first call checks it otherwise; a validator of another network is
// refused with ErrWrongNetwork.
func Dial(ctx context.Context, address string, opts DialOptions) (*Node, error) {
	c, err := newConn(address, opts)
	if err != nil {
		return nil, err
	}
	n := &Node{c: c, api: pb.NewValidatorNodeClient(c.cc), want: opts.GenesisHash}
	n.proposals = newBatcher(c, func(ctx context.Context, it *pb.BatchItem) (*pb.ChainInfoResponse, error) {
		if overUnaryLimit(it.Payload, nil) {
			return chunked(ctx, c, "HandleBlockProposalChunks", n.api.HandleBlockProposalChunks, it.Payload, nil)
		}
		return unary(ctx, c, n.api.HandleBlockProposal, &pb.BlockProposal{Payload: it.Payload})
	}, n.api.HandleBlockProposals)
	n.certificates = newBatcher(c, func(ctx context.Context, it *pb.BatchItem) (*pb.ChainInfoResponse, error) {
		return n.certificate(ctx, &pb.Certificate{Payload: it.Payload, Query: it.Query})
	}, n.api.HandleCertificates)
	if !n.want.IsZero() {
		if err := n.CheckNetwork(ctx); err != nil && n.wrongNetwork() != nil {
			_ = c.close()
			return nil, err
		}
	}
	return n, nil
}

// Address returns the validator's address.
func (n *Node) Address() string { return n.c.addr }

// Close closes the connection.
func (n *Node) Close() error { return n.c.close() }

func (n *Node) wrongNetwork() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.wrong
}

// CheckNetwork asks the validator for its genesis hash and compares it with the one
// expected (DialOptions.GenesisHash).
func (n *Node) CheckNetwork(ctx context.Context) error {
	h, err := n.GenesisHash(ctx)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.checked = true
	if h != n.want {
		n.wrong = fmt.Errorf("%w: %s has genesis %s, expected %s", ErrWrongNetwork, n.c.addr, h, n.want)
	}
	return n.wrong
}

// ready checks the network before the first call.
func (n *Node) ready(ctx context.Context) error {
	if n.want.IsZero() {
		return nil
	}
	n.mu.Lock()
	checked, wrong := n.checked, n.wrong
	n.mu.Unlock()
	if checked {
		return wrong
	}
	return n.CheckNetwork(ctx)
}

func (n *Node) info(ctx context.Context, f func(context.Context, *pb.ChainInfoResponse) error) (*protocol.ChainInfo, error) {
	if err := n.ready(ctx); err != nil {
		return nil, err
	}
	var resp pb.ChainInfoResponse
	return n.chainInfo(ctx, &resp, f(ctx, &resp))
}

// chainInfo decodes the answer of a call that returns a chain info, with the memo of
// the caller's fan-out if it has one (client.DecodeMemoOf).
func (n *Node) chainInfo(ctx context.Context, resp *pb.ChainInfoResponse, err error) (*protocol.ChainInfo, error) {
	if err != nil {
		return nil, err
	}
	info, err := decodeChainInfoMemo(resp, client.DecodeMemoOf(ctx))
	if err != nil {
		return nil, fmt.Errorf("validator %s: %w", n.c.addr, err)
	}
	return info, nil
}

func fill(dst *pb.ChainInfoResponse, src *pb.ChainInfoResponse, err error) error {
	if err != nil {
		return err
	}
	dst.Payload = src.GetPayload()
	return nil
}

// encode returns the canonical encoding of v: the one the client's fan-out made once
// for every validator (client.Encoding), else a fresh one.
func encode[T codec.Encoder](ctx context.Context, v T) []byte {
	if b, ok := client.Encoding(ctx, v); ok {
		return b
	}
	return codec.Marshal(v)
}

// encodeQueryFor is encodeQuery with the encoding the client's fan-out made once for
// every validator (client.Encoding), if any.
func encodeQueryFor(ctx context.Context, q *protocol.ChainInfoQuery) []byte {
	if q == nil {
		return nil
	}
	return encode(ctx, q)
}

// HandleBlockProposal implements client.ValidatorNode. A proposal over the unary
// limit (one carrying large blobs) goes in chunks (HandleBlockProposalChunks).
func (n *Node) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	if err := n.ready(ctx); err != nil {
		return nil, err
	}
	resp, err := n.proposals.do(ctx, &pb.BatchItem{Payload: encode(ctx, p)})
	return n.chainInfo(ctx, resp, err)
}

// certificate sends m (a certificate and its query) over HandleCertificate, or over
// HandleCertificateChunks if it is over the unary limit.
func (n *Node) certificate(ctx context.Context, m *pb.Certificate) (*pb.ChainInfoResponse, error) {
	if overUnaryLimit(m.Payload, m.Query) {
		return chunked(ctx, n.c, "HandleCertificateChunks", n.api.HandleCertificateChunks, m.Payload, m.Query)
	}
	return unary(ctx, n.c, n.api.HandleCertificate, m)
}

// HandleCertificate implements client.ValidatorNode: it sends the full certificate
// (in chunks over the unary limit, HandleCertificateChunks).
func (n *Node) HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	if err := n.ready(ctx); err != nil {
		return nil, err
	}
	resp, err := n.certificates.do(ctx, &pb.BatchItem{Payload: encode(ctx, c)})
	return n.chainInfo(ctx, resp, err)
}

// HandleCertificateQuery implements client.CertificateQuerier: it sends the full
// certificate with q, and returns the validator's answer to q from the chain's state
// after the certificate. A validator that predates queries on certificates is asked q
// separately.
func (n *Node) HandleCertificateQuery(ctx context.Context, c *protocol.Certificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	if err := n.ready(ctx); err != nil {
		return nil, err
	}
	resp, err := n.certificates.do(ctx, &pb.BatchItem{Payload: encode(ctx, c), Query: encodeQueryFor(ctx, q)})
	info, err := n.chainInfo(ctx, resp, err)
	if err != nil || !unanswered(resp, q) {
		return info, err
	}
	return n.HandleChainInfoQuery(ctx, q)
}

// HandleLiteCertificate sends a certificate without its value; the validator answers
// ErrMissingCertificateValue if it does not hold the value, and the caller then sends
// the full certificate.
func (n *Node) HandleLiteCertificate(ctx context.Context, c *protocol.LiteCertificate) (*protocol.ChainInfo, error) {
	return n.info(ctx, func(ctx context.Context, dst *pb.ChainInfoResponse) error {
		resp, err := unary(ctx, n.c, n.api.HandleLiteCertificate, &pb.LiteCertificate{Payload: codec.Marshal(c)})
		return fill(dst, resp, err)
	})
}

// HandleChainInfoQuery implements client.ValidatorNode. An answer over ctx's receive
// limit (client.WithReceiveLimit) fails the call.
func (n *Node) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	if err := n.ready(ctx); err != nil {
		return nil, err
	}
	resp, err := unary(ctx, n.c, withReceiveLimit(ctx, n.c, n.api.HandleChainInfoQuery), &pb.ChainInfoQuery{Payload: codec.Marshal(q)})
	return n.chainInfo(ctx, resp, err)
}

// HandleBlob implements client.ValidatorNode (UploadBlob; UploadBlobChunks over the
// unary limit). A validator without the chunked methods fails a request over the limit
// with ErrChunksUnsupported.
func (n *Node) HandleBlob(ctx context.Context, b protocol.Blob) error {
	if err := n.ready(ctx); err != nil {
		return err
	}
	m := &pb.Blob{Payload: codec.Marshal(&b)}
	var err error
	if overUnaryLimit(m.Payload, nil) {
		_, err = chunked(ctx, n.c, "UploadBlobChunks", n.api.UploadBlobChunks, m.Payload, nil)
	} else {
		_, err = unary(ctx, n.c, n.api.UploadBlob, m)
	}
	return err
}

// ReadBlob implements client.ValidatorNode (DownloadBlob). A blob whose content does
// not match id is refused, and so is an answer over ctx's receive limit
// (client.WithReceiveLimit).
func (n *Node) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	if err := n.ready(ctx); err != nil {
		return protocol.Blob{}, err
	}
	resp, err := unary(ctx, n.c, withReceiveLimit(ctx, n.c, n.api.DownloadBlob), &pb.BlobId{Id: encodeBlobID(id)})
	if err != nil {
		return protocol.Blob{}, err
	}
	blob, err := decodeBlob(resp)
	if err != nil {
		return protocol.Blob{}, fmt.Errorf("validator %s: %w", n.c.addr, err)
	}
	if blob.ID() != id {
		return protocol.Blob{}, base.Invalidf("validator %s answered blob %s for %s", n.c.addr, blob.ID(), id)
	}
	return blob, nil
}

// Certificates implements client.ValidatorNode (DownloadCertificates): confirmed
// certificates of a chain from height from, fewer than to-from if the validator
// bounds the answer. The caller checks them. An answer over ctx's receive limit
// (client.WithReceiveLimit) fails the call.
func (n *Node) Certificates(ctx context.Context, chain base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	if err := n.ready(ctx); err != nil {
		return nil, err
	}
	resp, err := unary(ctx, n.c, withReceiveLimit(ctx, n.c, n.api.DownloadCertificates), &pb.CertificatesRequest{ChainId: chain[:], From: uint64(from), To: uint64(to)})
	if err != nil {
		return nil, err
	}
	certs, err := decodeCertificates(resp)
	if err != nil {
		return nil, fmt.Errorf("validator %s: %w", n.c.addr, err)
	}
	return certs, nil
}

// Certificate downloads the confirmed certificate of a block by its hash. An answer over
// ctx's receive limit (client.WithReceiveLimit) fails the call.
func (n *Node) Certificate(ctx context.Context, hash base.Hash) (*protocol.Certificate, error) {
	if err := n.ready(ctx); err != nil {
		return nil, err
	}
	resp, err := unary(ctx, n.c, withReceiveLimit(ctx, n.c, n.api.DownloadCertificate), &pb.CertificateHash{Hash: hash[:]})
	if err != nil {
		return nil, err
	}
	cert, err := decodeCertificate(resp)
	if err != nil {
		return nil, fmt.Errorf("validator %s: %w", n.c.addr, err)
	}
	if cert.Kind != protocol.KindConfirmed || cert.Hash() != hash {
		return nil, base.Invalidf("validator %s answered another certificate than %s", n.c.addr, hash.Short())
	}
	return cert, nil
}

// VersionInfo is what a validator reports about itself.
type VersionInfo struct {
	Version     string
	APIVersion  string
	GenesisHash base.Hash
}

// VersionInfo asks the validator for its version and network.
func (n *Node) VersionInfo(ctx context.Context) (VersionInfo, error) {
	resp, err := unary(ctx, n.c, n.api.GetVersionInfo, &pb.Empty{})
	if err != nil {
		return VersionInfo{}, err
	}
	h, err := decodeHash("genesis hash", resp.GetGenesisHash())
	if err != nil {
		return VersionInfo{}, err
	}
	return VersionInfo{Version: resp.GetVersion(), APIVersion: resp.GetApiVersion(), GenesisHash: h}, nil
}

// GenesisHash asks the validator for the hash of its network's genesis configuration.
func (n *Node) GenesisHash(ctx context.Context) (base.Hash, error) {
	resp, err := unary(ctx, n.c, n.api.GetGenesisHash, &pb.Empty{})
	if err != nil {
		return base.Hash{}, err
	}
	return decodeHash("genesis hash", resp.GetHash())
}

// NotificationStream receives a validator's notifications about some chains.
type NotificationStream struct {
	s       pb.ValidatorNode_SubscribeClient
	cancel  context.CancelFunc
	dropped uint64
}

// Subscribe opens a stream of notifications about chains (every chain if empty). It
// returns once the validator has registered the subscription. The stream lasts until
// ctx ends or Close.
func (n *Node) Subscribe(ctx context.Context, chains []base.ChainID) (*NotificationStream, error) {
	if err := n.ready(ctx); err != nil {
		return nil, err
	}
	req := &pb.SubscriptionRequest{ChainIds: make([][]byte, len(chains))}
	for i := range chains {
		req.ChainIds[i] = chains[i][:]
	}
	ctx, cancel := context.WithCancel(ctx)
	s, err := n.api.Subscribe(ctx, req)
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	if _, err := s.Header(); err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	return &NotificationStream{s: s, cancel: cancel}, nil
}

// Recv returns the next notification. It fails when the stream ends.
func (s *NotificationStream) Recv() (protocol.Notification, error) {
	m, err := s.s.Recv()
	if err != nil {
		return protocol.Notification{}, fromStatus(err)
	}
	s.dropped += m.GetDropped()
	nt, err := decodeNotification(m.GetPayload())
	if err != nil {
		return protocol.Notification{}, err
	}
	return *nt, nil
}

// Dropped returns how many notifications the validator dropped for this stream so far
// (this subscriber was too slow), as reported with the notifications received.
func (s *NotificationStream) Dropped() uint64 { return s.dropped }

// Close ends the stream.
func (s *NotificationStream) Close() { s.cancel() }

// SubscribeNotifications streams notifications about chains to fn until ctx ends or the
// stream breaks (client.NotificationSubscriber).
func (n *Node) SubscribeNotifications(ctx context.Context, chains []base.ChainID, fn func(protocol.Notification)) error {
	return n.SubscribeNotificationsOpened(ctx, chains, nil, fn)
}

// SubscribeNotificationsOpened is SubscribeNotifications that first calls opened, if
// not nil, once the subscription is open (with nil) or has failed (with the error): from
// then on every notification the validator sends about chains reaches fn.
func (n *Node) SubscribeNotificationsOpened(ctx context.Context, chains []base.ChainID, opened func(error), fn func(protocol.Notification)) error {
	s, err := n.Subscribe(ctx, chains)
	if opened != nil {
		opened(err)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		note, err := s.Recv()
		if err != nil {
			return err
		}
		fn(note)
	}
}
