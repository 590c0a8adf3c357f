package pebblekv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/micachain/mica/internal/kv"
)

// TestCrashDurability simulates a power loss: after concurrent acknowledged writes, the
// file system is cloned as a crash would leave it (only synced data, or synced data plus a
// random part of the unsynced data), and a store opened on the clone must hold every
// acknowledged batch, each one whole.
func TestCrashDurability(t *testing.T) {
	for _, unsynced := range []int{0, 50} {
		t.Run(fmt.Sprintf("unsynced=%d%%", unsynced), func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			s, err := Open("db", Options{FS: mem})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			const writers, batches = 4, 25
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range batches {
						var b kv.Batch
						for j := range 5 {
							b.Put(fmt.Appendf(nil, "w%d/%03d/%d", w, i, j), []byte("v"))
						}
						if err := s.Write(ctx, &b); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			// The crash happens while the store is still open.
			clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rand.New(rand.NewPCG(1, 2))})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s2, err := Open("db", Options{FS: clone})
			if err != nil {
				t.Fatalf("open after crash: %v", err)
			}
			defer s2.Close()
			n := 0
			if err := s2.Scan(ctx, nil, func(k, v []byte) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			if n != writers*batches*5 {
				t.Fatalf("after crash: %d keys, want %d", n, writers*batches*5)
			}
		})
	}
}
