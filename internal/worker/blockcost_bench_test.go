//go:build unix

package worker_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/micachain/mica/internal/kv/pebblekv"
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
