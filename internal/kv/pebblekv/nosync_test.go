package pebblekv

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/micachain/mica/internal/kv"
)

// TestNoSync: with Options.NoSync, writes do not sync the write-ahead log, and what was
// written reads back after a reopen (a process restart loses nothing).
func TestNoSync(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs := &syncCountingFS{FS: vfs.Default}
	s, err := Open(dir, Options{FS: fs, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	before := fs.syncs.Load()
	for i := range 100 {
		var b kv.Batch
		b.Put(fmt.Appendf(nil, "k%03d", i), []byte("v"))
		if err := s.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	if n := fs.syncs.Load() - before; n != 0 {
		t.Errorf("100 writes without sync made %d WAL syncs", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, ok, err := s.Get(ctx, []byte("k099"))
	if err != nil || !ok || string(v) != "v" {
		t.Fatalf("after reopen: %q, %v, %v", v, ok, err)
	}
}
