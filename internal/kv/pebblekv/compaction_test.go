package pebblekv

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/micachain/mica/internal/kv"
)

// TestCompactionKeepsLargeValuesInPlace checks that compacting tables does not rewrite
// the large values they reference when those are spread over many blob files: the
// layout of certificates, stored under their hash, so that every flush writes a blob
// file spanning the whole key space. With Pebble's reference depth of 10, a compaction
// of tables referencing more blob files rewrote every value they referenced, work
// proportional to all the certificates stored (issue #11: the CPU per block grew with
// the store). Here 40 flushes each add a blob file across the key space, then a
// compaction of everything must leave the blob files as they are.
func TestCompactionKeepsLargeValuesInPlace(t *testing.T) {
	s, err := Open("db", Options{FS: vfs.NewMem(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	ctx := context.Background()
	value := make([]byte, separateValuesFrom+1024)
	const flushes, perFlush = 40, 8
	for f := range flushes {
		var b kv.Batch
		for i := range perFlush {
			h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(f*perFlush+i)))
			binary.BigEndian.PutUint64(value, uint64(f*perFlush+i))
			b.Put(append([]byte{'K'}, h[:]...), value)
		}
		if err := s.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	before := blobBytesCompacted(s.db.Metrics())
	if err := s.db.Compact(ctx, []byte{0}, []byte{0xff}, false); err != nil {
		t.Fatal(err)
	}
	if rewritten := blobBytesCompacted(s.db.Metrics()) - before; rewritten != 0 {
		t.Errorf("compacting the tables rewrote %d bytes of large values (%d stored)", rewritten, flushes*perFlush*len(value))
	}
	for i := range flushes * perFlush {
		h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
		v, ok, err := s.Get(ctx, append([]byte{'K'}, h[:]...))
		if err != nil || !ok || len(v) != len(value) || binary.BigEndian.Uint64(v) != uint64(i) {
			t.Fatalf("value %d after compaction: %d bytes, found %v, err %v", i, len(v), ok, err)
		}
	}
}

func blobBytesCompacted(m *pebble.Metrics) uint64 {
	var n uint64
	for _, l := range m.Levels {
		n += l.BlobBytesCompacted
	}
	return n
}
