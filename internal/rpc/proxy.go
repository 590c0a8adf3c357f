package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/gopool"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// APIVersion names the wire protocol.
const APIVersion = "mica.rpc.v1"

// Shard is what the proxy needs from a shard: a *worker.Worker in process or a
// *ShardClient over gRPC.
type Shard interface {
	HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error)
	HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error)
	HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error)
	HandleBlob(ctx context.Context, b protocol.Blob) error
}

// NotificationSource is a shard whose notifications reach the proxy by a stream
// (*ShardClient). Notifications calls fn for each notification (with the number the
// shard dropped before it) until ctx ends or the stream fails.
type NotificationSource interface {
	Notifications(ctx context.Context, fn func(n protocol.Notification, dropped uint64)) error
}

// EncodedShard is a Shard that also takes proposals and certificates with the bytes
// they were strictly decoded from, their canonical encoding: a worker measures and
// stores those bytes instead of encoding again, a shard client forwards them. encoded
// is not retained.
type EncodedShard interface {
	HandleEncodedBlockProposal(ctx context.Context, p *protocol.BlockProposal, encoded []byte) (*protocol.ChainInfo, error)
	HandleEncodedCertificate(ctx context.Context, c *protocol.Certificate, encoded []byte) (*protocol.ChainInfo, error)
}

// InfoEncoder is a Shard that encodes its answers itself: *worker.Worker copies the
// large manager values of an answer (a held proposal or lock, up to MaxBlockSize) from
// their encoding kept once per value, instead of encoding them for every query.
// EncodeChainInfo returns codec.Marshal(info), in bytes that are the caller's.
type InfoEncoder interface {
	EncodeChainInfo(info *protocol.ChainInfo) []byte
}

// CertificateDecoder is a Shard that decodes the certificates of its chains itself:
// *worker.Worker takes the block it voted for instead of decoding the certificate's
// block again when the bytes are that block's canonical encoding. The result and errors
// are codec.Unmarshal's.
type CertificateDecoder interface {
	DecodeCertificate(b []byte) (*protocol.Certificate, error)
}

var (
	_ Shard              = (*worker.Worker)(nil)
	_ EncodedShard       = (*worker.Worker)(nil)
	_ CertificateDecoder = (*worker.Worker)(nil)
	_ Shard              = (*ShardClient)(nil)
	_ EncodedShard       = (*ShardClient)(nil)
	_ NotificationSource = (*ShardClient)(nil)
)

// ProxyConfig holds a proxy's dependencies.
type ProxyConfig struct {
	// Shards are the validator's shards; chain c belongs to Shards[ShardOf(c, len(Shards))].
	Shards []Shard
	// Storage is the database the shards share; downloads are served from it.
	Storage *storage.Storage
	// Notifier fans notifications out to subscribers. In-process workers publish to it
	// directly (worker.Config.Notify = Notifier.Publish); Run relays those of remote
	// shards into it.
	Notifier *Notifier
	Logger   *slog.Logger
	// Version is reported by GetVersionInfo (default "dev").
	Version string
	// GenesisHash identifies the network; if zero it is read from Storage.
	GenesisHash base.Hash
}

// Proxy is the public ValidatorNode service of a validator. It is safe for concurrent
// use.
type Proxy struct {
	pb.UnimplementedValidatorNodeServer
	cfg ProxyConfig
	log *slog.Logger
	// batchItems bounds the batch items being handled at once, over every batch and
	// per remote address (batchserver.go).
	batchItems *batchSlots
	// workers run the groups of a batch's items beside the handler's goroutine, and
	// its calls to remote shards (runBatch, runSharded).
	workers *gopool.Pool

	// downloadBytes is maxDownloadBytes (smaller in tests).
	downloadBytes int

	mu      sync.Mutex
	genesis base.Hash // zero until known
}

