package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	runtimemetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/cputime"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/metrics"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// BenchmarkGRPCFastTransfer: one fast-round transfer per op from one chain to another,
// by a client talking to 4 validators over loopback gRPC (each a proxy over one
// in-process worker on memkv). The client waits for a quorum plus its grace period
// (MinGrace) for each round trip; grace=1ns shows the cost without that wait. B's
// owner receives the transfers every 100 ops, outside the timer, so that B's inbox
// stays small. cpu-µs/op is the CPU time of the whole process (client and validators)
// per block, measured with the timer (getrusage; 0 where not available).
// BenchmarkGRPCFastBlock100 is the same with 100 transfers per block.
func BenchmarkGRPCFastTransfer(b *testing.B) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
	}{{"grace=default", 0}, {"grace=1ns", time.Nanosecond}} {
		b.Run(tc.name, func(b *testing.B) { benchGRPCFastBlocks(b, tc.grace, 1) })
	}
}

func BenchmarkGRPCFastBlock100(b *testing.B) { benchGRPCFastBlocks(b, 0, 100) }

func benchGRPCFastBlocks(b *testing.B, grace time.Duration, perBlock int) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(b, keys, 1)
	a := n.client(grace).Chain(n.chains[0], keys[0], nil)
	recv := n.client(grace).Chain(n.chains[1], keys[1], nil)
	ctx := context.Background()
	to := base.Account{Chain: n.chains[1]}
	ops := make([]protocol.Operation, perBlock)
	for i := range ops {
		ops[i] = protocol.SystemOp(&protocol.Transfer{Owner: base.ChainOwner, Recipient: to, Amount: base.AmountFromAttos(1)})
	}
	var cpu time.Duration
	i := 0
	start := cputime.Process()
	for b.Loop() {
		var err error
		if perBlock == 1 {
			_, err = a.Transfer(ctx, base.ChainOwner, to, base.AmountFromAttos(1))
		} else {
			_, err = a.ExecuteOperations(ctx, ops, nil)
		}
		if err != nil {
			b.Fatal(err)
		}
		if i++; i%(100/perBlock) == 0 {
			b.StopTimer()
			cpu += cputime.Process() - start
			if _, err := recv.ProcessInbox(ctx); err != nil {
				b.Fatal(err)
			}
			start = cputime.Process()
			b.StartTimer()
		}
	}
	cpu += cputime.Process() - start
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// reportCPU reports the process's CPU time since start per op (0 where getrusage is
// not available): on a shared machine a steadier figure than ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cputime.Process()-start).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
}

// echoShard answers every request at once with a fixed chain info: the benchmarks below
// measure the transport (codec, interceptors, limits, gRPC, loopback), not a worker.
type echoShard struct{ info *protocol.ChainInfo }

func (s echoShard) HandleBlockProposal(context.Context, *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	return s.info, nil
}
func (s echoShard) HandleCertificate(context.Context, *protocol.Certificate) (*protocol.ChainInfo, error) {
	return s.info, nil
}
func (s echoShard) HandleChainInfoQuery(context.Context, *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	return s.info, nil
}
func (s echoShard) HandleBlob(context.Context, protocol.Blob) error { return nil }

