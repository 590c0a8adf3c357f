package client_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// byzantineSyncNode is a validator that serves a chain's history wrongly, by mode.
type byzantineSyncNode struct {
	*deliveringNode
	mode  string
	other base.ChainID // a chain to take certificates of, for "otherchain"
	asked atomic.Int32 // Certificates calls
}

func (b *byzantineSyncNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	info, err := b.deliveringNode.HandleChainInfoQuery(ctx, q)
	if err != nil || (b.mode != "stall" && b.mode != "claim") {
		return info, err
	}
	// Claim many more blocks than there are, so that it is asked first and for more.
	out := *info
	out.NextBlockHeight += 1000
	return &out, nil
}

// clone returns a deep copy of a certificate (through its encoding).
func clone(c *protocol.Certificate) *protocol.Certificate {
	var out protocol.Certificate
	if err := codec.Unmarshal(codec.Marshal(c), &out); err != nil {
		panic(err) // a certificate a validator stored always decodes
	}
	return &out
}

func (b *byzantineSyncNode) Certificates(ctx context.Context, id base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	b.asked.Add(1)
	switch b.mode {
	case "stall":
		return nil, stall(ctx)
	case "claim":
		return nil, nil
	}
	certs, err := b.deliveringNode.Certificates(ctx, id, from, to)
	if err != nil || len(certs) == 0 {
		return certs, err
	}
	switch b.mode {
	case "short":
		// Honest, one certificate per answer.
		return certs[:1], nil
	case "badsig":
		// The last certificate's first signature is another validator's, of another
		// value.
		c := clone(certs[len(certs)-1])
		c.Signatures[0].Signature = certs[0].Signatures[1].Signature
		certs[len(certs)-1] = c
	case "forged":
		// A block with another outcome, under the honest signatures.
		c := clone(certs[len(certs)/2])
		c.Block.Proposed.Timestamp++
		certs[len(certs)/2] = c
	case "extra":
		// More than asked: the same certificates twice.
		certs = append(certs, certs...)
	case "shifted":
		// The next heights instead of the ones asked for.
		more, err := b.deliveringNode.Certificates(ctx, id, from+1, to+1)
		if err != nil {
			return nil, err
		}
		certs = more
	case "otherchain":
		other, err := b.deliveringNode.Certificates(ctx, b.other, 0, 1)
		if err == nil && len(other) == 1 {
			certs[0] = other[0]
		}
	}
	return certs, nil
}

// TestAttackByzantineSync: a validator that answers a new wallet's sync with wrong
// certificates (bad signatures, a forged block, more or other heights than asked,
// another chain's), stalls, claims blocks it does not have, or sends short answers,
// does not stop the sync nor get anything executed that the honest validators did not
// certify: the client reaches the chain's tip with the honest blocks.
func TestAttackByzantineSync(t *testing.T) {
	const blocks = 300
	n := buildSyncNet(t, blocks)
	want, err := n.workers[1].Storage().BlockHash(context.Background(), n.chains[0], blocks-1)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"badsig", "forged", "extra", "shifted", "otherchain", "stall", "claim", "short"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), attackSyncTimeout)
			defer cancel()
			vs := append([]client.Validator(nil), n.validators...)
			byz := &byzantineSyncNode{deliveringNode: n.node(0), mode: mode}
			byz.other = n.chains[1]
			vs[0] = client.Validator{PublicKey: vs[0].PublicKey, Node: byz}
			local := worker.New(worker.Config{Storage: newStore(t, n.genesis), Clock: n.clock})
			c := client.New(client.Config{Local: local, Committee: n.committee, Validators: vs, Clock: n.clock, RequestTimeout: attackRequestTimeout})
			next, err := c.SyncChain(ctx, n.chains[0])
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			if next != blocks {
				t.Fatalf("synced to %d, want %d", next, blocks)
			}
			for h := base.BlockHeight(0); h < blocks; h++ {
				got, err := local.Storage().BlockHash(ctx, n.chains[0], h)
				honest, _ := n.workers[1].Storage().BlockHash(ctx, n.chains[0], h)
				if err != nil || got != honest {
					t.Fatalf("height %d: local block %s (%v), honest %s", h, got, err, honest)
				}
			}
			if got, _ := local.Storage().BlockHash(ctx, n.chains[0], blocks-1); got != want {
				t.Fatalf("tip %s, want %s", got, want)
			}
			if byz.asked.Load() == 0 {
				t.Fatal("the Byzantine validator was never asked for certificates: the test did not exercise the attack")
			}
		})
	}
}
