package client_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// overLimitNode answers blob reads only without a receive limit: as if every blob were
// larger than the largest the client's committee allows (one published in a later epoch
// under a larger MaxBlobSize), the transport refusing it.
type overLimitNode struct {
	*deliveringNode
	limited, unlimited *int
}

func (n *overLimitNode) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	if limit := client.ReceiveLimit(ctx); limit > 0 {
		*n.limited++
		return protocol.Blob{}, fmt.Errorf("received message larger than max (%d vs. %d)", limit+1, limit)
	}
	*n.unlimited++
	return n.deliveringNode.ReadBlob(ctx, id)
}

// TestBlobOverThePolicyLimitStillRead: a blob every validator serves above the receive
// limit the client's committee gives (a later epoch's policy may allow larger blobs) is
// read without the limit once no validator answered within it, so a bound meant for
// one Byzantine validator never makes an honest network's blob unreadable.
func TestBlobOverThePolicyLimitStillRead(t *testing.T) {
	ctx := context.Background()
	alice := prototest.Key("alice")
	n := newNet(t, []*crypto.PrivateKey{alice}, base.Tokens(100))
	child, _, err := n.client().Chain(n.chains[0], alice, nil).OpenChain(ctx, protocol.SingleSuperOwner(alice.Public().Owner()), base.Tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	var limited, unlimited int
	for i, v := range n.validators {
		n.validators[i].Node = &overLimitNode{deliveringNode: v.Node.(*deliveringNode), limited: &limited, unlimited: &unlimited}
	}
	// A fresh client syncs a chain it has no description of: it reads it as a blob.
	if next, err := n.client().SyncChain(ctx, child); err != nil || next != 0 {
		t.Fatalf("sync of a chain whose description is over the limit: %d (%v), want 0", next, err)
	}
	if limited == 0 || unlimited == 0 {
		t.Fatalf("blob reads: %d with the limit, %d without; want both", limited, unlimited)
	}
}
