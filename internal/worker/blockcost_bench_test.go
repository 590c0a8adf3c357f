//go:build unix

package worker_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/kv/pebblekv"
	"github.com/micachain/mica/internal/worker"
)

// BenchmarkValidatorBlock measures one validator's share of a block, as `mica
// benchmark` makes it do: 16 chains in a ring, each block receives what the previous
// chain sent and makes K transfers to the next chain. Per block the validator answers
// the client's chain-info query (with the inbox), votes on the fast proposal, executes
// and stores the confirmed certificate and delivers the bundles, on a Pebble store with
// synced writes in a temporary directory. cpu-µs/block is the process's CPU time
// (user+system, every thread, Pebble's included) spent in those calls; the client's
// work (staging, signing, certifying) is left out.
func BenchmarkValidatorBlock(b *testing.B) {
	for _, k := range []int{1, 100} {
		b.Run(fmt.Sprintf("transfers=%d", k), func(b *testing.B) { benchValidatorBlock(b, k) })
	}
}

func benchValidatorBlock(b *testing.B, transfers int) {
	db, err := pebblekv.Open(b.TempDir(), pebblekv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	r := newValidatorRing(b, 16, db, nil)
	var cpu time.Duration
	measure := func(f func() error) {
		c0 := processCPU()
		err := f()
		cpu += processCPU() - c0
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		r.block(b, transfers, measure)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/block")
}

// processCPU is the process's user plus system time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCheckDecodable: the decoding-budget check of a vote on a block of the 100
// transfers ring (100 bundles received, 100 transfers made), from the whole block
// (proposal size unknown) and from its outcome (the proposal came from the network).
func BenchmarkCheckDecodable(b *testing.B) {
	r := newValidatorRing(b, 4, memkv.New(), nil)
	for range 5 {
		r.block(b, 100, nil)
	}
	ctx := context.Background()
	i := r.next
	info, err := r.w.HandleChainInfoQuery(ctx, chainInfoQueryWithBundles(r.ids[i]))
	if err != nil {
		b.Fatal(err)
	}
	prop := r.proposal(b, i, info, 100)
	block, err := r.w.StageBlock(ctx, &prop.Content.Block, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		size int
	}{{"whole block", -1}, {"outcome", len(codec.Marshal(prop))}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if err := worker.CheckDecodable(block, tc.size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
