package client_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/cputime"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// wireNode is an in-process validator reached as over the network: proposals and
// certificates travel as their canonical bytes (the fan-out's one encoding,
// client.Encoding, as rpc.Node sends them) and are decoded on the validator's side, and
// every chain info comes back encoded and is decoded on the client's side. Only the
// transport (gRPC, sockets) is left out.
type wireNode struct {
	*deliveringNode
}

// wire encodes v (with the fan-out's encoding when ctx carries it) and decodes a copy.
func wire[T any, P interface {
	*T
	codec.Encoder
	codec.Decoder
}](ctx context.Context, v P) (P, error) {
	b, ok := client.Encoding(ctx, v)
	if !ok {
		b = codec.Marshal(v)
	}
	out := P(new(T))
	return out, codec.Unmarshal(b, out)
}

func answer(info *protocol.ChainInfo, err error) (*protocol.ChainInfo, error) {
	if err != nil {
		return nil, err
	}
	return wire[protocol.ChainInfo](context.Background(), info)
}

func (n wireNode) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	got, err := wire[protocol.BlockProposal](ctx, p)
	if err != nil {
		return nil, err
	}
	return answer(n.deliveringNode.HandleBlockProposal(ctx, got))
}

func (n wireNode) HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	got, err := wire[protocol.Certificate](ctx, c)
	if err != nil {
		return nil, err
	}
	return answer(n.deliveringNode.HandleCertificate(ctx, got))
}

func (n wireNode) HandleCertificateQuery(ctx context.Context, c *protocol.Certificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	got, err := wire[protocol.Certificate](ctx, c)
	if err != nil {
		return nil, err
	}
	return answer(n.deliveringNode.HandleCertificateQuery(ctx, got, q))
}

func (n wireNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	return answer(n.deliveringNode.HandleChainInfoQuery(ctx, q))
}

// BenchmarkTransferBlock100 commits blocks as `mica benchmark --transactions-per-block
// 100` makes them, on two chains sending to each other: each block receives the 100
// bundles of the other chain's previous block (or of earlier ones, when a block was
// prepared before the bundles reached the validators) and makes 100 transfers to it. One
// client drives both chains through 4 in-process validators reached as over the
// network (wireNode: every proposal, certificate and chain info encoded and decoded).
// cpu-ms/block is the process's CPU time (client, validators and garbage collector)
// per block.
func BenchmarkTransferBlock100(b *testing.B) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNetWithLoaderTB(b, []*crypto.PrivateKey{alice, bob}, base.Tokens(100), nil)
	var vs []client.Validator
	for _, v := range n.validators {
		vs = append(vs, client.Validator{PublicKey: v.PublicKey, Node: wireNode{v.Node.(*deliveringNode)}})
	}
	local := worker.New(worker.Config{Storage: newStore(n.t, n.genesis), Clock: n.clock})
	c := client.New(client.Config{Local: local, Committee: n.committee, Validators: vs, Clock: n.clock})
	chains := []*client.ChainClient{c.Chain(n.chains[0], alice, nil), c.Chain(n.chains[1], bob, nil)}
	ops := func(to base.ChainID) []protocol.Operation {
		out := make([]protocol.Operation, 100)
		for i := range out {
			out[i] = protocol.SystemOp(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: to}, Amount: base.AmountFromAttos(1)})
		}
		return out
	}
	toward := [][]protocol.Operation{ops(n.chains[1]), ops(n.chains[0])}
	received := 0
	block := func(i int) {
		cert, err := chains[i%2].ExecuteOperations(ctx, toward[i%2], nil)
		if err != nil {
			b.Fatal(err)
		}
		received += len(cert.Block.Proposed.Transactions) - 100
	}
	for i := range 4 { // warm up: both chains' inboxes fill
		block(i)
	}
	if err := c.WaitBackground(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	received = 0
	cpu := cputime.Process()
	i := 4
	for b.Loop() {
		block(i)
		i++
	}
	cpu = cputime.Process() - cpu
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/block")
	// Bundles delivered after a chain's next block was prepared wait for the one after.
	b.ReportMetric(float64(received)/float64(b.N), "bundles/block")
}
