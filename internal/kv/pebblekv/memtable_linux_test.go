package pebblekv

import (
	"bytes"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/micachain/mica/internal/cputime"
	"github.com/micachain/mica/internal/kv"
)

// threadCPU returns the CPU time of the calling thread (Linux's RUSAGE_THREAD).
func threadCPU(tb testing.TB) time.Duration {
	const rusageThread = 1
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMemtableInsert measures what a validator's block costs Pebble's memtable
// (issue #11: 15 % of validator-0's CPU at 16 chains × 1 transfer, ~6 µs per key), with
// the batches of BenchmarkBlockWrites committed one after the other by one goroutine
// (no fsync: an in-memory file system, NoSync), and tests the hypotheses of why it
// costs so much:
//
//   - cold: before each block the benchmark writes 24 MiB of other memory, as the four
//     other processes of `mica net up` and the kernel do between two blocks of a
//     validator on 2 cores; warm skips it (every node of the skiplist in cache);
//   - sorted: each batch's ops sorted by key before they are applied (Pebble's
//     Inserter reuses the previous insert's splice when the next key is near);
//   - memtable: Pebble's MemTableSize (default 4 MiB): fewer, older versions of each
//     key in a smaller skiplist, against more flushes and compactions;
//   - id: the chain id in every key shortened from 32 to 8 bytes (the storage layout's
//     33-byte shared prefix compared at every node).
//
// commit-ns/key is the CPU time of the committing thread (the memtable insert, the
// batch's encoding, the WAL copy), per key; cpu-µs/block is the whole process's CPU
// (with flushes and compactions, and without the cache eviction).
func BenchmarkMemtableInsert(b *testing.B) {
	type variant struct {
		name     string
		cold     bool
		sorted   bool
		memtable uint64
		idLen    int
	}
	const mib = 1 << 20
	variants := []variant{
		{"cold", true, false, 4 * mib, 32},
		{"cold/sorted", true, true, 4 * mib, 32},
		{"cold/memtable=1MiB", true, false, 1 * mib, 32},
		{"cold/memtable=16MiB", true, false, 16 * mib, 32},
		{"cold/id=8", true, false, 4 * mib, 8},
		{"warm", false, false, 4 * mib, 32},
	}
	for _, transfers := range []int{1, 100} {
		for _, v := range variants {
			b.Run(fmt.Sprintf("transfers=%d/%s", transfers, v.name), func(b *testing.B) {
				db, err := pebble.Open("", &pebble.Options{
					FS: vfs.NewMem(), MemTableSize: v.memtable, FormatMajorVersion: pebble.FormatNewest,
					Logger: slogAdapter{slog.New(slog.DiscardHandler)},
				})
				if err != nil {
					b.Fatal(err)
				}
				defer func() {
					if err := db.Close(); err != nil {
						b.Error(err)
					}
				}()
				const chains = 16
				w := newBlockWrites(chains, transfers, v.idLen)
				batches := make([]kv.Batch, 4)
				var keys, written int
				block := func(n int) {
					for i := range batches {
						batches[i].Reset()
					}
					w.block(n%chains, transfers, &batches[0], &batches[1], &batches[2], &batches[3])
					for i := range batches {
						ops := batches[i].Ops()
						if v.sorted {
							ops = slices.Clone(ops)
							slices.SortStableFunc(ops, func(a, b kv.Op) int { return bytes.Compare(a.Key, b.Key) })
						}
						pb := db.NewBatch()
						for _, op := range ops {
							if op.Kind == kv.OpDelete {
								err = pb.Delete(op.Key, nil)
							} else {
								err = pb.Set(op.Key, op.Value, nil)
							}
							if err != nil {
								b.Fatal(err)
							}
						}
						keys += len(ops)
						written += batches[i].Size()
						if err := pb.Commit(pebble.NoSync); err != nil {
							b.Fatal(err)
						}
						if err := pb.Close(); err != nil {
							b.Fatal(err)
						}
					}
				}
				// Fill a few memtables first: the skiplist holds many versions of each
				// chain's keys, as a running validator's does.
				for n := 0; written < 2*int(v.memtable); n++ {
					block(n)
				}
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				other := make([]byte, 24<<20)
				keys = 0
				var commit, evict time.Duration
				b.ResetTimer()
				cpu0 := cputime.Process()
				for n := range b.N {
					if v.cold {
						t := threadCPU(b)
						for i := 0; i < len(other); i += 64 {
							other[i]++
						}
						evict += threadCPU(b) - t
					}
					t := threadCPU(b)
					block(n)
					commit += threadCPU(b) - t
				}
				cpu := cputime.Process() - cpu0 - evict
				b.StopTimer()
				b.ReportMetric(float64(commit.Nanoseconds())/float64(keys), "commit-ns/key")
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/block")
			})
		}
	}
}
