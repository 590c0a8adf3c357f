package rpc

import (
	"context"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/cputime"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
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
