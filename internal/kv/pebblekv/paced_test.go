package pebblekv

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/micachain/mica/internal/cputime"
	"github.com/micachain/mica/internal/kv"
)

// BenchmarkPacedVotes commits a validator's synced votes as they arrive on a network
// below saturation: every gap, a group of votes of different chains at once (a batch
// of proposals), each a synced Write of the consensus register, then the block's lazy
// writes. Unlike BenchmarkBlockWrites (back to back), the store idles between groups,
// so what an fsync costs alone shows, and so does a wake-up of the WAL writer by
// Pebble's minimum-sync-interval timer (docs/PERFORMANCE.md, "perf17"). It reports the
// process's CPU per vote, WAL fsyncs per vote and synced batches per fsync.
func BenchmarkPacedVotes(b *testing.B) {
	for _, c := range []struct {
		group  int
		gap    time.Duration
		noSync bool
	}{{1, 2 * time.Millisecond, true}, {1, 2 * time.Millisecond, false}, {2, 4 * time.Millisecond, false}, {4, 8 * time.Millisecond, false}} {
		name := fmt.Sprintf("group=%d/gap=%v", c.group, c.gap)
		if c.noSync {
			name += "/no-sync" // the same writes without any fsync: what the fsyncs cost is the difference
		}
		b.Run(name, func(b *testing.B) {
			s, fs := openCountingWith(b, Options{NoSync: c.noSync})
			w := newBlockWrites(16, 1, 32)
			ctx := context.Background()
			groups := (b.N + c.group - 1) / c.group
			runGroups := func(n int) {
				start := time.Now()
				for g := range n {
					time.Sleep(time.Until(start.Add(time.Duration(g) * c.gap)))
					var wg sync.WaitGroup
					for j := range c.group {
						chain := (g*c.group + j) % len(w.ids)
						wg.Go(func() {
							var vote, cert, receipt, confirm kv.Batch
							w.block(chain, 1, &vote, &cert, &receipt, &confirm)
							if err := s.Write(ctx, &vote); err != nil {
								b.Error(err)
							}
							for _, lazy := range []*kv.Batch{&cert, &receipt, &confirm} {
								if err := s.WriteLazy(ctx, lazy); err != nil {
									b.Error(err)
								}
							}
						})
					}
					wg.Wait()
				}
			}
			// A group may not share chains: the blocks of one chain are sequential.
			if c.group > len(w.ids) {
				b.Fatal("group larger than the chains")
			}
			runGroups(16) // every key exists
			before, err := s.Stats()
			if err != nil {
				b.Fatal(err)
			}
			syncs0 := fs.syncs.Load()
			b.ResetTimer()
			cpu0 := cputime.Process()
			runGroups(groups)
			cpu := cputime.Process() - cpu0
			b.StopTimer()
			after, err := s.Stats()
			if err != nil {
				b.Fatal(err)
			}
			votes := float64(groups * c.group)
			syncs := float64(fs.syncs.Load() - syncs0)
			b.ReportMetric(float64(cpu.Microseconds())/votes, "cpu-µs/vote")
			b.ReportMetric(syncs/votes, "fsyncs/vote")
			if syncs > 0 {
				b.ReportMetric(float64(after.Commits-before.Commits)/syncs, "batches/fsync")
			}
		})
	}
}
