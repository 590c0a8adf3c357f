package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
)

// ShardClient is a shard reached over gRPC (the ValidatorWorker service), used by the
// proxy (as a Shard and NotificationSource) and by the other shards' routers (as a
// CrossChainHandler). Safe for concurrent use; one connection is shared by every call.
type ShardClient struct {
	c   *conn
	api pb.ValidatorWorkerClient
	// noBatches is set once the shard answered Unimplemented to a batch method.
	noBatches atomic.Bool
	// noLite is set once the shard answered Unimplemented to HandleLiteCertificate.
	noLite atomic.Bool
}

// DialShard returns a client of the shard at address. It does not wait for the
// connection; each call waits for it within the call's deadline (WaitForReady), so a
// shard that starts after its proxy, or restarts, is used as soon as it listens.
func DialShard(address string, opts DialOptions) (*ShardClient, error) {
	opts.WaitForReady = true
	c, err := newConn(address, opts)
	if err != nil {
		return nil, err
	}
	return &ShardClient{c: c, api: pb.NewValidatorWorkerClient(c.cc)}, nil
}

// Close closes the connection.
func (s *ShardClient) Close() error { return s.c.close() }

func (s *ShardClient) info(resp *pb.ChainInfoResponse, err error) (*protocol.ChainInfo, error) {
	if err != nil {
		return nil, err
	}
	info, err := decodeChainInfo(resp)
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", s.c.addr, err)
	}
	return info, nil
}

// HandleBlockProposal implements Shard.
func (s *ShardClient) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	return s.info(unary(ctx, s.c, s.api.HandleBlockProposal, &pb.BlockProposal{Payload: codec.Marshal(p)}))
}

// HandleCertificate implements Shard.
func (s *ShardClient) HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	return s.info(unary(ctx, s.c, s.api.HandleCertificate, &pb.Certificate{Payload: codec.Marshal(c)}))
}

// HandleEncodedBlockProposal implements EncodedShard: encoded is sent as it is.
func (s *ShardClient) HandleEncodedBlockProposal(ctx context.Context, _ *protocol.BlockProposal, encoded []byte) (*protocol.ChainInfo, error) {
	return s.info(unary(ctx, s.c, s.api.HandleBlockProposal, &pb.BlockProposal{Payload: encoded}))
}

// HandleEncodedCertificate implements EncodedShard: encoded is sent as it is.
func (s *ShardClient) HandleEncodedCertificate(ctx context.Context, _ *protocol.Certificate, encoded []byte) (*protocol.ChainInfo, error) {
	return s.info(unary(ctx, s.c, s.api.HandleCertificate, &pb.Certificate{Payload: encoded}))
}

// HandleCertificateQuery implements QueryShard: encoded (if not nil) is sent as it is.
// A shard that predates queries on certificates is asked q separately.
func (s *ShardClient) HandleCertificateQuery(ctx context.Context, c *protocol.Certificate, encoded []byte, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	if encoded == nil {
		encoded = codec.Marshal(c)
	}
	resp, err := unary(ctx, s.c, s.api.HandleCertificate, &pb.Certificate{Payload: encoded, Query: encodeQuery(q)})
	info, err := s.info(resp, err)
	if err != nil || !unanswered(resp, q) {
		return info, err
	}
	return s.HandleChainInfoQuery(ctx, q)
}

// HandleLiteCertificate implements LiteShard: the shard checks lite against its height
// index and the signatures, without reading the block. q, if not nil, was checked by
// worker.CheckLiteCertificateQuery. A shard that predates the method answers
// errNoShardLite (and is not asked again: TakesLite), for the proxy to send it the full
// certificate.
func (s *ShardClient) HandleLiteCertificate(ctx context.Context, lite *protocol.LiteCertificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	if s.noLite.Load() {
		return nil, errNoShardLite
	}
	var unimplemented bool
	resp, err := unary(ctx, s.c, func(ctx context.Context, m *pb.LiteCertificate, opts ...grpc.CallOption) (*pb.ChainInfoResponse, error) {
		r, err := s.api.HandleLiteCertificate(ctx, m, opts...)
		unimplemented = status.Code(err) == codes.Unimplemented
		return r, err
	}, &pb.LiteCertificate{Payload: codec.Marshal(lite), Query: encodeQuery(q)})
	if unimplemented {
		s.noLite.Store(true)
		return nil, errNoShardLite
	}
	info, err := s.info(resp, err)
	if err != nil || !unanswered(resp, q) {
		return info, err
	}
	return s.HandleChainInfoQuery(ctx, q)
}

