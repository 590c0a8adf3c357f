package rpc

import (
	"context"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// BenchmarkGRPCFastTransfer: one fast-round transfer per op from one chain to another,
// by a client talking to 4 validators over loopback gRPC (each a proxy over one
// in-process worker on memkv). The client waits for a quorum plus its grace period
// (MinGrace) for each round trip; grace=1ns shows the cost without that wait. B's
// owner receives the transfers every 100 ops, outside the timer, so that B's inbox
// stays small (a chain's inbox is re-encoded whole when it changes).
func BenchmarkGRPCFastTransfer(b *testing.B) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
	}{{"grace=default", 0}, {"grace=1ns", time.Nanosecond}} {
		b.Run(tc.name, func(b *testing.B) {
			keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
			n := newTestNet(b, keys, 1)
			a := n.client(tc.grace).Chain(n.chains[0], keys[0], nil)
			recv := n.client(tc.grace).Chain(n.chains[1], keys[1], nil)
			ctx := context.Background()
			to := base.Account{Chain: n.chains[1]}
			i := 0
			for b.Loop() {
				if _, err := a.Transfer(ctx, base.ChainOwner, to, base.AmountFromAttos(1)); err != nil {
					b.Fatal(err)
				}
				if i++; i%100 == 0 {
					b.StopTimer()
					if _, err := recv.ProcessInbox(ctx); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
		})
	}
}
