package rpc

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestDownloadReceiveLimit: a download whose context carries a receive limit
// (client.WithReceiveLimit, as the client's sync sets it) fails, over gRPC, when the
// answer is larger, and succeeds when it fits; a limit above the connection's leaves
// the connection's.
func TestDownloadReceiveLimit(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 1)
	ctx := context.Background()
	a := n.client(0).Chain(n.chains[0], keys[0], nil)
	for range 2 {
		if _, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1)); err != nil {
			t.Fatal(err)
		}
	}
	n.waitHeight(n.chains[0], 2, []int{0})
	node := n.vals[0].node
	certs, err := node.Certificates(ctx, n.chains[0], 0, 2)
	if err != nil || len(certs) != 2 {
		t.Fatalf("download: %d certificates (%v), want 2", len(certs), err)
	}
	size := len(codec.Marshal(certs[0])) + len(codec.Marshal(certs[1]))
	_, err = node.Certificates(client.WithReceiveLimit(ctx, size-1), n.chains[0], 0, 2)
	if err == nil || errors.Is(err, ErrBusy) {
		t.Fatalf("an answer of %d bytes with a receive limit of %d: %v, want refused (not retried)", size, size-1, err)
	}
	for _, limit := range []int{size + 16, MaxMessageSize + 1} {
		if got, err := node.Certificates(client.WithReceiveLimit(ctx, limit), n.chains[0], 0, 2); err != nil || len(got) != 2 {
			t.Fatalf("receive limit %d: %d certificates (%v), want 2", limit, len(got), err)
		}
	}
}
