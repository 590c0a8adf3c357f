package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

func ownerKeys(n int) []*crypto.PrivateKey {
	keys := make([]*crypto.PrivateKey, n)
	for i := range keys {
		keys[i] = prototest.Key(fmt.Sprintf("owner-%d", i))
	}
	return keys
}

// transferBlock is a block of chain i of n paying amount attos to the next chain.
func transferBlock(n *testNet, keys []*crypto.PrivateKey, i int, h base.BlockHeight, prev *base.Hash, amount uint64) protocol.ProposedBlock {
	owner := keys[i].Public().Owner()
	return protocol.ProposedBlock{ChainID: n.chains[i], Height: h, PreviousBlockHash: prev, Timestamp: base.TimestampFromTime(time.Now()), AuthenticatedOwner: &owner,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: n.chains[(i+1)%len(n.chains)]}, Amount: base.AmountFromAttos(amount)})}}
}

func signedProposal(t *testing.T, key *crypto.PrivateKey, b protocol.ProposedBlock) *protocol.BlockProposal {
	t.Helper()
	p, err := protocol.SignProposal(key, b, base.Round{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// certifier executes blocks on a node of its own and certifies them with the
// committee's keys, as a client that gathered the votes would.
type certifier struct {
	tb    testing.TB
	keys  []*crypto.PrivateKey // the committee's
	local *worker.Worker
}

func newCertifier(t *testing.T, n *testNet) *certifier {
	return newCertifierOf(t, n.genesis, n.keys)
}

// newCertifierOf is newCertifier for the network of genesis g and committee keys.
func newCertifierOf(tb testing.TB, g *protocol.GenesisConfig, keys []*crypto.PrivateKey) *certifier {
	return &certifier{tb: tb, keys: keys, local: worker.New(worker.Config{Storage: newStore(tb, g), Clock: sysClock{}})}
}

// certify returns the confirmed certificate of b, which the certifier then applies.
func (c *certifier) certify(b protocol.ProposedBlock) *protocol.Certificate {
	c.tb.Helper()
	ctx := context.Background()
	block, err := c.local.StageBlock(ctx, &b, nil)
	if err != nil {
		c.tb.Fatal(err)
	}
	cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.Round{}, c.keys)
	if _, err := c.local.HandleCertificate(ctx, cert); err != nil {
		c.tb.Fatal(err)
	}
	return cert
}

func batchOf(items ...*pb.BatchItem) *pb.Batch { return &pb.Batch{Items: items} }

func itemOf(v codec.Encoder, q *protocol.ChainInfoQuery) *pb.BatchItem {
	return &pb.BatchItem{Payload: codec.Marshal(v), Query: encodeQuery(q)}
}

// resultOf returns a batch result's chain info, or its refusal.
func resultOf(r *pb.BatchResult) (*protocol.ChainInfo, error) {
	if e := r.GetError(); e != nil {
		return nil, decodeError(e)
	}
	return decodeChainInfo(r.GetResponse())
}

// TestBatchProposalsOwnResults: each proposal of a batch gets its own answer: a
// malformed item and a forged one are refused alone, and the valid ones are voted for.
func TestBatchProposalsOwnResults(t *testing.T) {
	keys := ownerKeys(3)
	n := newTestNet(t, keys, 1)
	forged := signedProposal(t, keys[1], transferBlock(n, keys, 1, 0, nil, 5))
	forged.Content.Block.Transactions[0] = protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: n.chains[0]}, Amount: base.Tokens(999)})
	api := pb.NewValidatorNodeClient(rawConn(t, n.vals[0].addr))
	resp, err := api.HandleBlockProposals(callCtx(t), batchOf(
		itemOf(signedProposal(t, keys[0], transferBlock(n, keys, 0, 0, nil, 1)), nil),
		&pb.BatchItem{Payload: []byte("not a proposal")},
		itemOf(forged, nil),
		itemOf(signedProposal(t, keys[2], transferBlock(n, keys, 2, 0, nil, 1)), nil),
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetResults()) != 4 {
		t.Fatalf("%d results for 4 items", len(resp.GetResults()))
	}
	for i, r := range resp.GetResults() {
		info, err := resultOf(r)
		switch i {
		case 1, 2:
			if !errors.Is(err, base.ErrInvalid) {
				t.Errorf("item %d: %v, want an invalid-class refusal", i, err)
			}
		default:
			if err != nil || info.Manager.PendingVote == nil {
				t.Errorf("item %d: %v, want a vote", i, err)
			}
		}
	}
}

