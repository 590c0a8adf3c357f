package rpc

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/gopool"
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
	// batchItems bounds the batch items being handled at once, over every batch: the
	// public bound (maxBatchItemsInFlight), without a share per address, since the
	// callers are the validator's own proxy (which gives each public address its share).
	batchItems *batchSlots
	// workers run the groups of a batch's items beside the handler's goroutine
	// (runBatch).
	workers *gopool.Pool
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
	return &ShardServer{w: w, notifier: notifier, log: logger, batchItems: newBatchSlots(maxBatchItemsInFlight, maxBatchItemsInFlight),
		workers: gopool.New(batchWorkersIdle, workerIdleTime)}
}

// Register registers the ValidatorWorker service on s.
func (s *ShardServer) Register(r grpc.ServiceRegistrar) { pb.RegisterValidatorWorkerServer(r, s) }

// HandleBlockProposal implements pb.ValidatorWorkerServer.
func (s *ShardServer) HandleBlockProposal(ctx context.Context, m *pb.BlockProposal) (*pb.ChainInfoResponse, error) {
	bp, err := decodeProposal(m)
	if err != nil {
		return nil, toStatus(err)
	}
	return infoResponse(s.handleProposal(ctx, bp, m.GetPayload()))
}

func (s *ShardServer) handleProposal(ctx context.Context, bp *protocol.BlockProposal, encoded []byte) (*protocol.ChainInfo, error) {
	info, err := s.w.HandleEncodedBlockProposal(ctx, bp, encoded)
	return info, annotateHeight(ctx, err, nextHeight(s.w, bp.Content.Block.ChainID))
}

// HandleCertificate implements pb.ValidatorWorkerServer.
func (s *ShardServer) HandleCertificate(ctx context.Context, m *pb.Certificate) (*pb.ChainInfoResponse, error) {
	cert, err := s.decodeCertificate(m.GetPayload())
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := decodeCertificateQuery(m.GetQuery(), cert)
	if err != nil {
		return nil, toStatus(err)
	}
	info, err := s.handleCertificate(ctx, cert, m.GetPayload(), q)
	return queryResponse(s.w, info, q, err)
}

// decodeCertificate decodes a certificate's payload with the worker's held blocks.
func (s *ShardServer) decodeCertificate(b []byte) (*protocol.Certificate, error) {
	return decodeCertificateBy(s.w, b)
}

func (s *ShardServer) handleCertificate(ctx context.Context, cert *protocol.Certificate, encoded []byte, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	info, err := s.w.HandleCertificateQuery(ctx, cert, encoded, q)
	return info, annotateHeight(ctx, err, nextHeight(s.w, cert.ChainID()))
}

// HandleBlockProposals implements pb.ValidatorWorkerServer: the proxy's forwarding of
// a public batch's proposals for this shard's chains, each handled as by
// HandleBlockProposal, under the public batch's bounds (checkBatch, batchBudget,
// maxBatchItemsInFlight).
func (s *ShardServer) HandleBlockProposals(ctx context.Context, m *pb.Batch) (*pb.BatchResults, error) {
	if err := checkBatch(m); err != nil {
		return nil, toStatus(err)
	}
	results := make([]*pb.BatchResult, len(m.GetItems()))
	entries := proposalEntries(m.GetItems(), results, s.handleProposal)
	runBatch(ctx, entries, results, s.batchItems, s.workers)
	return &pb.BatchResults{Results: results}, nil
}

// HandleCertificates implements pb.ValidatorWorkerServer: as HandleBlockProposals, for
// certificates, whose signatures are verified in one batch first (as the proxy does
// for an in-process shard).
func (s *ShardServer) HandleCertificates(ctx context.Context, m *pb.Batch) (*pb.BatchResults, error) {
	if err := checkBatch(m); err != nil {
		return nil, toStatus(err)
	}
	results := make([]*pb.BatchResult, len(m.GetItems()))
	entries := certificateEntries(m.GetItems(), results, s.decodeCertificate, s.handleCertificate)
	certs := make([]*protocol.Certificate, 0, len(entries))
	for _, e := range entries {
		if e != nil {
			certs = append(certs, e.cert)
		}
	}
	if len(certs) > 1 {
		s.w.PreverifyCertificateBatch(ctx, certs)
	}
	runBatch(ctx, entries, results, s.batchItems, s.workers)
	return &pb.BatchResults{Results: results}, nil
}

// HandleLiteCertificate implements pb.ValidatorWorkerServer: the proxy's forwarding of
// a public lite certificate, handled by the worker without reading the block
// (worker.HandleLiteCertificate). A lite certificate whose block the worker has not
// executed is answered ErrMissingCertificateValue, which the proxy passes on for the
// caller to send the full certificate.
func (s *ShardServer) HandleLiteCertificate(ctx context.Context, m *pb.LiteCertificate) (*pb.ChainInfoResponse, error) {
	lite, err := decodeLiteCertificate(m)
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := decodeLiteQuery(m.GetQuery(), lite)
	if err != nil {
		return nil, toStatus(err)
	}
	info, err := s.w.HandleLiteCertificate(ctx, lite, q)
	return queryResponse(s.w, info, q, liteError(err))
}

// HandleChainInfoQuery implements pb.ValidatorWorkerServer.
func (s *ShardServer) HandleChainInfoQuery(ctx context.Context, m *pb.ChainInfoQuery) (*pb.ChainInfoResponse, error) {
	q, err := decodeQuery(m)
	if err != nil {
		return nil, toStatus(err)
	}
	info, err := s.w.HandleChainInfoQuery(ctx, q)
	return encodedInfoResponse(s.w, info, annotateHeight(ctx, err, nextHeight(s.w, q.ChainID)))
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
		first, ok := sub.Next()
		if !ok {
			if !sub.Wait(ctx) {
				return nil
			}
			continue
		}
		batch := &pb.NotificationBatch{Payloads: [][]byte{codec.Marshal(&first)}}
		for len(batch.Payloads) < maxNotificationBatch {
			n, ok := sub.Next()
			if !ok {
				break
			}
			batch.Payloads = append(batch.Payloads, codec.Marshal(&n))
		}
		batch.Dropped = sub.TakeDropped()
		if err := stream.Send(batch); err != nil {
			return err
		}
	}
}
