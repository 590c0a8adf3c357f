package pebblekv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/micachain/mica/internal/kv"
)

// TestWriteLazyCrash checks the ordering kv.LazyWriter promises: lazy and durable batches
// interleaved, a crash that keeps only synced data (or synced data plus a random part of
// the rest), and the store reopened on the clone holds a prefix of the batches in commit
// order that includes every batch up to the last durable one.
func TestWriteLazyCrash(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			mem := vfs.NewCrashableMem()
			s, err := Open("db", Options{FS: mem})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			const batches = 200
			lastDurable := -1
			for i := range batches {
				var b kv.Batch
				for j := range 3 {
					b.Put(fmt.Appendf(nil, "b%03d/%d", i, j), []byte("v"))
				}
				if rng.IntN(4) == 0 {
					err = s.Write(ctx, &b)
					lastDurable = i
				} else {
					err = s.WriteLazy(ctx, &b)
				}
				if err != nil {
					t.Fatal(err)
				}
				if v, ok, err := s.Get(ctx, fmt.Appendf(nil, "b%03d/2", i)); err != nil || !ok || string(v) != "v" {
					t.Fatalf("batch %d not visible after its write: %q %v %v", i, v, ok, err)
				}
			}
			unsynced := []int{0, 50, 100}[seed%3]
			clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rng})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := Open("db", Options{FS: clone})
			if err != nil {
				t.Fatalf("open after crash: %v", err)
			}
			defer s2.Close()
			keys := map[string]bool{}
			if err := s2.Scan(ctx, nil, func(k, _ []byte) error { keys[string(k)] = true; return nil }); err != nil {
				t.Fatal(err)
			}
			kept := 0
			for i := range batches {
				n := 0
				for j := range 3 {
					if keys[fmt.Sprintf("b%03d/%d", i, j)] {
						n++
					}
				}
				switch {
				case n == 3 && kept == i:
					kept++
				case n == 0:
				default:
					t.Fatalf("after the crash batch %d has %d of 3 keys (first %d batches whole)", i, n, kept)
				}
			}
			if len(keys) != kept*3 {
				t.Fatalf("after the crash %d keys, but only the first %d batches are whole: not a prefix", len(keys), kept)
			}
			if kept <= lastDurable {
				t.Fatalf("after the crash %d batches kept, but batch %d was written durably", kept, lastDurable)
			}
			t.Logf("unsynced data kept %d%%: %d of %d batches survive, the last durable was %d", unsynced, kept, batches, lastDurable)
		})
	}
}

// TestWriteLazyNoSync: lazy writes do not sync the write-ahead log.
func TestWriteLazyNoSync(t *testing.T) {
	ctx := context.Background()
	fs := &syncCountingFS{FS: vfs.NewMem()}
	s, err := Open("db", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := fs.syncs.Load()
	for i := range 50 {
		var b kv.Batch
		b.Put(fmt.Appendf(nil, "k%03d", i), []byte("v"))
		if err := s.WriteLazy(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	if n := fs.syncs.Load() - before; n != 0 {
		t.Errorf("50 lazy writes made %d WAL syncs", n)
	}
	var b kv.Batch
	b.Put([]byte("durable"), []byte("v"))
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if n := fs.syncs.Load() - before; n == 0 {
		t.Errorf("a durable write after lazy ones made no WAL sync")
	}
}
