package rpc

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
)

// gatedValidator is a fake validator for the client side of batching: its unary
// proposal calls wait for the gate; its batch calls are recorded and answered at once.
// Each proposal is answered with the chain info of its chain, or refused if its chain
// id starts with 0xbad.
type gatedValidator struct {
	pb.UnimplementedValidatorNodeServer
	gate    chan struct{} // closed: unary calls proceed
	batches bool          // serve the batch methods

	unary   atomic.Int64 // unary calls received
	waiting atomic.Int64 // unary calls waiting for the gate
	mu      sync.Mutex
	sizes   []int                 // items of each batch received
	items   []*pb.BatchItem       // every batch item received
	served  map[base.ChainID]bool // chains answered
}

func (g *gatedValidator) answer(payload []byte) (*pb.ChainInfoResponse, error) {
	p, err := decodePayload[protocol.BlockProposal]("block proposal", payload)
	if err != nil {
		return nil, err
	}
	id := p.Content.Block.ChainID
	if id[0] == 0xba && id[1] == 0xd0 {
		return nil, base.Invalidf("refused chain %s", id.Short())
	}
	g.mu.Lock()
	g.served[id] = true
	g.mu.Unlock()
	return &pb.ChainInfoResponse{Payload: codec.Marshal(&protocol.ChainInfo{ChainID: id})}, nil
}