// BenchmarkRPC: one call per op from a Node to a validator's public server configured
// as mica runs it (metrics, default limits, the in-flight bound), over loopback, with a
// shard that answers at once. allocs/op and B/op count both ends (one process).
// "query" is a chain-info query (a small request, the limits' light path), "proposal"
// a block proposal of a two-transfer block (a heavy request: in-flight slot, receive
// deadline); "parallel" runs GOMAXPROCS callers at once on the one connection.
func BenchmarkRPC(b *testing.B) {
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	g := prototest.Genesis(prototest.Committee(prototest.Validators(4)), keys, base.Tokens(10))
	chain := g.ChainIDs()[0]
	owner := keys[0].Public().Owner()
	block := prototest.TransferBlock(chain, 0, nil, owner, base.Account{Chain: base.ChainID{2}}, 2)
	prop, err := protocol.SignProposal(keys[0], block.Proposed, base.Round{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	info := &protocol.ChainInfo{ChainID: chain, NextBlockHeight: 7}
	proxy, err := NewProxy(ProxyConfig{Shards: []Shard{echoShard{info}}, Storage: newStore(b, g)})
	if err != nil {
		b.Fatal(err)
	}
	limits := DefaultLimits(protocol.NoFeesPolicy())
	node := serveProxy(b, proxy, ServerConfig{Limits: &limits, Metrics: metrics.NewRPC(metrics.NewRegistry(), "public")}, DialOptions{GenesisHash: g.Hash()})
	ctx := context.Background()
	q := &protocol.ChainInfoQuery{ChainID: chain}
	calls := []struct {
		name string
		call func() (*protocol.ChainInfo, error)
	}{
		{"query", func() (*protocol.ChainInfo, error) { return node.HandleChainInfoQuery(ctx, q) }},
		{"proposal", func() (*protocol.ChainInfo, error) { return node.HandleBlockProposal(ctx, prop) }},
	}
	for _, c := range calls {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			start := cputime.Process()
			for b.Loop() {
				if got, err := c.call(); err != nil || got.NextBlockHeight != 7 {
					b.Fatalf("%s: %v, %v", c.name, got, err)
				}
			}
			reportCPU(b, start)
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			start := cputime.Process()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if got, err := c.call(); err != nil || got.NextBlockHeight != 7 {
						b.Errorf("%s: %v, %v", c.name, got, err)
						return
					}
				}
			})
			reportCPU(b, start)
		})
	}
}

// BenchmarkLargeUpload: an 8 MiB blob upload (MaxBlobSize) from a Node to a public
// server with a shard that accepts at once: "chunked" as Node sends it to a server with
// the 1 MiB unary limit, "unary" as one message to a server whose limit is the
// largest budget (as every server was before the chunked methods).
func BenchmarkLargeUpload(b *testing.B) {
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	g := prototest.Genesis(prototest.Committee(prototest.Validators(4)), keys, base.Tokens(10))
	info := &protocol.ChainInfo{ChainID: g.ChainIDs()[0]}
	blob := protocol.Blob{Type: base.BlobData, Content: bytes.Repeat([]byte{7}, 8<<20)}
	for _, unary := range []bool{false, true} {
		name := "chunked"
		limits := DefaultLimits(protocol.NoFeesPolicy())
		if unary {
			name, limits.MaxMessage = "unary", 0
		}
		b.Run(name, func(b *testing.B) {
			proxy, err := NewProxy(ProxyConfig{Shards: []Shard{echoShard{info}}, Storage: newStore(b, g)})
			if err != nil {
				b.Fatal(err)
			}
			node := serveProxy(b, proxy, ServerConfig{Limits: &limits}, DialOptions{})
			payload := codec.Marshal(&blob)
			ctx := context.Background()
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			start := cputime.Process()
			for b.Loop() {
				var err error
				if unary {
					_, err = node.api.UploadBlob(ctx, &pb.Blob{Payload: payload})
				} else {
					_, err = chunked(ctx, node.c, "UploadBlobChunks", node.api.UploadBlobChunks, payload, nil)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, start)
		})
	}
}

// BenchmarkFanOutBatch: one batch of encoded proposals (HandleBlockProposals) sent per
// op to 4 in-process validators' public servers (proxies over a shard that answers at
// once, default limits), all 4 calls at once, as a client's fan-out sends them: the
// items' bytes are the same for the 4 calls. "16x1" is 16 proposals of 1-transfer
// blocks, "16x100" 16 of 100-transfer blocks. codec=wire is Mica's codec and buffer
// pool (wire.go); codec=grpc is grpc-go's proto codec and default pool, for comparison.
// cpu-µs/op counts the runtime's work too: with grpc-go's pool, the 1 MiB buffers it
// keeps make this small heap larger and its collections rarer (BenchmarkWireCodec
// measures the codecs' own work).
// allocs/op, B/op and cpu-µs/op count both ends (one process).
func BenchmarkFanOutBatch(b *testing.B) {
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	g := prototest.Genesis(prototest.Committee(prototest.Validators(4)), keys, base.Tokens(10))
	info := &protocol.ChainInfo{ChainID: g.ChainIDs()[0], NextBlockHeight: 7}
	for _, codecName := range []string{"wire", "grpc"} {
		// The servers of a codec are made in its sub-benchmark: only those of the
		// codec measured exist (the first servers of a process measured slower).
		b.Run("codec="+codecName, func(b *testing.B) {
			var sopts []grpc.ServerOption
			var dopts []grpc.DialOption
			if codecName == "grpc" {
				sopts = []grpc.ServerOption{grpc.ForceServerCodecV2(encoding.GetCodecV2(wireCodecName)), experimental.BufferPool(mem.DefaultBufferPool())}
				dopts = []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.ForceCodecV2(encoding.GetCodecV2(wireCodecName))), experimental.WithBufferPool(mem.DefaultBufferPool())}
			}
			var nodes []*Node
			for range 4 {
				proxy, err := NewProxy(ProxyConfig{Shards: []Shard{echoShard{info}}, Storage: newStore(b, g)})
				if err != nil {
					b.Fatal(err)
				}
				limits := DefaultLimits(protocol.NoFeesPolicy())
				nodes = append(nodes, serveProxy(b, proxy, ServerConfig{Limits: &limits, Options: sopts}, DialOptions{Options: dopts}))
			}
			for _, shape := range []struct {
				name           string
				items, perItem int
			}{{"16x1", 16, 1}, {"16x100", 16, 100}} {
				batch := &pb.Batch{}
				size := 0
				for _, enc := range encodedProposals(b, g, keys[0], shape.items, shape.perItem) {
					size += len(enc)
					batch.Items = append(batch.Items, &pb.BatchItem{Payload: enc, TimeoutMicros: 5_000_000})
				}
				b.Run(shape.name, func(b *testing.B) { fanOutBatch(b, nodes, batch, size) })
			}
		})
	}
}