// TakesLite reports whether the shard takes lite certificates: false once it answered
// Unimplemented to HandleLiteCertificate.
func (s *ShardClient) TakesLite() bool { return !s.noLite.Load() }

// HandleChainInfoQuery implements Shard.
func (s *ShardClient) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	return s.info(unary(ctx, s.c, s.api.HandleChainInfoQuery, &pb.ChainInfoQuery{Payload: codec.Marshal(q)}))
}

// HandleBlob implements Shard.
func (s *ShardClient) HandleBlob(ctx context.Context, b protocol.Blob) error {
	_, err := unary(ctx, s.c, s.api.UploadBlob, &pb.Blob{Payload: codec.Marshal(&b)})
	return err
}

// errNoShardBatches: the shard has no batch methods (it predates them).
var errNoShardBatches = errors.New("shard has no batch methods")

// HandleBlockProposalBatch implements BatchShard: the internal HandleBlockProposals.
func (s *ShardClient) HandleBlockProposalBatch(ctx context.Context, b *pb.Batch) (*pb.BatchResults, error) {
	return s.batch(ctx, s.api.HandleBlockProposals, b)
}

// HandleCertificateBatch implements BatchShard: the internal HandleCertificates.
func (s *ShardClient) HandleCertificateBatch(ctx context.Context, b *pb.Batch) (*pb.BatchResults, error) {
	return s.batch(ctx, s.api.HandleCertificates, b)
}

// TakesBatches implements BatchShard: false once the shard answered Unimplemented to a
// batch method.
func (s *ShardClient) TakesBatches() bool { return !s.noBatches.Load() }

// batch sends b by f; a shard without the method is remembered, and errNoShardBatches
// returned.
func (s *ShardClient) batch(ctx context.Context, f func(context.Context, *pb.Batch, ...grpc.CallOption) (*pb.BatchResults, error), b *pb.Batch) (*pb.BatchResults, error) {
	if s.noBatches.Load() {
		return nil, errNoShardBatches
	}
	var unimplemented bool
	resp, err := unary(ctx, s.c, func(ctx context.Context, b *pb.Batch, opts ...grpc.CallOption) (*pb.BatchResults, error) {
		r, err := f(ctx, b, opts...)
		unimplemented = status.Code(err) == codes.Unimplemented
		return r, err
	}, b)
	if unimplemented {
		s.noBatches.Store(true)
		return nil, errNoShardBatches
	}
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", s.c.addr, err)
	}
	return resp, nil
}

// HandleCrossChainRequest implements CrossChainHandler.
func (s *ShardClient) HandleCrossChainRequest(ctx context.Context, req *protocol.CrossChainRequest) error {
	_, err := unary(ctx, s.c, s.api.HandleCrossChainRequest, &pb.CrossChainRequest{Payload: codec.Marshal(req)})
	return err
}

// Notifications implements NotificationSource: it streams the shard's notifications to
// fn until ctx ends or the stream fails. A malformed notification ends the stream.
func (s *ShardClient) Notifications(ctx context.Context, fn func(n protocol.Notification, dropped uint64)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := s.api.Notifications(ctx, &pb.NotificationsRequest{})
	if err != nil {
		return fromStatus(err)
	}
	for {
		batch, err := st.Recv()
		if err != nil {
			return fromStatus(err)
		}
		dropped := batch.GetDropped()
		for _, b := range batch.GetPayloads() {
			n, err := decodeNotification(b)
			if err != nil {
				return fmt.Errorf("shard %s: %w", s.c.addr, err)
			}
			fn(*n, dropped)
			dropped = 0
		}
	}
}
