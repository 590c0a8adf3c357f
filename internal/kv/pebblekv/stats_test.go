package pebblekv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/micachain/mica/internal/kv"
)

// TestStatsCountWritesAndSyncs checks the write counters against the WAL syncs counted
// through the file system: every sequential synced write costs one fsync, lazy writes
// none until a synced one carries them.
func TestStatsCountWritesAndSyncs(t *testing.T) {
	s, fs := openCounting(t)
	ctx := context.Background()
	before, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	fsBefore := fs.syncs.Load()
	write := func(lazy bool, i, keys int) {
		t.Helper()
		var b kv.Batch
		for j := range keys {
			b.Put(fmt.Appendf(nil, "k%03d/%02d", i, j), []byte("v"))
		}
		if lazy {
			err = s.WriteLazy(ctx, &b)
		} else {
			err = s.Write(ctx, &b)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		write(true, i, 2)
	}
	mid, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got := mid.WALSyncs - before.WALSyncs; got != 0 {
		t.Errorf("lazy writes synced the WAL %d times", got)
	}
	for i := range 3 {
		write(false, 10+i, 3)
	}
	if err := s.Write(ctx, new(kv.Batch)); err != nil { // empty: not a commit
		t.Fatal(err)
	}
	after := statsAfterSyncs(t, s, before.WALSyncs+uint64(fs.syncs.Load()-fsBefore))
	if got := after.Commits - before.Commits; got != 3 {
		t.Errorf("commits: %d, want 3", got)
	}
	if got := after.LazyCommits - before.LazyCommits; got != 5 {
		t.Errorf("lazy commits: %d, want 5", got)
	}
	if got := after.Keys - before.Keys; got != 5*2+3*3 {
		t.Errorf("keys: %d, want %d", got, 5*2+3*3)
	}
	syncs, fsSyncs := after.WALSyncs-before.WALSyncs, uint64(fs.syncs.Load()-fsBefore)
	if syncs != 3 || fsSyncs != 3 {
		t.Errorf("WAL syncs: %d by the stats, %d by the file system; want 3 (one per sequential synced write)", syncs, fsSyncs)
	}
	if after.WALBytes <= before.WALBytes {
		t.Errorf("WAL bytes did not grow: %d → %d", before.WALBytes, after.WALBytes)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stats(); err != kv.ErrClosed {
		t.Errorf("Stats after Close: %v, want kv.ErrClosed", err)
	}
}

// statsAfterSyncs returns the store's stats once they count want WAL syncs. Pebble's
// flusher wakes the committers it synced for before it records the sync in its latency
// histogram, so the count may lag a returned Write by a moment; it never runs ahead. The
// wait is bounded so that a count that never arrives fails the test instead of hanging.
func statsAfterSyncs(t *testing.T, s *Store, want uint64) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.WALSyncs >= want || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStatsCountFlushesAndCompactions: a flush and a manual compaction show in the LSM
// figures (what mica_storage_* and mica benchmark's client_store report).
func TestStatsCountFlushesAndCompactions(t *testing.T) {
	s, _ := openCounting(t)
	ctx := context.Background()
	before, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		var b kv.Batch
		for j := range 200 {
			b.Put(fmt.Appendf(nil, "k%04d", j), fmt.Appendf(nil, "value %d of round %d", j, round))
		}
		if err := s.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
		if err := s.db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	flushed, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if flushed.Flushes-before.Flushes != 2 || flushed.FlushedBytes <= before.FlushedBytes {
		t.Errorf("after two flushes: %d flushes, %d → %d bytes flushed", flushed.Flushes-before.Flushes, before.FlushedBytes, flushed.FlushedBytes)
	}
	if flushed.L0Files != 2 || flushed.Tables != 2 || flushed.ReadAmp < 2 {
		t.Errorf("after two flushes: %d L0 files, %d tables, read amplification %d", flushed.L0Files, flushed.Tables, flushed.ReadAmp)
	}
	if err := s.db.Compact(ctx, []byte("k"), []byte("l"), true); err != nil {
		t.Fatal(err)
	}
	compacted, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if compacted.Compactions <= flushed.Compactions || compacted.CompactedBytes <= flushed.CompactedBytes || compacted.L0Files != 0 {
		t.Errorf("after a compaction: %d → %d compactions, %d → %d bytes, %d L0 files", flushed.Compactions, compacted.Compactions, flushed.CompactedBytes, compacted.CompactedBytes, compacted.L0Files)
	}
}