// TestBatchCertificatesOneBadSignature: in a batch of valid certificates of many
// chains, one whose signature is forged is refused alone; the others are applied, and
// the one carrying a query gets its answer.
func TestBatchCertificatesOneBadSignature(t *testing.T) {
	const chains = 8
	keys := ownerKeys(chains)
	n := newTestNet(t, keys, 1)
	c := newCertifier(t, n)
	const bad = 5
	var items []*pb.BatchItem
	for i := range chains {
		cert := c.certify(transferBlock(n, keys, i, 0, nil, 1))
		if i == bad {
			other := c.certify(transferBlock(n, keys, i, 1, ptr(cert.Block.Hash()), 1))
			cert.Signatures[1].Signature = other.Signatures[1].Signature
		}
		var q *protocol.ChainInfoQuery
		if i == 0 {
			q = &protocol.ChainInfoQuery{ChainID: n.chains[0], RequestPendingBundles: true}
		}
		items = append(items, itemOf(cert, q))
	}
	api := pb.NewValidatorNodeClient(rawConn(t, n.vals[0].addr))
	resp, err := api.HandleCertificates(callCtx(t), batchOf(items...))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.GetResults() {
		info, err := resultOf(r)
		if i == bad {
			if !errors.Is(err, base.ErrInvalid) {
				t.Errorf("forged certificate: %v, want an invalid-class refusal", err)
			}
			continue
		}
		if err != nil || info.NextBlockHeight != 1 {
			t.Errorf("certificate %d: %v, want the chain at height 1", i, err)
			continue
		}
		if answered := r.GetResponse().GetQueryAnswered(); answered != (i == 0) {
			t.Errorf("certificate %d: query answered %v", i, answered)
		}
	}
	if got := n.state(0, n.chains[bad]).next; got != 0 {
		t.Errorf("chain of the forged certificate at height %d, want 0", got)
	}
	// The whole batch again: the valid certificates are known now, the forged one is
	// still refused.
	resp, err = api.HandleCertificates(callCtx(t), batchOf(items...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resultOf(resp.GetResults()[bad]); !errors.Is(err, base.ErrInvalid) {
		t.Errorf("forged certificate again: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestBatchSameChainInOrder: certificates of one chain at consecutive heights in one
// batch are applied in their order, among other chains' items.
func TestBatchSameChainInOrder(t *testing.T) {
	keys := ownerKeys(2)
	n := newTestNet(t, keys, 1)
	c := newCertifier(t, n)
	var items []*pb.BatchItem
	var prev *base.Hash
	for h := range base.BlockHeight(6) {
		cert := c.certify(transferBlock(n, keys, 0, h, prev, 1))
		prev = ptr(cert.Block.Hash())
		items = append(items, itemOf(cert, nil))
		if h == 2 {
			items = append(items, itemOf(c.certify(transferBlock(n, keys, 1, 0, nil, 1)), nil))
		}
	}
	api := pb.NewValidatorNodeClient(rawConn(t, n.vals[0].addr))
	resp, err := api.HandleCertificates(callCtx(t), batchOf(items...))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.GetResults() {
		if _, err := resultOf(r); err != nil {
			t.Errorf("item %d: %v", i, err)
		}
	}
	if got := n.state(0, n.chains[0]).next; got != 6 {
		t.Errorf("chain at height %d, want 6", got)
	}
}

// TestBatchLimits: a batch of too many items, or of too many bytes, is refused whole
// before any item runs; an item whose deadline has passed is refused alone.
func TestBatchLimits(t *testing.T) {
	keys := ownerKeys(2)
	n := newTestNet(t, keys, 1)
	api := pb.NewValidatorNodeClient(rawConn(t, n.vals[0].addr))
	prop := itemOf(signedProposal(t, keys[0], transferBlock(n, keys, 0, 0, nil, 1)), nil)
	many := make([]*pb.BatchItem, maxBatchItems+1)
	for i := range many {
		many[i] = prop
	}
	_, err := api.HandleBlockProposals(callCtx(t), batchOf(many...))
	wantCode(t, "too many proposals", err, codes.InvalidArgument)
	_, err = api.HandleCertificates(callCtx(t), batchOf(many...))
	wantCode(t, "too many certificates", err, codes.InvalidArgument)
	big := batchOf(&pb.BatchItem{Payload: make([]byte, batchBudget/2)}, &pb.BatchItem{Payload: make([]byte, batchBudget/2)})
	_, err = api.HandleBlockProposals(callCtx(t), big)
	wantCode(t, "oversize proposals", err, codes.ResourceExhausted)
	_, err = api.HandleCertificates(callCtx(t), big)
	wantCode(t, "oversize certificates", err, codes.ResourceExhausted)
	if got := n.state(0, n.chains[0]).next; got != 0 {
		t.Errorf("chain at height %d after refused batches", got)
	}
	late := itemOf(signedProposal(t, keys[1], transferBlock(n, keys, 1, 0, nil, 1)), nil)
	late.TimeoutMicros = 1
	resp, err := api.HandleBlockProposals(callCtx(t), batchOf(prop, late))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resultOf(resp.GetResults()[0]); err != nil {
		t.Errorf("item in time: %v", err)
	}
	if _, err := resultOf(resp.GetResults()[1]); err == nil {
		t.Error("item past its deadline was handled")
	}
	if l := DefaultLimits(protocol.NoFeesPolicy()); !l.heavy(pb.ValidatorNode_HandleCertificates_FullMethodName) || l.budget(pb.ValidatorNode_HandleCertificates_FullMethodName) > UnaryLimit {
		t.Error("a batch must take a heavy in-flight slot and fit under the unary limit")
	}
}

// TestBatchProxySplitsByShard: a sharded validator's proxy hands each item of a batch
// to the shard of its chain, all of a remote shard's items in one internal call.
func TestBatchProxySplitsByShard(t *testing.T) {
	keys := ownerKeys(6)
	n := newTestNet(t, keys, 2)
	c := newCertifier(t, n)
	var props, certs []*pb.BatchItem
	for i := range keys {
		props = append(props, itemOf(signedProposal(t, keys[i], transferBlock(n, keys, i, 0, nil, 1)), nil))
		certs = append(certs, itemOf(c.certify(transferBlock(n, keys, i, 0, nil, 1)), nil))
	}
	v := n.vals[0]
	api := pb.NewValidatorNodeClient(rawConn(t, v.addr))
	// The proposals first: the certificates move the chains past them.
	for _, b := range []struct {
		name  string
		call  func(context.Context, *pb.Batch, ...grpc.CallOption) (*pb.BatchResults, error)
		items []*pb.BatchItem
	}{{"proposals", api.HandleBlockProposals, props}, {"certificates", api.HandleCertificates, certs}} {
		name := b.name
		resp, err := b.call(callCtx(t), batchOf(b.items...))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range resp.GetResults() {
			if _, err := resultOf(r); err != nil {
				t.Errorf("%s item %d: %v", name, i, err)
			}
		}
	}
	if v.misrouted.Load() != 0 {
		t.Errorf("%d requests reached a shard that does not own their chain", v.misrouted.Load())
	}
	for i := range v.perShard {
		if v.perShard[i].Load() == 0 {
			t.Errorf("shard %d received nothing", i)
		}
	}
	for i := range keys {
		if got := n.state(0, n.chains[i]).next; got != 1 {
			t.Errorf("chain %d at height %d, want 1", i, got)
		}
	}
	// Each remote shard received its items of each batch in one internal call.
	for i := range v.calls {
		for _, m := range []struct{ batch, unary string }{
			{pb.ValidatorWorker_HandleBlockProposals_FullMethodName, pb.ValidatorWorker_HandleBlockProposal_FullMethodName},
			{pb.ValidatorWorker_HandleCertificates_FullMethodName, pb.ValidatorWorker_HandleCertificate_FullMethodName},
		} {
			if b, u := calls(v, i, m.batch), calls(v, i, m.unary); b != 1 || u != 0 {
				t.Errorf("shard %d: %d calls of %s and %d of %s for one batch, want one batch call", i, b, m.batch, u, m.unary)
			}
		}
	}
}

// calls returns the internal RPCs of method that shard i of v received.
func calls(v *testValidator, i int, method string) int64 {
	if c, ok := v.calls[i].Load(method); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// TestBatchProxyLegacyShard: a shard without the internal batch methods still gets
// its items of a batch, one unary call each (the proxy learns it from Unimplemented,
// and sends it unary calls from then on), while the other shard gets one batch call.
func TestBatchProxyLegacyShard(t *testing.T) {
	keys := ownerKeys(6)
	n := &testNet{tb: t, keys: prototest.Validators(4)}
	n.committee = prototest.Committee(n.keys)
	n.genesis = prototest.Genesis(n.committee, keys, base.Tokens(1000))
	n.chains = n.genesis.ChainIDs()
	const legacy = 1
	v := startShardedValidator(t, n.keys[0], n.genesis, 2, legacy)
	c := newCertifier(t, n)
	var props, certs []*pb.BatchItem
	mine := 0 // items of the legacy shard's chains
	for i := range keys {
		props = append(props, itemOf(signedProposal(t, keys[i], transferBlock(n, keys, i, 0, nil, 1)), nil))
		certs = append(certs, itemOf(c.certify(transferBlock(n, keys, i, 0, nil, 1)), nil))
		if ShardOf(n.chains[i], 2) == legacy {
			mine++
		}
	}
	if mine == 0 || mine == len(keys) {
		t.Fatalf("%d of %d chains on the legacy shard: pick other owners", mine, len(keys))
	}
	api := pb.NewValidatorNodeClient(rawConn(t, v.addr))
	for _, b := range []struct {
		name         string
		call         func(context.Context, *pb.Batch, ...grpc.CallOption) (*pb.BatchResults, error)
		items        []*pb.BatchItem
		batch, unary string
	}{
		{"proposals", api.HandleBlockProposals, props, pb.ValidatorWorker_HandleBlockProposals_FullMethodName, pb.ValidatorWorker_HandleBlockProposal_FullMethodName},
		{"certificates", api.HandleCertificates, certs, pb.ValidatorWorker_HandleCertificates_FullMethodName, pb.ValidatorWorker_HandleCertificate_FullMethodName},
	} {
		resp, err := b.call(callCtx(t), batchOf(b.items...))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range resp.GetResults() {
			if _, err := resultOf(r); err != nil {
				t.Errorf("%s item %d: %v", b.name, i, err)
			}
		}
		if got := calls(v, legacy, b.unary); got != int64(mine) {
			t.Errorf("%s: legacy shard got %d unary calls for its %d items", b.name, got, mine)
		}
		if got := calls(v, 1-legacy, b.batch); got != 1 {
			t.Errorf("%s: the other shard got %d batch calls, want 1", b.name, got)
		}
	}
	if v.misrouted.Load() != 0 {
		t.Errorf("%d requests reached a shard that does not own their chain", v.misrouted.Load())
	}
}

// countingNode dials validator v with a counter of the RPCs sent by method.
func countingNode(t *testing.T, n *testNet, v *testValidator, counts *sync.Map) *Node {
	t.Helper()
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		c, _ := counts.LoadOrStore(method, new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	node, err := Dial(context.Background(), v.addr, DialOptions{GenesisHash: n.genesis.Hash(), CallTimeout: 5 * time.Second, Options: []grpc.DialOption{grpc.WithChainUnaryInterceptor(count)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	return node
}

// TestBatchConcurrentChainsFewerRPCs: a client driving many chains at once sends
// fewer proposal and certificate RPCs per validator than blocks, and every block
// commits.
func TestBatchConcurrentChainsFewerRPCs(t *testing.T) {
	const chains, blocks = 16, 3
	keys := ownerKeys(chains)
	n := newTestNet(t, keys, 1)
	counts := make([]*sync.Map, len(n.vals))
	var vals []client.Validator
	for i, v := range n.vals {
		counts[i] = new(sync.Map)
		vals = append(vals, client.Validator{PublicKey: v.key.Public(), Node: countingNode(t, n, v, counts[i])})
	}
	local := worker.New(worker.Config{Storage: newStore(t, n.genesis), Clock: sysClock{}})
	cl := client.New(client.Config{Local: local, Committee: n.committee, Validators: vals, Clock: sysClock{}, RequestTimeout: 5 * time.Second})
	ctx := context.Background()
	// One block each first, so that the measured blocks are in steady state.
	var wg sync.WaitGroup
	run := func() {
		for i := range chains {
			wg.Go(func() {
				ch := cl.Chain(n.chains[i], keys[i], nil)
				if _, err := ch.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[i]}, base.AmountFromAttos(1)); err != nil {
					t.Errorf("chain %d: %v", i, err)
				}
			})
		}
		wg.Wait()
	}
	run()
	load := func(m *sync.Map, method string) int64 {
		if c, ok := m.Load(method); ok {
			return c.(*atomic.Int64).Load()
		}
		return 0
	}
	before := make([][2]int64, len(counts))
	for i, m := range counts {
		before[i] = [2]int64{
			load(m, pb.ValidatorNode_HandleBlockProposal_FullMethodName) + load(m, pb.ValidatorNode_HandleBlockProposals_FullMethodName),
			load(m, pb.ValidatorNode_HandleCertificate_FullMethodName) + load(m, pb.ValidatorNode_HandleCertificates_FullMethodName),
		}
	}
	for range blocks {
		run()
	}
	for i, m := range counts {
		props := load(m, pb.ValidatorNode_HandleBlockProposal_FullMethodName) + load(m, pb.ValidatorNode_HandleBlockProposals_FullMethodName) - before[i][0]
		certs := load(m, pb.ValidatorNode_HandleCertificate_FullMethodName) + load(m, pb.ValidatorNode_HandleCertificates_FullMethodName) - before[i][1]
		t.Logf("validator %d: %d proposal RPCs and %d certificate RPCs for %d blocks (%d batches of proposals, %d of certificates)", i, props, certs, chains*blocks,
			load(m, pb.ValidatorNode_HandleBlockProposals_FullMethodName), load(m, pb.ValidatorNode_HandleCertificates_FullMethodName))
		if props >= chains*blocks {
			t.Errorf("validator %d: %d proposal RPCs for %d blocks of %d chains at once, want fewer", i, props, chains*blocks, chains)
		}
	}
	for i := range chains {
		n.waitHeight(n.chains[i], blocks+1, all(4))
	}
}

// FuzzBatchHandlers: the proxy's and a shard's batch handlers, over a real worker,
// never panic on arbitrary batches and answer every item (called directly, without the
// recovering interceptors).
func FuzzBatchHandlers(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		var it pb.BatchItem
		switch s[0][0] {
		case selProposal:
			var m pb.BlockProposal
			if proto.Unmarshal(s[1], &m) == nil {
				it.Payload = m.Payload
			}
		case selCertificate:
			var m pb.Certificate
			if proto.Unmarshal(s[1], &m) == nil {
				it.Payload, it.Query = m.Payload, m.Query
			}
		default:
			continue
		}
		b, err := proto.Marshal(batchOf(&it, &it))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s[0][0] == selCertificate, b)
	}
	proxy, w, notifier := fuzzValidator(f)
	shard := NewShardServer(w, notifier, nil)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, certs bool, data []byte) {
		var m pb.Batch
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		handlers := []func(context.Context, *pb.Batch) (*pb.BatchResults, error){proxy.HandleBlockProposals, shard.HandleBlockProposals}
		if certs {
			handlers = []func(context.Context, *pb.Batch) (*pb.BatchResults, error){proxy.HandleCertificates, shard.HandleCertificates}
		}
		for _, handle := range handlers {
			resp, err := handle(ctx, &m)
			if err == nil && len(resp.GetResults()) != len(m.GetItems()) {
				t.Fatalf("%d results for %d items", len(resp.GetResults()), len(m.GetItems()))
			}
			for _, r := range resp.GetResults() {
				if (r.GetError() == nil) == (r.GetResponse() == nil) {
					t.Fatalf("result with both or neither of a response and an error: %v", r)
				}
			}
		}
	})
}

// TestBatchItemsInFlightBound: batch items wait for one of the proxy's slots for batch
// items; an item whose deadline passes while every slot is taken is refused as
// retryable, and runs once a slot frees.
func TestBatchItemsInFlightBound(t *testing.T) {
	keys := ownerKeys(1)
	n := newTestNet(t, keys, 1)
	notifier := NewNotifier(0)
	w := worker.New(worker.Config{Storage: newStore(t, n.genesis), Signer: n.keys[0], Clock: sysClock{}, Notify: notifier.Publish})
	proxy, err := NewValidatorServer(w, ProxyConfig{Notifier: notifier})
	if err != nil {
		t.Fatal(err)
	}
	if !proxy.batchItems.all.TryAcquire(maxBatchItemsInFlight) {
		t.Fatal("batch item slots taken")
	}
	item := itemOf(signedProposal(t, keys[0], transferBlock(n, keys, 0, 0, nil, 1)), nil)
	item.TimeoutMicros = uint64(50 * time.Millisecond / time.Microsecond)
	resp, err := proxy.HandleBlockProposals(context.Background(), batchOf(item))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resultOf(resp.GetResults()[0]); !errors.Is(err, base.ErrRetryable) {
		t.Fatalf("item while every slot is taken: %v, want a retryable refusal", err)
	}
	proxy.batchItems.all.Release(1)
	resp, err = proxy.HandleBlockProposals(context.Background(), batchOf(item))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resultOf(resp.GetResults()[0]); err != nil {
		t.Fatalf("item with a free slot: %v", err)
	}
}
