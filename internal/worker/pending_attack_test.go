package worker_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
)

// transportLimit is the largest message a validator sends or a client receives
// (rpc.MaxMessageSize): a chain-info answer over it never reaches the client.
const transportLimit = 64 << 20

// TestAttackPendingBundlesOverTheTransport: strangers' chains send a victim chain
// bundles of about 1 MiB each (a block of 10,000 one-atto transfers to it is one such
// bundle; an application message can be larger), 70 of them, far under the 10,000
// bundles one answer may list. The chain-info answer with the pending bundles, which
// the victim's client needs for its next block, was their sum, 70 MiB: over the
// transport's limit, so the validator could not send it and the victim's chain could
// make no block (and every such query by anyone made the validator build 70 MiB). The
// answer stays well under the limit, lists a prefix of each origin's queue, and the
// client gets the rest in later answers.
func TestAttackPendingBundlesOverTheTransport(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 70 MiB of bundles")
	}
	for _, bytes := range []bool{true, false} {
		name := map[bool]string{true: "bytes", false: "decoded"}[bytes]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			const origins, perOrigin, size = 7, 10, 1 << 20
			r := newValidatorRingConfig(t, origins+1, memkv.New(), nil, bytes)
			victim := r.ids[0]
			for o := range origins {
				sender := r.ids[o+1]
				for h := range perOrigin {
					b := protocol.MessageBundle{Height: base.BlockHeight(h), Timestamp: 1, CertificateHash: base.Hash{byte(o), byte(h)},
						Messages: []protocol.PostedMessage{{Kind: protocol.Simple, Message: protocol.Message{App: base.ApplicationID{1}, Bytes: make([]byte, size)}}}}
					req := &protocol.CrossChainRequest{Sender: sender, Recipient: victim, Bundles: []protocol.EpochBundle{{Bundle: b}}}
					if err := r.w.HandleCrossChainRequest(ctx, req); err != nil {
						t.Fatal(err)
					}
				}
			}
			info, err := r.w.HandleChainInfoQuery(ctx, chainInfoQueryWithBundles(victim))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(codec.Marshal(info)); n > transportLimit/2 {
				t.Fatalf("chain-info answer with the pending bundles of %d bytes, over half the transport's limit of %d", n, transportLimit)
			}
			bundles, err := info.PendingBundles()
			if err != nil {
				t.Fatal(err)
			}
			if len(bundles) == 0 {
				t.Fatal("no pending bundle listed")
			}
			next := map[base.ChainID]base.BlockHeight{}
			for _, b := range bundles {
				if b.Bundle.Height != next[b.Origin] {
					t.Fatalf("bundle %d of %s listed after %d: not a prefix of its queue", b.Bundle.Height, b.Origin.Short(), next[b.Origin])
				}
				next[b.Origin]++
			}
			if len(next) != origins {
				t.Errorf("%d of %d origins listed", len(next), origins)
			}
		})
	}
}
