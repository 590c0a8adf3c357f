package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// bytesSlowNode is a validator that takes perMiB of work for each MiB of blob content a
// proposal carries before it handles the proposal (a loaded machine receiving, hashing
// and storing a large data blob), or gives up when the caller's deadline passes.
type bytesSlowNode struct {
	*deliveringNode
	perMiB time.Duration
}

func (s *bytesSlowNode) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	n := 0
	for i := range p.Blobs {
		n += len(p.Blobs[i].Content)
	}
	work := time.NewTimer(time.Duration(float64(s.perMiB) * float64(n) / (1 << 20)))
	defer work.Stop()
	select {
	case <-work.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.deliveringNode.HandleBlockProposal(ctx, p)
}

// TestLargeBlobNotCutOff: every validator needs longer than the request timeout to
// handle a proposal carrying a 2 MiB data blob, though far less than the client's floor
// bandwidth allows (here 64 KiB/s: 32 s for the blob, against 2 s of work, room for a
// loaded machine under the race detector). The calls get the blob's transfer time on
// top of the request timeout, so the blob is published in the first attempt; without it
// every proposal call was cut off at the request timeout and the publication failed for
// want of a quorum.
func TestLargeBlobNotCutOff(t *testing.T) {
	ctx := context.Background()
	key := prototest.Key("publisher")
	n := newNet(t, []*crypto.PrivateKey{key}, base.Tokens(10))
	var vs []client.Validator
	for i, v := range n.validators {
		vs = append(vs, client.Validator{PublicKey: v.PublicKey, Node: &bytesSlowNode{deliveringNode: n.node(i), perMiB: time.Second}})
	}
	local := worker.New(worker.Config{Storage: newStore(t, n.genesis), Clock: n.clock})
	const timeout = 500 * time.Millisecond // < the 2 s a 2 MiB proposal takes
	c := client.New(client.Config{Local: local, Committee: n.committee, Validators: vs, Clock: n.clock, RequestTimeout: timeout, MinBandwidth: 64 << 10})
	content := make([]byte, 2<<20)
	for i := range content {
		content[i] = byte(i * 7)
	}
	hash, cert, err := c.Chain(n.chains[0], key, nil).PublishDataBlob(ctx, content)
	if err != nil {
		t.Fatalf("publish a 2 MiB blob through slow validators: %v", err)
	}
	if cert.Height() != 0 {
		t.Errorf("published at height %d, want 0", cert.Height())
	}
	// The certificate proves a quorum voted, and each voter stored the blob first; the
	// others may still be working on their proposal call when the publication returns.
	holders := 0
	for _, w := range n.workers {
		if _, err := w.ReadBlob(ctx, base.BlobID{Type: base.BlobData, Hash: hash}); err == nil {
			holders++
		}
	}
	if want := int(n.committee.QuorumThreshold()); holders < want {
		t.Errorf("%d validators hold the blob, want at least a quorum of %d", holders, want)
	}
}
