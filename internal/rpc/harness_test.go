package rpc

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// sysClock is the wall clock (validators and clients here run in real time).
type sysClock struct{}

func (sysClock) Now() base.Timestamp { return base.TimestampFromTime(time.Now()) }

func testLogger() *slog.Logger {
	if os.Getenv("RPC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newStore(tb testing.TB, g *protocol.GenesisConfig) *storage.Storage {
	tb.Helper()
	db := memkv.New()
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, g)
	if err := st.Write(context.Background(), &b); err != nil {
		tb.Fatal(err)
	}
	return st
}

func listen(tb testing.TB) net.Listener {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return lis
}

// testValidator is one validator: a proxy on a loopback port and its shards.
type testValidator struct {
	key     *crypto.PrivateKey
	addr    string
	proxy   *Server
	shards  []*Server // remote shards (sharded validators only)
	workers []*worker.Worker
	node    *Node // the client's connection
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// misrouted counts chain-specific requests a shard received for a chain it does
	// not own; perShard counts the requests each shard received.
	misrouted atomic.Int64
	perShard  []atomic.Int64
	// calls counts the internal RPCs each shard received, by full method name.
	calls []sync.Map
	// internal is the internal PKI of a sharded validator.
	internal InternalTLSFiles
}

// stop kills the validator: its servers close and its goroutines end.
func (v *testValidator) stop() {
	v.cancel()
	for _, s := range v.shards {
		_ = s.Close()
	}
	_ = v.proxy.Close()
	v.wg.Wait()
}

type testNet struct {
	tb        testing.TB
	keys      []*crypto.PrivateKey
	committee *protocol.Committee
	genesis   *protocol.GenesisConfig
	chains    []base.ChainID
	vals      []*testValidator
	// requestTimeout is the clients' RequestTimeout (0: 5 s).
	requestTimeout time.Duration
}

// newTestNet starts 4 validators on loopback, each a proxy over `shards` workers (one
// in-process worker if shards is 1; otherwise each worker behind its own gRPC shard
// server, the proxy and the shards talking gRPC), with genesis chains owned by owners.
func newTestNet(tb testing.TB, owners []*crypto.PrivateKey, shards int) *testNet {
	tb.Helper()
	keys := prototest.Validators(4)
	return newTestNetOf(tb, keys, prototest.Committee(keys), owners, shards, 5*time.Second)
}

// newTestNetOf is newTestNet with the validators' keys and committee given, and the
// clients' connections calling with callTimeout.
func newTestNetOf(tb testing.TB, keys []*crypto.PrivateKey, committee *protocol.Committee, owners []*crypto.PrivateKey, shards int, callTimeout time.Duration) *testNet {
	tb.Helper()
	n := &testNet{tb: tb, keys: keys, committee: committee}
	n.genesis = prototest.Genesis(n.committee, owners, base.Tokens(1000))
	n.chains = n.genesis.ChainIDs()
	for _, k := range n.keys {
		var v *testValidator
		if shards <= 1 {
			v = startValidator(tb, k, n.genesis)
		} else {
			v = startShardedValidator(tb, k, n.genesis, shards)
		}
		node, err := Dial(context.Background(), v.addr, DialOptions{GenesisHash: n.genesis.Hash(), CallTimeout: callTimeout})
		if err != nil {
			tb.Fatal(err)
		}
		v.node = node
		tb.Cleanup(func() {
			if err := node.Close(); err != nil {
				tb.Errorf("close node: %v", err)
			}
		})
		n.vals = append(n.vals, v)
	}
	return n
}

