package rpc

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// maxNotificationBatch bounds the notifications sent in one batch to the proxy.
const maxNotificationBatch = 100

// ShardServer is the internal ValidatorWorker service of one shard: a worker called by
// the validator's proxy and by its other shards. It is safe for concurrent use.
type ShardServer struct {
	pb.UnimplementedValidatorWorkerServer
	w        *worker.Worker
	notifier *Notifier
	log      *slog.Logger
}

// NewShardServer returns the service of a shard. notifier must be the one the worker
// publishes to (worker.Config.Notify = notifier.Publish); the proxy reads it through the
// Notifications stream.
func NewShardServer(w *worker.Worker, notifier *Notifier, logger *slog.Logger) *ShardServer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if notifier == nil {
		notifier = NewNotifier(0)
	}
	return &ShardServer{w: w, notifier: notifier, log: logger}
}

// Register registers the ValidatorWorker service on s.
func (s *ShardServer) Register(r grpc.ServiceRegistrar) { pb.RegisterValidatorWorkerServer(r, s) }

// HandleBlockProposal implements pb.ValidatorWorkerServer.
func (s *ShardServer) HandleBlockProposal(ctx context.Context, m *pb.BlockProposal) (*pb.ChainInfoResponse, error) {
	bp, err := decodeProposal(m)
	if err != nil {
		return nil, toStatus(err)
	}
	info, err := s.w.HandleEncodedBlockProposal(ctx, bp, m.GetPayload())
	return infoResponse(info, annotateHeight(ctx, err, nextHeight(s.w, bp.Content.Block.ChainID)))
}

// HandleCertificate implements pb.ValidatorWorkerServer.
func (s *ShardServer) HandleCertificate(ctx context.Context, m *pb.Certificate) (*pb.ChainInfoResponse, error) {
	cert, err := decodeCertificate(m)
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := decodeCertificateQuery(m.GetQuery(), cert)
	if err != nil {
		return nil, toStatus(err)
	}
	info, err := s.w.HandleCertificateQuery(ctx, cert, m.GetPayload(), q)
	return queryResponse(info, q, annotateHeight(ctx, err, nextHeight(s.w, cert.ChainID())))
}

// HandleChainInfoQuery implements pb.ValidatorWorkerServer.
func (s *ShardServer) HandleChainInfoQuery(ctx context.Context, m *pb.ChainInfoQuery) (*pb.ChainInfoResponse, error) {
	q, err := decodeQuery(m)
	if err != nil {
		return nil, toStatus(err)
	}
	info, err := s.w.HandleChainInfoQuery(ctx, q)
	return infoResponse(info, annotateHeight(ctx, err, nextHeight(s.w, q.ChainID)))
}

// UploadBlob implements pb.ValidatorWorkerServer.
func (s *ShardServer) UploadBlob(ctx context.Context, m *pb.Blob) (*pb.Empty, error) {
	blob, err := decodeBlob(m)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.w.HandleBlob(ctx, blob); err != nil {
		return nil, toStatus(err)
	}
	return &pb.Empty{}, nil
}

// HandleCrossChainRequest implements pb.ValidatorWorkerServer.
func (s *ShardServer) HandleCrossChainRequest(ctx context.Context, m *pb.CrossChainRequest) (*pb.Empty, error) {
	req, err := decodeCrossChain(m)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.w.HandleCrossChainRequest(ctx, req); err != nil {
		return nil, toStatus(err)
	}
	return &pb.Empty{}, nil
}

// Notifications implements pb.ValidatorWorkerServer: it streams every notification of
// the shard in batches. The response headers are sent once the subscription is active.
func (s *ShardServer) Notifications(_ *pb.NotificationsRequest, stream grpc.ServerStreamingServer[pb.NotificationBatch]) error {
	ctx := stream.Context()
	sub := s.notifier.Subscribe(nil)
	defer sub.Close()
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	for {
		var first protocol.Notification
		select {
		case <-ctx.Done():
			return nil
		case n, ok := <-sub.C():
			if !ok {
				return nil
			}
			first = n
		}
		batch := &pb.NotificationBatch{Payloads: [][]byte{codec.Marshal(&first)}}
	drain:
		for len(batch.Payloads) < maxNotificationBatch {
			select {
			case n, ok := <-sub.C():
				if !ok {
					break drain
				}
				batch.Payloads = append(batch.Payloads, codec.Marshal(&n))
			default:
				break drain
			}
		}
		batch.Dropped = sub.TakeDropped()
		if err := stream.Send(batch); err != nil {
			return err
		}
	}
}