// NewProxy returns a proxy over cfg.Shards.
func NewProxy(cfg ProxyConfig) (*Proxy, error) {
	if len(cfg.Shards) == 0 {
		return nil, errors.New("rpc: a proxy needs at least one shard")
	}
	if cfg.Storage == nil {
		return nil, errors.New("rpc: a proxy needs the shared storage")
	}
	if cfg.Notifier == nil {
		cfg.Notifier = NewNotifier(0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	return &Proxy{cfg: cfg, log: cfg.Logger, genesis: cfg.GenesisHash, downloadBytes: maxDownloadBytes, batchItems: newBatchSlots(maxBatchItemsInFlight, maxBatchItemsPerAddr),
		workers: gopool.New(batchWorkersIdle, workerIdleTime)}, nil
}

// NewValidatorServer returns the public service of a validator that runs as one process:
// the proxy and a single in-process worker. cfg.Shards and cfg.Storage are set from w;
// w's Config.Notify should publish to cfg.Notifier.
func NewValidatorServer(w *worker.Worker, cfg ProxyConfig) (*Proxy, error) {
	cfg.Shards = []Shard{w}
	cfg.Storage = w.Storage()
	return NewProxy(cfg)
}

// Register registers the ValidatorNode service on s.
func (p *Proxy) Register(s grpc.ServiceRegistrar) { pb.RegisterValidatorNodeServer(s, p) }

// Notifier returns the proxy's notifier.
func (p *Proxy) Notifier() *Notifier { return p.cfg.Notifier }

// Run relays the notifications of remote shards (NotificationSource) to subscribers,
// reconnecting after failures, until ctx ends. With only in-process shards it just waits.
func (p *Proxy) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i, s := range p.cfg.Shards {
		src, ok := s.(NotificationSource)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.relay(ctx, i, src)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

func (p *Proxy) relay(ctx context.Context, shard int, src NotificationSource) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := src.Notifications(ctx, func(n protocol.Notification, dropped uint64) {
			backoff = 50 * time.Millisecond
			if dropped > 0 {
				p.log.Warn("shard dropped notifications", "shard", shard, "dropped", dropped)
			}
			p.cfg.Notifier.Publish(n)
		})
		if ctx.Err() != nil {
			return
		}
		p.log.Debug("notification stream from shard ended; reconnecting", "shard", shard, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (p *Proxy) shard(id base.ChainID) Shard {
	return p.cfg.Shards[ShardOf(id, len(p.cfg.Shards))]
}

// nextHeight returns a function that asks a chain's shard for the chain's next height.
func nextHeight(s Shard, id base.ChainID) func(context.Context) (base.BlockHeight, error) {
	return func(ctx context.Context) (base.BlockHeight, error) {
		info, err := s.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
		if err != nil {
			return 0, err
		}
		return info.NextBlockHeight, nil
	}
}

func infoResponse(info *protocol.ChainInfo, err error) (*pb.ChainInfoResponse, error) {
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ChainInfoResponse{Payload: codec.Marshal(info)}, nil
}

// encodedInfoResponse is infoResponse for an answer of shard s, which encodes it if it
// can (InfoEncoder).
func encodedInfoResponse(s any, info *protocol.ChainInfo, err error) (*pb.ChainInfoResponse, error) {
	e, ok := s.(InfoEncoder)
	if err != nil || !ok {
		return infoResponse(info, err)
	}
	return &pb.ChainInfoResponse{Payload: e.EncodeChainInfo(info)}, nil
}

// HandleBlockProposal implements pb.ValidatorNodeServer.
func (p *Proxy) HandleBlockProposal(ctx context.Context, m *pb.BlockProposal) (*pb.ChainInfoResponse, error) {
	bp, err := decodeProposal(m)
	if err != nil {
		return nil, toStatus(err)
	}
	return infoResponse(p.handleProposal(ctx, bp, m.GetPayload()))
}

// handleProposal hands a proposal to its chain's shard; encoded is the canonical
// encoding it was strictly decoded from.
func (p *Proxy) handleProposal(ctx context.Context, bp *protocol.BlockProposal, encoded []byte) (*protocol.ChainInfo, error) {
	id := bp.Content.Block.ChainID
	s := p.shard(id)
	var info *protocol.ChainInfo
	var err error
	if es, ok := s.(EncodedShard); ok {
		info, err = es.HandleEncodedBlockProposal(ctx, bp, encoded)
	} else {
		info, err = s.HandleBlockProposal(ctx, bp)
	}
	return info, annotateHeight(ctx, err, nextHeight(s, id))
}

// HandleCertificate implements pb.ValidatorNodeServer.
func (p *Proxy) HandleCertificate(ctx context.Context, m *pb.Certificate) (*pb.ChainInfoResponse, error) {
	cert, err := p.decodeCertificate(m.GetPayload())
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := decodeCertificateQuery(m.GetQuery(), cert)
	if err != nil {
		return nil, toStatus(err)
	}
	info, err := p.handleCertificate(ctx, cert, m.GetPayload(), q)
	return queryResponse(p.shard(cert.ChainID()), info, q, err)
}

// decodeCertificate decodes a certificate's payload b, by its chain's shard if that is a
// CertificateDecoder (an in-process worker), else by decodeCertificate.
func (p *Proxy) decodeCertificate(b []byte) (*protocol.Certificate, error) {
	var d CertificateDecoder
	if id, _, ok := protocol.PeekCertificateBlock(b); ok {
		d, _ = p.shard(id).(CertificateDecoder)
	}
	return decodeCertificateBy(d, b)
}

// decodeCertificateBy is decodeCertificate by d, or by codec.Unmarshal if d is nil.
func decodeCertificateBy(d CertificateDecoder, b []byte) (*protocol.Certificate, error) {
	if d == nil {
		return decodePayload[protocol.Certificate]("certificate", b)
	}
	c, err := d.DecodeCertificate(b)
	if err != nil {
		return nil, base.Invalidf("malformed certificate: %v", err)
	}
	return c, nil
}

// handleCertificate hands a certificate to its chain's shard; encoded, if not nil, is
// the canonical encoding it was strictly decoded from. q, if not nil, is the checked
// query the certificate carries (decodeCertificateQuery): the answer answers it.
func (p *Proxy) handleCertificate(ctx context.Context, cert *protocol.Certificate, encoded []byte, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	id := cert.ChainID()
	s := p.shard(id)
	var info *protocol.ChainInfo
	var err error
	qs, queries := s.(QueryShard)
	if es, ok := s.(EncodedShard); queries && q != nil {
		info, err = qs.HandleCertificateQuery(ctx, cert, encoded, q)
	} else if ok && encoded != nil {
		info, err = es.HandleEncodedCertificate(ctx, cert, encoded)
	} else {
		info, err = s.HandleCertificate(ctx, cert)
	}
	if err == nil && q != nil && !queries {
		// A shard without queries on certificates: ask after the certificate.
		info, err = s.HandleChainInfoQuery(ctx, q)
	}
	return info, annotateHeight(ctx, err, nextHeight(s, id))
}

// HandleLiteCertificate implements pb.ValidatorNodeServer. The chain's shard handles it
// without reading the block (LiteShard: a local worker, or a remote shard's
// HandleLiteCertificate); only for a remote shard that predates the method is the
// value of a confirmed certificate looked up by block hash in the storage and the full
// certificate sent.
func (p *Proxy) HandleLiteCertificate(ctx context.Context, m *pb.LiteCertificate) (*pb.ChainInfoResponse, error) {
	lite, err := decodeLiteCertificate(m)
	if err != nil {
		return nil, toStatus(err)
	}
	if s, ok := takesLite(p.shard(lite.Value.ChainID)); ok {
		resp, err := p.handleLite(ctx, s, lite, m.GetQuery())
		if !errors.Is(err, errNoShardLite) {
			return resp, err
		}
	}
	cert, err := p.fullCertificate(ctx, lite)
	if err != nil {
		return nil, toStatus(err)
	}
	q, err := decodeCertificateQuery(m.GetQuery(), cert)
	if err != nil {
		return nil, toStatus(err)
	}
	info, err := p.handleCertificate(ctx, cert, nil, q)
	return queryResponse(p.shard(cert.ChainID()), info, q, err)
}

func (p *Proxy) fullCertificate(ctx context.Context, lite *protocol.LiteCertificate) (*protocol.Certificate, error) {
	v := lite.Value
	if v.Kind != protocol.KindConfirmed {
		return nil, fmt.Errorf("%w: %s certificate %s", ErrMissingCertificateValue, v.Kind, v.ValueHash.Short())
	}
	stored, err := p.cfg.Storage.Certificate(ctx, v.ValueHash)
	if base.IsNotFound(err) {
		return nil, fmt.Errorf("%w: block %s", ErrMissingCertificateValue, v.ValueHash.Short())
	}
	if err != nil {
		return nil, err
	}
	if got := stored.LiteValue(); got != v {
		return nil, base.Invalidf("lite certificate names block %s of chain %s at height %d, stored block is of chain %s at height %d",
			v.ValueHash.Short(), v.ChainID.Short(), v.Height, got.ChainID.Short(), got.Height)
	}
	return &protocol.Certificate{Kind: protocol.KindConfirmed, Block: stored.Block, Round: lite.Round, Signatures: lite.Signatures}, nil
}

// HandleChainInfoQuery implements pb.ValidatorNodeServer.
func (p *Proxy) HandleChainInfoQuery(ctx context.Context, m *pb.ChainInfoQuery) (*pb.ChainInfoResponse, error) {
	q, err := decodeQuery(m)
	if err != nil {
		return nil, toStatus(err)
	}
	s := p.shard(q.ChainID)
	info, err := s.HandleChainInfoQuery(ctx, q)
	return encodedInfoResponse(s, info, annotateHeight(ctx, err, nextHeight(s, q.ChainID)))
}

// UploadBlob implements pb.ValidatorNodeServer. A shard accepts a blob only if a
// certificate or proposal it handled asked for it (the wanted set is per shard), so the
// blob is offered to each shard in turn, starting from the one its hash names, until one
// accepts it; the first shard's refusal is returned otherwise.
func (p *Proxy) UploadBlob(ctx context.Context, m *pb.Blob) (*pb.Empty, error) {
	blob, err := decodeBlob(m)
	if err != nil {
		return nil, toStatus(err)
	}
	n := len(p.cfg.Shards)
	start := shardOfHash(blob.ID().Hash, n)
	var first error
	for i := 0; i < n; i++ {
		err := p.cfg.Shards[(start+i)%n].HandleBlob(ctx, blob)
		if err == nil {
			return &pb.Empty{}, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, toStatus(first)
}

// DownloadBlob implements pb.ValidatorNodeServer, from storage.
func (p *Proxy) DownloadBlob(ctx context.Context, m *pb.BlobId) (*pb.Blob, error) {
	id, err := decodeBlobID(m)
	if err != nil {
		return nil, toStatus(err)
	}
	blob, err := p.cfg.Storage.Blob(ctx, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.Blob{Payload: codec.Marshal(&blob)}, nil
}

// Download limits: at most maxDownloadCertificates certificates and about
// maxDownloadBytes per call; the caller asks again from where the answer stopped.
const (
	maxDownloadCertificates = 500
	maxDownloadBytes        = client.MaxDownloadAnswerBytes
)

// DownloadCertificates implements pb.ValidatorNodeServer, from storage. Certificates are
// read one at a time while the answer has room: a chain of large blocks (up to
// MaxBlockSize each) costs a download the bytes it answers plus one certificate, not
// maxDownloadCertificates of them.
func (p *Proxy) DownloadCertificates(ctx context.Context, m *pb.CertificatesRequest) (*pb.Certificates, error) {
	req, err := decodeCertificatesRequest(m)
	if err != nil {
		return nil, toStatus(err)
	}
	to := req.to
	if to-req.from > maxDownloadCertificates {
		to = req.from + maxDownloadCertificates
	}
	out := &pb.Certificates{}
	size := 0
	// The stored bytes are the certificates' canonical encodings: sent as they are, not
	// decoded and encoded again.
	err = p.cfg.Storage.ForEachEncodedCertificate(ctx, req.chain, req.from, to, func(b []byte) bool {
		if size > 0 && size+len(b) > p.downloadBytes {
			return false
		}
		size += len(b)
		out.Payloads = append(out.Payloads, b)
		return true
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return out, nil
}

// DownloadCertificate implements pb.ValidatorNodeServer, from storage.
func (p *Proxy) DownloadCertificate(ctx context.Context, m *pb.CertificateHash) (*pb.Certificate, error) {
	h, err := decodeHash("certificate hash", m.GetHash())
	if err != nil {
		return nil, toStatus(err)
	}
	b, err := p.cfg.Storage.EncodedCertificate(ctx, h)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.Certificate{Payload: b}, nil
}

// Subscribe implements pb.ValidatorNodeServer. The response headers are sent once the
// subscription is active, so a caller that waits for them misses nothing after. A
// subscription over the notifier's bounds (Notifier.SubscribeFrom) is refused with
// ResourceExhausted (ErrBusy).
func (p *Proxy) Subscribe(m *pb.SubscriptionRequest, stream grpc.ServerStreamingServer[pb.Notification]) error {
	chains, err := decodeSubscription(m)
	if err != nil {
		return toStatus(err)
	}
	sub, err := p.cfg.Notifier.SubscribeFrom(remoteIP(stream.Context()), chains)
	if err != nil {
		return refusal(codes.ResourceExhausted, err)
	}
	return serveSubscription(stream.Context(), sub, stream.SendHeader, func(n *protocol.Notification, dropped uint64) error {
		return stream.Send(&pb.Notification{Payload: codec.Marshal(n), Dropped: dropped})
	})
}

// serveSubscription forwards a subscription's notifications until ctx ends or send fails.
func serveSubscription(ctx context.Context, sub *Subscription, sendHeader func(metadata.MD) error, send func(*protocol.Notification, uint64) error) error {
	defer sub.Close()
	if err := sendHeader(metadata.MD{}); err != nil {
		return err
	}
	for {
		n, ok := sub.Next()
		if !ok {
			if !sub.Wait(ctx) {
				return nil
			}
			continue
		}
		if err := send(&n, sub.TakeDropped()); err != nil {
			return err
		}
	}
}

// GetVersionInfo implements pb.ValidatorNodeServer.
func (p *Proxy) GetVersionInfo(ctx context.Context, _ *pb.Empty) (*pb.VersionInfo, error) {
	h, err := p.genesisHash(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.VersionInfo{Version: p.cfg.Version, ApiVersion: APIVersion, GenesisHash: h[:]}, nil
}

// GetGenesisHash implements pb.ValidatorNodeServer.
func (p *Proxy) GetGenesisHash(ctx context.Context, _ *pb.Empty) (*pb.GenesisHash, error) {
	h, err := p.genesisHash(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.GenesisHash{Hash: h[:]}, nil
}

func (p *Proxy) genesisHash(ctx context.Context) (base.Hash, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.genesis.IsZero() {
		return p.genesis, nil
	}
	g, err := p.cfg.Storage.Genesis(ctx)
	if err != nil {
		return base.Hash{}, err
	}
	p.genesis = g.Hash()
	return p.genesis, nil
}