func (g *gatedValidator) HandleBlockProposal(ctx context.Context, m *pb.BlockProposal) (*pb.ChainInfoResponse, error) {
	g.unary.Add(1)
	g.waiting.Add(1)
	select {
	case <-g.gate:
	case <-ctx.Done():
	}
	g.waiting.Add(-1)
	resp, err := g.answer(m.GetPayload())
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

func (g *gatedValidator) HandleBlockProposals(ctx context.Context, m *pb.Batch) (*pb.BatchResults, error) {
	if !g.batches {
		return g.UnimplementedValidatorNodeServer.HandleBlockProposals(ctx, m)
	}
	g.mu.Lock()
	g.sizes = append(g.sizes, len(m.GetItems()))
	g.items = append(g.items, m.GetItems()...)
	g.mu.Unlock()
	out := &pb.BatchResults{}
	for _, it := range m.GetItems() {
		resp, err := g.answer(it.GetPayload())
		if err != nil {
			out.Results = append(out.Results, errorResult(err))
		} else {
			out.Results = append(out.Results, &pb.BatchResult{Response: resp})
		}
	}
	return out, nil
}

// gatedCallTimeout is the connection's call timeout in startGated. It bounds every
// call held at the gate, from the moment it starts until the test opens the gate, so it
// is generous: a loaded machine may take seconds between the two.
const gatedCallTimeout = 2 * time.Minute

func startGated(t *testing.T, batches bool) (*gatedValidator, *Node) {
	t.Helper()
	g := &gatedValidator{gate: make(chan struct{}), batches: batches, served: map[base.ChainID]bool{}}
	srv := NewServer(listen(t), ServerConfig{})
	pb.RegisterValidatorNodeServer(srv.Registrar(), g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	node, err := Dial(context.Background(), srv.Addr().String(), DialOptions{CallTimeout: gatedCallTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = node.Close()
		_ = srv.Close()
		cancel()
		<-done
	})
	return g, node
}

// proposalOf returns a proposal of chain id with blobs (the fake validator checks
// nothing).
func proposalOf(id base.ChainID, blobs ...protocol.Blob) *protocol.BlockProposal {
	p, err := protocol.SignProposal(prototest.Key("alice"), protocol.ProposedBlock{ChainID: id}, base.Round{}, blobs)
	if err != nil {
		panic(err)
	}
	return p
}

func chainN(i int) base.ChainID {
	var id base.ChainID
	id[31] = byte(i)
	id[30] = byte(i >> 8)
	return id
}

// fillSlots starts maxBatchInFlight proposals that wait at the gate, and returns a
// channel that receives their errors.
func fillSlots(t *testing.T, g *gatedValidator, node *Node) chan error {
	t.Helper()
	errc := make(chan error, maxBatchInFlight)
	for i := range maxBatchInFlight {
		go func() {
			_, err := node.HandleBlockProposal(context.Background(), proposalOf(chainN(1000+i)))
			errc <- err
		}()
	}
	waitFor(t, "slots taken", func() bool { return g.waiting.Load() == maxBatchInFlight })
	return errc
}

func queued(b *batcher) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// TestBatchNodeCoalesces: while the slots are taken, proposals of many chains queue and
// leave as one batch call; each caller gets its own chain's answer, and the one refused
// item fails alone.
func TestBatchNodeCoalesces(t *testing.T) {
	g, node := startGated(t, true)
	slots := fillSlots(t, g, node)
	const n = 10
	type result struct {
		info *protocol.ChainInfo
		err  error
	}
	results := make([]chan result, n)
	for i := range n {
		results[i] = make(chan result, 1)
		id := chainN(i)
		if i == 3 {
			id[0], id[1] = 0xba, 0xd0
		}
		go func() {
			info, err := node.HandleBlockProposal(context.Background(), proposalOf(id))
			results[i] <- result{info, err}
		}()
	}
	waitFor(t, "calls queued", func() bool { return queued(node.proposals) == n })
	close(g.gate)
	for range maxBatchInFlight {
		if err := <-slots; err != nil {
			t.Fatalf("call in a slot: %v", err)
		}
	}
	for i := range n {
		r := <-results[i]
		if i == 3 {
			if !errors.Is(r.err, base.ErrInvalid) {
				t.Errorf("refused item: %v, want its own invalid-class refusal", r.err)
			}
			continue
		}
		if r.err != nil || r.info.ChainID != chainN(i) {
			t.Errorf("item %d: %v, %v; want the info of chain %s", i, r.info, r.err, chainN(i).Short())
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.sizes) != 1 || g.sizes[0] != n {
		t.Errorf("batches of %v items, want one of %d", g.sizes, n)
	}
	if got := g.unary.Load(); got != maxBatchInFlight {
		t.Errorf("%d unary calls, want %d (the slots' calls)", got, maxBatchInFlight)
	}
	for _, it := range g.items {
		if it.GetTimeoutMicros() == 0 || it.GetTimeoutMicros() > uint64(gatedCallTimeout/time.Microsecond) {
			t.Errorf("item sent with a timeout of %d µs, want what is left of %v", it.GetTimeoutMicros(), gatedCallTimeout)
		}
	}
}

// TestBatchNodeAloneAtLowLoad: calls one after the other each go alone by the unary
// method, as without batching.
func TestBatchNodeAloneAtLowLoad(t *testing.T) {
	g, node := startGated(t, true)
	close(g.gate)
	for i := range 5 {
		if _, err := node.HandleBlockProposal(context.Background(), proposalOf(chainN(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got := g.unary.Load(); got != 5 || len(g.sizes) != 0 {
		t.Errorf("%d unary calls and batches %v, want 5 unary calls and no batch", got, g.sizes)
	}
}

// TestBatchNodeCallerDeadline: a queued caller whose context ends returns at once with
// its context's error, its item leaves the queue, and the others still get their
// answers; an item's deadline travels with it.
func TestBatchNodeCallerDeadline(t *testing.T) {
	g, node := startGated(t, true)
	slots := fillSlots(t, g, node)
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() {
		_, err := node.HandleBlockProposal(ctx, proposalOf(chainN(1)))
		gone <- err
	}()
	// The short deadline must not end before the gate opens (below): half the call
	// timeout, which the other caller's item gets.
	const shortTimeout = gatedCallTimeout / 2
	short, cancelShort := context.WithTimeout(context.Background(), shortTimeout)
	defer cancelShort()
	other := make(chan error, 2)
	for _, c := range []context.Context{short, context.Background()} {
		go func() {
			_, err := node.HandleBlockProposal(c, proposalOf(chainN(2)))
			other <- err
		}()
	}
	waitFor(t, "calls queued", func() bool { return queued(node.proposals) == 3 })
	cancel()
	select {
	case err := <-gone:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller: %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute): // the batch waits for the gate, opened below
		t.Fatal("a cancelled caller waits for the batch")
	}
	if got := queued(node.proposals); got != 2 {
		t.Errorf("%d calls queued after a cancellation, want 2", got)
	}
	close(g.gate)
	for range maxBatchInFlight + 2 {
		select {
		case err := <-slots:
			if err != nil {
				t.Error(err)
			}
		case err := <-other:
			if err != nil {
				t.Error(err)
			}
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.served[chainN(1)] {
		t.Error("the cancelled caller's proposal was sent")
	}
	if len(g.items) != 2 {
		t.Fatalf("%d batch items, want 2", len(g.items))
	}
	a, b := g.items[0].GetTimeoutMicros(), g.items[1].GetTimeoutMicros()
	if a > b {
		a, b = b, a
	}
	if limit := uint64(shortTimeout / time.Microsecond); a > limit || b <= limit {
		t.Errorf("items sent with timeouts of %d and %d µs, want one within %v and one beyond", a, b, shortTimeout)
	}
}

// TestBatchNodeFallback: against a validator without the batch methods, the queued
// calls of a refused batch are sent one by one, and later calls never batch.
func TestBatchNodeFallback(t *testing.T) {
	g, node := startGated(t, false)
	slots := fillSlots(t, g, node)
	const n = 4
	errc := make(chan error, n)
	for i := range n {
		go func() {
			_, err := node.HandleBlockProposal(context.Background(), proposalOf(chainN(i)))
			errc <- err
		}()
	}
	waitFor(t, "calls queued", func() bool { return queued(node.proposals) == n })
	close(g.gate)
	for range n + maxBatchInFlight {
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("call to a validator without batches: %v", err)
			}
		case err := <-slots:
			if err != nil {
				t.Error(err)
			}
		}
	}
	if got := g.unary.Load(); got != n+maxBatchInFlight {
		t.Errorf("%d unary calls, want %d", got, n+maxBatchInFlight)
	}
	node.proposals.mu.Lock()
	unsupported := node.proposals.unsupported
	node.proposals.mu.Unlock()
	if !unsupported {
		t.Error("the batcher still batches after Unimplemented")
	}
}

// TestBatchNodeLargeItemAlone: an item over the batch byte cap goes alone at once,
// even while every slot is taken.
func TestBatchNodeLargeItemAlone(t *testing.T) {
	g, node := startGated(t, true)
	slots := fillSlots(t, g, node)
	big := proposalOf(chainN(7), protocol.NewBlob(base.BlobData, make([]byte, maxBatchBytes)))
	done := make(chan error, 1)
	go func() {
		_, err := node.HandleBlockProposal(context.Background(), big)
		done <- err
	}()
	waitFor(t, "large call sent alone", func() bool { return g.waiting.Load() == maxBatchInFlight+1 })
	if got := queued(node.proposals); got != 0 {
		t.Errorf("%d calls queued, want the large one sent alone", got)
	}
	close(g.gate)
	for _, c := range []chan error{done, slots, slots} {
		if err := <-c; err != nil {
			t.Error(err)
		}
	}
}