func startValidator(tb testing.TB, key *crypto.PrivateKey, g *protocol.GenesisConfig) *testValidator {
	tb.Helper()
	log := testLogger()
	ctx, cancel := context.WithCancel(context.Background())
	v := &testValidator{key: key, cancel: cancel}
	notifier := NewNotifier(0)
	w := worker.New(worker.Config{Storage: newStore(tb, g), Signer: key, Clock: sysClock{}, Logger: log, Notify: notifier.Publish, PendingBundleBytes: true})
	v.workers = []*worker.Worker{w}
	proxy, err := NewValidatorServer(w, ProxyConfig{Notifier: notifier, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	srv := NewServer(listen(tb), ServerConfig{Logger: log})
	proxy.Register(srv.Registrar())
	v.proxy, v.addr = srv, srv.Addr().String()
	v.wg.Go(func() { _ = srv.Run(ctx) })
	v.wg.Go(func() { _ = w.Run(ctx, 20*time.Millisecond) })
	tb.Cleanup(v.stop)
	return v
}

// requestChain returns the chain a ValidatorWorker request is routed by.
func requestChain(req any) (base.ChainID, bool) {
	switch m := req.(type) {
	case *pb.BlockProposal:
		if p, err := decodeProposal(m); err == nil {
			return p.Content.Block.ChainID, true
		}
	case *pb.Certificate:
		if c, err := decodeCertificate(m); err == nil {
			return c.ChainID(), true
		}
	case *pb.ChainInfoQuery:
		if q, err := decodeQuery(m); err == nil {
			return q.ChainID, true
		}
	case *pb.CrossChainRequest:
		if r, err := decodeCrossChain(m); err == nil {
			if r.Confirm {
				return r.Sender, true
			}
			return r.Recipient, true
		}
	}
	return base.ChainID{}, false
}

// batchChains returns the chains of a batch's items (proposals or certificates, by
// the method), those that decode.
func batchChains(method string, b *pb.Batch) []base.ChainID {
	var ids []base.ChainID
	for _, it := range b.GetItems() {
		var req any = &pb.BlockProposal{Payload: it.GetPayload()}
		if method == pb.ValidatorWorker_HandleCertificates_FullMethodName {
			req = &pb.Certificate{Payload: it.GetPayload()}
		}
		if id, ok := requestChain(req); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// legacyShard is a shard's internal service as it was before the batch methods.
type legacyShard struct {
	pb.UnimplementedValidatorWorkerServer
	s *ShardServer
}

func (l legacyShard) HandleBlockProposal(ctx context.Context, m *pb.BlockProposal) (*pb.ChainInfoResponse, error) {
	return l.s.HandleBlockProposal(ctx, m)
}

func (l legacyShard) HandleCertificate(ctx context.Context, m *pb.Certificate) (*pb.ChainInfoResponse, error) {
	return l.s.HandleCertificate(ctx, m)
}

func (l legacyShard) HandleChainInfoQuery(ctx context.Context, m *pb.ChainInfoQuery) (*pb.ChainInfoResponse, error) {
	return l.s.HandleChainInfoQuery(ctx, m)
}

func (l legacyShard) UploadBlob(ctx context.Context, m *pb.Blob) (*pb.Empty, error) {
	return l.s.UploadBlob(ctx, m)
}

func (l legacyShard) HandleCrossChainRequest(ctx context.Context, m *pb.CrossChainRequest) (*pb.Empty, error) {
	return l.s.HandleCrossChainRequest(ctx, m)
}

func (l legacyShard) Notifications(m *pb.NotificationsRequest, st grpc.ServerStreamingServer[pb.NotificationBatch]) error {
	return l.s.Notifications(m, st)
}

// startShardedValidator starts a validator of n shards, each behind its own gRPC
// service; the shards listed in legacy serve the internal service without its batch
// methods.
func startShardedValidator(tb testing.TB, key *crypto.PrivateKey, g *protocol.GenesisConfig, n int, legacy ...int) *testValidator {
	tb.Helper()
	log := testLogger()
	ctx, cancel := context.WithCancel(context.Background())
	v := &testValidator{key: key, cancel: cancel, perShard: make([]atomic.Int64, n), calls: make([]sync.Map, n)}
	st := newStore(tb, g)
	dir := tb.TempDir()
	v.internal = InternalTLSFiles{CA: filepath.Join(dir, "internal-ca.pem"), Cert: filepath.Join(dir, "internal.pem"), Key: filepath.Join(dir, "internal.key")}
	if err := GenerateInternalTLS(v.internal, rand.Reader, time.Now()); err != nil {
		tb.Fatal(err)
	}
	serverCreds, clientCreds, err := InternalCredentials(v.internal)
	if err != nil {
		tb.Fatal(err)
	}
	clients := make([]*ShardClient, n)
	routers := make([]*Router, n)
	for i := range n {
		notifier := NewNotifier(0)
		routers[i] = NewRouter(n)
		w := worker.New(worker.Config{Storage: st, Signer: key, Clock: sysClock{}, Logger: log, Notify: notifier.Publish, Router: routers[i], PendingBundleBytes: true})
		routers[i].SetShard(i, w)
		v.workers = append(v.workers, w)
		// Check that every chain-specific request reaching shard i is for a chain of
		// shard i.
		check := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			c, _ := v.calls[i].LoadOrStore(info.FullMethod, new(atomic.Int64))
			c.(*atomic.Int64).Add(1)
			var ids []base.ChainID
			if b, ok := req.(*pb.Batch); ok {
				ids = batchChains(info.FullMethod, b)
			} else if id, ok := requestChain(req); ok {
				ids = append(ids, id)
			}
			for _, id := range ids {
				v.perShard[i].Add(1)
				if ShardOf(id, n) != i {
					v.misrouted.Add(1)
				}
			}
			return h(ctx, req)
		}
		// The shard's internal limits, as internal/validator sets them.
		limits := InternalLimits(g.Committee.Policy)
		srv := NewServer(listen(tb), ServerConfig{Logger: log, Credentials: serverCreds, Limits: &limits, Options: []grpc.ServerOption{grpc.ChainUnaryInterceptor(check)}})
		if ss := NewShardServer(w, notifier, log); slices.Contains(legacy, i) {
			pb.RegisterValidatorWorkerServer(srv.Registrar(), legacyShard{s: ss})
		} else {
			ss.Register(srv.Registrar())
		}
		v.shards = append(v.shards, srv)
		v.wg.Go(func() { _ = srv.Run(ctx) })
		v.wg.Go(func() { _ = w.Run(ctx, 20*time.Millisecond) })
		c, err := DialShard(srv.Addr().String(), DialOptions{Credentials: clientCreds})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = c.Close() })
		clients[i] = c
	}
	shards := make([]Shard, n)
	for i := range n {
		shards[i] = clients[i]
		for j := range n {
			if j != i {
				routers[i].SetShard(j, clients[j])
			}
		}
	}
	proxy, err := NewProxy(ProxyConfig{Shards: shards, Storage: st, Notifier: NewNotifier(0), Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	srv := NewServer(listen(tb), ServerConfig{Logger: log})
	proxy.Register(srv.Registrar())
	v.proxy, v.addr = srv, srv.Addr().String()
	v.wg.Go(func() { _ = srv.Run(ctx) })
	v.wg.Go(func() { _ = proxy.Run(ctx) })
	tb.Cleanup(v.stop)
	return v
}

// client returns a chain client over gRPC with its own local node.
func (n *testNet) client(minGrace time.Duration) *client.Client {
	local := worker.New(worker.Config{Storage: newStore(n.tb, n.genesis), Clock: sysClock{}})
	var vals []client.Validator
	for _, v := range n.vals {
		vals = append(vals, client.Validator{PublicKey: v.key.Public(), Node: v.node})
	}
	timeout := n.requestTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	return client.New(client.Config{Local: local, Committee: n.committee, Validators: vals, Clock: sysClock{}, MinGrace: minGrace, RequestTimeout: timeout})
}

// waitFor polls cond until it holds or 2 minutes pass: on a loaded machine under the
// race detector, a validator may take many seconds to execute a large block.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// info queries validator i over gRPC.
func (n *testNet) info(i int, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	return n.vals[i].node.HandleChainInfoQuery(context.Background(), q)
}

// balance returns an account's balance at validator i.
func (n *testNet) balance(i int, a base.Account) base.Amount {
	n.tb.Helper()
	q := &protocol.ChainInfoQuery{ChainID: a.Chain}
	if !a.Owner.IsChain() {
		q.RequestOwnerBalance = &a.Owner
	}
	info, err := n.info(i, q)
	if err != nil {
		n.tb.Fatalf("validator %d: query %s: %v", i, a, err)
	}
	if !a.Owner.IsChain() {
		return *info.RequestedOwnerBalance
	}
	return info.ChainBalance
}

// waitHeight waits until every validator in live has chain id at next height h.
func (n *testNet) waitHeight(id base.ChainID, h base.BlockHeight, live []int) {
	n.tb.Helper()
	for _, i := range live {
		waitFor(n.tb, "chain height", func() bool {
			info, err := n.info(i, &protocol.ChainInfoQuery{ChainID: id})
			return err == nil && info.NextBlockHeight >= h
		})
	}
}

// waitInbox waits until every validator in live holds at least k pending bundles for id.
func (n *testNet) waitInbox(id base.ChainID, k int, live []int) {
	n.tb.Helper()
	for _, i := range live {
		waitFor(n.tb, "incoming bundles", func() bool {
			info, err := n.info(i, &protocol.ChainInfoQuery{ChainID: id, RequestPendingBundles: true})
			return err == nil && len(info.RequestedPendingBundles) >= k
		})
	}
}

func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