// fanOutBatch sends batch to every node at once per op (BenchmarkFanOutBatch).
func fanOutBatch(b *testing.B, nodes []*Node, batch *pb.Batch, size int) {
	ctx := context.Background()
	b.SetBytes(int64(len(nodes) * size))
	b.ReportAllocs()
	start := cputime.Process()
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make([]error, len(nodes))
		for i, n := range nodes {
			wg.Go(func() {
				// Each call its own envelope, as batchnode.go builds one per
				// validator; the items' bytes are shared.
				req := &pb.Batch{Items: make([]*pb.BatchItem, len(batch.Items))}
				for k, it := range batch.Items {
					req.Items[k] = &pb.BatchItem{Payload: it.Payload, TimeoutMicros: it.TimeoutMicros}
				}
				resp, err := n.api.HandleBlockProposals(ctx, req)
				if err == nil && len(resp.GetResults()) != len(req.Items) {
					err = fmt.Errorf("%d results for %d items", len(resp.GetResults()), len(req.Items))
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCPU(b, start)
}

// BenchmarkWireCodec: what the codec costs a fan-out without the network: per op, a
// batch of 16 encoded proposals is marshalled for each of 4 validators (the items'
// bytes shared, each call its own envelope), copied into 16 KiB frames of the
// receiver's pool as gRPC's transport reads it, and unmarshalled; then each
// validator's answer (16 chain infos of 300 bytes) makes the same way back. codec=wire
// is wireCodec with wireBuffers; codec=grpc is grpc-go's proto codec with its default
// pool. cpu-µs/op (the process's CPU time) is steadier than ns/op on a busy machine.
func BenchmarkWireCodec(b *testing.B) {
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	g := prototest.Genesis(prototest.Committee(prototest.Validators(4)), keys, base.Tokens(10))
	codecs := []struct {
		name  string
		codec encoding.CodecV2
		pool  mem.BufferPool
	}{
		{"wire", wireCodec{pool: wireBuffers}, wireBuffers},
		{"grpc", encoding.GetCodecV2(wireCodecName), mem.DefaultBufferPool()},
	}
	for _, shape := range []struct {
		name           string
		items, perItem int
	}{{"16x1", 16, 1}, {"16x100", 16, 100}} {
		payloads := encodedProposals(b, g, keys[0], shape.items, shape.perItem)
		answer := bytes.Repeat([]byte{1}, 300)
		for _, c := range codecs {
			send := func(m, into proto.Message) {
				out, err := c.codec.Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				var in mem.BufferSlice
				r := out.Reader()
				for r.Remaining() > 0 {
					buf := c.pool.Get(min(r.Remaining(), 16<<10))
					if _, err := r.Read(*buf); err != nil {
						b.Fatal(err)
					}
					in = append(in, mem.NewBuffer(buf, c.pool))
				}
				if err := r.Close(); err != nil {
					b.Fatal(err)
				}
				out.Free()
				if err := c.codec.Unmarshal(in, into); err != nil {
					b.Fatal(err)
				}
				in.Free()
			}
			b.Run("codec="+c.name+"/"+shape.name, func(b *testing.B) {
				b.ReportAllocs()
				start := cputime.Process()
				defer func() { reportCPU(b, start) }()
				for b.Loop() {
					for range 4 {
						req := &pb.Batch{Items: make([]*pb.BatchItem, len(payloads))}
						for k, p := range payloads {
							req.Items[k] = &pb.BatchItem{Payload: p, TimeoutMicros: 5_000_000}
						}
						var got pb.Batch
						send(req, &got)
						resp := &pb.BatchResults{Results: make([]*pb.BatchResult, len(got.Items))}
						for k := range got.Items {
							resp.Results[k] = &pb.BatchResult{Response: &pb.ChainInfoResponse{Payload: answer}}
						}
						var back pb.BatchResults
						send(resp, &back)
					}
				}
			})
		}
	}
}

// encodedProposals returns the canonical bytes of n proposals of the first chain of g,
// each of a block of perBlock transfers signed by key.
func encodedProposals(b *testing.B, g *protocol.GenesisConfig, key *crypto.PrivateKey, n, perBlock int) [][]byte {
	chain, owner := g.ChainIDs()[0], key.Public().Owner()
	var out [][]byte
	for i := range n {
		block := prototest.TransferBlock(chain, base.BlockHeight(i), nil, owner, base.Account{Chain: base.ChainID{2}}, perBlock)
		prop, err := protocol.SignProposal(key, block.Proposed, base.Round{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, codec.Marshal(prop))
	}
	return out
}

// BenchmarkBatchServer: what a validator's batch server spends on 16 chains' blocks,
// the shape of the 16-chain benchmark's steady state: per op, one batch of 16 proposals
// (one 1-transfer block of each of 16 chains) and then one batch of their 16
// certificates, each handed straight to a validator's proxy (HandleBlockProposals,
// HandleCertificates) over an in-process worker on memkv, as a gRPC stream worker
// would. The items of different chains run concurrently (runBatch). The certificates
// are made outside the timer by a certifier that executes the same blocks.
// cpu-µs/op is the process's CPU while the timer runs, goroutines/op the goroutines
// started meanwhile; allocs/op and B/op count the handlers and the worker (and the
// check of the proposals' answers: the vote is needed before the certificate).
func BenchmarkBatchServer(b *testing.B) {
	const chains = 16
	keys := make([]*crypto.PrivateKey, chains)
	for i := range keys {
		keys[i] = prototest.Key(fmt.Sprintf("owner-%d", i))
	}
	vkeys := prototest.Validators(4)
	g := prototest.Genesis(prototest.Committee(vkeys), keys, base.Tokens(1000))
	ids := g.ChainIDs()
	notifier := NewNotifier(0)
	w := worker.New(worker.Config{Storage: newStore(b, g), Signer: vkeys[0], Clock: sysClock{}, Notify: notifier.Publish})
	proxy, err := NewValidatorServer(w, ProxyConfig{Notifier: notifier})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { _ = w.Run(ctx, 20*time.Millisecond) })
	b.Cleanup(func() { cancel(); bg.Wait() })
	c := newCertifierOf(b, g, vkeys)
	prev := make([]*base.Hash, chains)
	var height base.BlockHeight
	props, certs := &pb.Batch{}, &pb.Batch{}
	// next makes the proposals and certificates of every chain's next block.
	next := func() {
		props.Items, certs.Items = props.Items[:0], certs.Items[:0]
		for i, id := range ids {
			owner := keys[i].Public().Owner()
			block := protocol.ProposedBlock{ChainID: id, Height: height, PreviousBlockHash: prev[i], Timestamp: base.TimestampFromTime(time.Now()), AuthenticatedOwner: &owner,
				Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: id}, Amount: base.AmountFromAttos(1)})}}
			p, err := protocol.SignProposal(keys[i], block, base.Round{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			cert := c.certify(block)
			prev[i] = ptr(cert.Block.Hash())
			props.Items = append(props.Items, &pb.BatchItem{Payload: codec.Marshal(p), TimeoutMicros: 5_000_000})
			certs.Items = append(certs.Items, &pb.BatchItem{Payload: codec.Marshal(cert), TimeoutMicros: 5_000_000})
		}
		height++
	}
	check := func(what string, resp *pb.BatchResults, err error) {
		if err == nil && len(resp.GetResults()) != chains {
			err = fmt.Errorf("%d results", len(resp.GetResults()))
		}
		for i, r := range resp.GetResults() {
			if _, rerr := resultOf(r); rerr != nil && err == nil {
				err = fmt.Errorf("item %d: %w", i, rerr)
			}
		}
		if err != nil {
			b.Fatalf("%s at height %d: %v", what, height-1, err)
		}
	}
	b.ReportAllocs()
	var cpu time.Duration
	var started uint64
	for b.Loop() {
		b.StopTimer()
		next()
		start, goroutines := cputime.Process(), goroutinesCreated()
		b.StartTimer()
		votes, err := proxy.HandleBlockProposals(ctx, props)
		check("proposals", votes, err)
		resp, err := proxy.HandleCertificates(ctx, certs)
		cpu += cputime.Process() - start
		started += goroutinesCreated() - goroutines
		b.StopTimer()
		check("certificates", resp, err)
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(started)/float64(b.N), "goroutines/op")
}

// goroutinesCreated returns the number of goroutines the process has started.
func goroutinesCreated() uint64 {
	s := []runtimemetrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	runtimemetrics.Read(s)
	return s[0].Value.Uint64()
}

// BenchmarkGRPCTransferBlocks: 16 chains of one client commit 1-transfer blocks at
// once (each chain one block after the other, as `mica benchmark --chains 16` does),
// over loopback gRPC to 4 validators (a proxy over one in-process memkv worker each),
// so that proposals and certificates of several chains meet in the batchers. An op is
// one block; b.N blocks are shared by the chains. allocs/op, B/op and cpu-µs/op cover
// the client and the four validators (one process): a change on one side shows as the
// difference. go test -memprofile with -memprofilerate 1 and -focus on the client's
// functions separates them.
func BenchmarkGRPCTransferBlocks(b *testing.B) {
	const chains = 16
	keys := make([]*crypto.PrivateKey, chains)
	for i := range keys {
		keys[i] = prototest.Key(fmt.Sprintf("owner-%d", i))
	}
	n := newTestNet(b, keys, 1)
	c := n.client(0)
	ctx := context.Background()
	ccs := make([]*client.ChainClient, chains)
	for i := range ccs {
		ccs[i] = c.Chain(n.chains[i], keys[i], nil)
		// The first block of each chain syncs it: outside the figures.
		if _, err := ccs[i].Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[i]}, base.AmountFromAttos(1)); err != nil {
			b.Fatal(err)
		}
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ReportAllocs()
	b.ResetTimer()
	start := cputime.Process()
	var wg sync.WaitGroup
	errs := make([]error, chains)
	for i, cc := range ccs {
		wg.Go(func() {
			to := base.Account{Chain: n.chains[i]}
			for left.Add(-1) >= 0 {
				if _, err := cc.Transfer(ctx, base.ChainOwner, to, base.AmountFromAttos(1)); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	reportCPU(b, start)
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
}
